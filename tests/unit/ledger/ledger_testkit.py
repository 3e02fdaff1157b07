"""Builders shared by the ledger tests: deterministic founders, a dev ledger, signed transactions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

from ledger.crypto import ED25519, SM2, KeyPair, PrivateKey, address_from_public_key, keypair_from_private
from ledger.genesis import assemble_genesis, parse_genesis_config, sign_genesis
from ledger.ledger import BlockResult, Ledger
from ledger.store.memory import MemoryStore
from ledger.store.base import KeyValueStore
from ledger.transactions import TransactionBuilder
from ledger.types import Block, Transaction

GENESIS_TIME = 1_700_000_000_000


def seeded_keypair(seed: str, algorithm=ED25519) -> KeyPair:
    """A key pair that is the same on every run (tests must be reproducible)."""
    secret = hashlib.sha256(seed.encode()).digest()
    if algorithm is SM2:
        # SM2 private keys must be below the curve order; SHA-256 output is, with overwhelming odds.
        secret = (int.from_bytes(secret, "big") % (2**255)).to_bytes(32, "big")
    return keypair_from_private(PrivateKey(algorithm, secret))


def genesis_toml(founders: Sequence[KeyPair], *, hash_algorithm: str = "SHA256", extra: str = "") -> str:
    parts = "\n".join(
        f'[[participants]]\nname = "org{i}"\npublic_key = "{pair.public.base58}"\n'
        for i, pair in enumerate(founders)
    )
    if "contract_engine" not in extra:  # a new ledger runs contracts in the WebAssembly engine
        from contracts.vm import engine_identity

        extra = f"contract_engine = {json.dumps(engine_identity())}\n{extra}"
    return (
        f'[ledger]\nname = "test"\nhash_algorithm = "{hash_algorithm}"\n'
        f'signature_algorithms = ["SM2", "ED25519", "ECDSA"]\ncreated_time = {GENESIS_TIME}\n{extra}\n{parts}'
    )


def make_genesis(founders: Sequence[KeyPair], **kwargs: str) -> Block:
    config = parse_genesis_config(genesis_toml(founders, **kwargs))
    return assemble_genesis(config, [sign_genesis(config, p.private, p.public) for p in founders])


@dataclass
class Chain:
    """A dev ledger plus its founders and a clock, for writing tests that read like stories."""

    ledger: Ledger
    founders: list[KeyPair]
    time: int = GENESIS_TIME
    nonce_counter: int = 0
    results: list[BlockResult] = field(default_factory=list)

    @property
    def admin(self) -> KeyPair:
        return self.founders[0]

    def builder(self) -> TransactionBuilder:
        return TransactionBuilder(self.ledger.ledger_hash, time_ms=self.time)

    def tx(self, build, *signers: KeyPair) -> Transaction:
        """Build with ``build(builder)`` and sign (default: the admin); deterministic nonce."""
        builder = self.builder()
        build(builder)
        self.nonce_counter += 1
        content = builder.content(nonce=self.nonce_counter.to_bytes(16, "big"))
        from ledger.transactions import sign_content

        return sign_content(content, *(signers or (self.admin,)))

    def commit(self, *transactions: Transaction) -> BlockResult:
        self.time += 1000
        result = self.ledger.apply_block(self.ledger.make_block(list(transactions), time=self.time))
        self.results.append(result)
        return result

    def statuses(self, *transactions: Transaction) -> list[str]:
        return [info.status for info in self.commit(*transactions).tx_infos]

    def new_data_account(self, seed: str, owner: KeyPair | None = None) -> str:
        pair = seeded_keypair(seed)
        result = self.commit(self.tx(lambda b: b.register_data_account(pair.public.encoded), owner or self.admin))
        assert [i.status for i in result.tx_infos] == ["SUCCESS"], result.tx_infos
        return address_from_public_key(pair.public)

    def new_user(self, seed: str, roles: Sequence[str] = ()) -> KeyPair:
        from ledger.types import AuthorizeUserRoles, RolesPolicy

        pair = seeded_keypair(seed)
        address = address_from_public_key(pair.public)
        txs = [self.tx(lambda b: b.register_user(pair.public.encoded, seed))]
        if roles:
            txs.append(self.tx(lambda b: b.add(AuthorizeUserRoles((address,), tuple(roles), (), RolesPolicy.UNION))))
        statuses = [i.status for i in self.commit(*txs).tx_infos]
        assert statuses == ["SUCCESS"] * len(txs), statuses
        return pair


def make_chain(
    n_founders: int = 4, *, store: KeyValueStore | None = None, algorithm=ED25519,
    hash_algorithm: str = "SHA256", runtime=None, contract_engine: str | None = None,
) -> Chain:
    """``contract_engine``: None records the WebAssembly engine; ``""`` the deprecated legacy sandbox."""
    founders = [seeded_keypair(f"founder-{i}-{algorithm.name}", algorithm) for i in range(n_founders)]
    extra = "" if contract_engine is None else f"contract_engine = {json.dumps(contract_engine)}\n"
    genesis = make_genesis(founders, hash_algorithm=hash_algorithm, extra=extra)
    ledger = Ledger.create(store if store is not None else MemoryStore(), genesis, runtime=runtime)
    return Chain(ledger, founders)
