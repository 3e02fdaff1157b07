"""Building and signing transactions (used by the SDK, the CLI and the tests).

Signing is offline: a builder needs only the ledger hash and its hash
algorithm. Several endpoints may sign the same content; each signature covers
the transaction hash, which covers the content only, so signatures can be
collected in any order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ledger import codec
from ledger.crypto import KeyPair, algorithm_by_code, from_base58, hasher, sign
from ledger.types import (
    APPEND_ANY,
    AccountState,
    DeployContract,
    EndpointSignature,
    EventWrite,
    InvokeContract,
    KVSet,
    KVWrite,
    Operation,
    Propose,
    ProposedOperations,
    PublishEvents,
    RegisterDataAccount,
    RegisterEventAccount,
    RegisterUser,
    Transaction,
    TransactionContent,
    UpdateAccountState,
    Vote,
    WritePolicy,
    typed_value,
)


def hash_transaction_content(content: TransactionContent) -> bytes:
    """``code ‖ H(encode(content))`` with the hash algorithm named by the ledger hash."""
    code = int.from_bytes(content.ledger_hash[:2], "big")
    return code.to_bytes(2, "big") + hasher(algorithm_by_code(code))(codec.encode(content))


@dataclass
class TransactionBuilder:
    """Fluent builder: ``TransactionBuilder(ledger_hash).kv_set(...).sign(key)``."""

    ledger_hash: bytes
    operations: list[Operation] = field(default_factory=list)
    expiry: int = 0
    time_ms: int = 0
    """Client time (informational; the SDK sets it). The ledger itself reads no clock."""

    def add(self, operation: Operation) -> "TransactionBuilder":
        self.operations.append(operation)
        return self

    def register_user(self, public_key: bytes, name: str) -> "TransactionBuilder":
        return self.add(RegisterUser(public_key, name))

    def register_data_account(
        self, public_key: bytes, write_policy: WritePolicy = WritePolicy.OWNERS
    ) -> "TransactionBuilder":
        return self.add(RegisterDataAccount(public_key, write_policy))

    def register_event_account(self, public_key: bytes) -> "TransactionBuilder":
        return self.add(RegisterEventAccount(public_key))

    def kv_set(self, account: str, key: str, value: object, expected_version: int = -1) -> "TransactionBuilder":
        return self.add(KVSet(account, (KVWrite(key, typed_value(value), expected_version),)))

    def publish(self, account: str, topic: str, content: object, expected_sequence: int = APPEND_ANY) -> "TransactionBuilder":
        return self.add(PublishEvents(account, (EventWrite(topic, typed_value(content), expected_sequence),)))

    def deploy_contract(self, public_key: bytes, source: str, version: int = 1) -> "TransactionBuilder":
        return self.add(DeployContract(public_key, source, version))

    def invoke(self, address: str, method: str, *args: object, gas_limit: int = 1_000_000) -> "TransactionBuilder":
        return self.add(InvokeContract(address, method, codec.pack_canonical(list(args)), gas_limit))

    def set_account_state(self, address: str, state: AccountState | str) -> "TransactionBuilder":
        """Freeze (``"FROZEN"``), unfreeze (``"NORMAL"``) or revoke (``"REVOKED"``) an account or contract."""
        value = state if isinstance(state, AccountState) else AccountState[state.upper()]
        return self.add(UpdateAccountState(address, value))

    def propose(self, operations: "list[Operation] | TransactionBuilder", reason: str, expiry: int = 0) -> "TransactionBuilder":
        """Propose ``operations`` (a list, or another builder's operations) to the member organisations.

        The proposal's id is this transaction's hash; ``expiry`` is a block time in ms (0: the
        ledger's default time to live).
        """
        items = operations.operations if isinstance(operations, TransactionBuilder) else operations
        return self.add(Propose(codec.encode(ProposedOperations(tuple(items))), reason, expiry))

    def vote(self, proposal: bytes | str, approve: bool = True) -> "TransactionBuilder":
        """Vote for (or against) a proposal, named by its id: bytes, hex, or the proposing transaction's base58 hash."""
        if isinstance(proposal, str):
            try:
                proposal_id = bytes.fromhex(proposal)
            except ValueError:
                proposal_id = from_base58(proposal)
        else:
            proposal_id = proposal
        return self.add(Vote(proposal_id, approve))

    def content(self, nonce: bytes | None = None) -> TransactionContent:
        return TransactionContent(
            ledger_hash=self.ledger_hash,
            operations=tuple(self.operations),
            time=self.time_ms,
            nonce=nonce if nonce is not None else os.urandom(16),
            expiry=self.expiry,
        )

    def sign(self, *signers: KeyPair) -> Transaction:
        return sign_content(self.content(), *signers)


def sign_content(content: TransactionContent, *signers: KeyPair) -> Transaction:
    tx_hash = hash_transaction_content(content)
    return Transaction(
        content,
        tuple(EndpointSignature(pair.public.encoded, sign(pair.private, tx_hash)) for pair in signers),
    )


def add_signatures(tx: Transaction, *signers: KeyPair) -> Transaction:
    """Add endpoint signatures to an already (partly) signed transaction."""
    tx_hash = hash_transaction_content(tx.content)
    extra = tuple(EndpointSignature(pair.public.encoded, sign(pair.private, tx_hash)) for pair in signers)
    return Transaction(tx.content, tx.signatures + extra)
