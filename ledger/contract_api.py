"""The seam between the ledger's executor and a contract engine.

``ledger`` defines these interfaces; ``contracts`` implements ``ContractRuntime``;
the node wires one into the executor. The ledger never imports ``contracts``.

A contract sees the chain only through a ``ContractContext`` (Sawtooth style):
the executor builds one per invocation, backed by the transaction's pending
write set, so that a revert, an error or running out of gas discards exactly the
writes of that invocation (and of the contracts it called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from ledger.values import TypedValue


@dataclass(frozen=True, slots=True)
class ContractCode:
    """A deployed contract as the runtime needs it."""

    address: str
    """Base58 address of the contract account."""
    source: str
    """The contract's Python source, exactly as deployed."""
    code_hash: bytes
    """Hash of the source (the ledger's hash algorithm, raw digest); the compile-cache key."""
    version: int
    """Deployed version, increasing with each upgrade."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One data-account entry as read by a contract."""

    value: TypedValue
    version: int


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What a finished invocation returns to the executor."""

    return_value: TypedValue
    """The method's return value, converted to a typed value."""
    gas_used: int
    """Gas charged for this invocation, nested calls included."""


class ContractContext(Protocol):
    """What a running contract may know and do. Implemented by the ledger executor."""

    @property
    def ledger_hash(self) -> bytes: ...
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def block_height(self) -> int: ...
    @property
    def block_time(self) -> int:
        """Milliseconds since the epoch, taken from the block header (deterministic)."""
        ...
    @property
    def contract_address(self) -> str: ...
    @property
    def caller(self) -> str:
        """Address of the signer who invoked, or of the contract that called this one."""
        ...
    @property
    def signers(self) -> tuple[str, ...]:
        """Addresses of every endpoint signer of the transaction."""
        ...
    @property
    def call_depth(self) -> int:
        """0 for a contract invoked by a transaction, +1 for each nested call."""
        ...

    def get_entry(self, account: str, key: str, committed: bool = False) -> Entry | None:
        """Latest entry; ``committed=True`` ignores this block's uncommitted writes."""
        ...

    def get_entry_version(self, account: str, key: str, version: int) -> Entry | None: ...

    def set_entry(self, account: str, key: str, value: TypedValue, expected_version: int) -> int:
        """Write an entry; raises VersionConflict; returns the new version."""
        ...

    def register_data_account(self, address: str, public_key: bytes) -> None: ...

    def emit_event(self, topic: str, content: TypedValue) -> int:
        """Publish to this contract's event account; returns the topic sequence number."""
        ...

    def call_contract(
        self, address: str, method: str, args: Sequence[object], gas_limit: int
    ) -> InvocationResult:
        """Invoke another contract; its writes roll back with it if it fails."""
        ...


@runtime_checkable
class ForeignFacts(Protocol):
    """A context that can check another ledger's proof bundle (``ledger.light_client``).

    Apart from ``ContractContext`` so that contexts without light clients (test kits) need not
    implement it; an engine offers ``ctx.verified_fact`` only where the context has it.
    """

    def verified_fact(
        self, ledger_hash: bytes, bundle: bytes, expect: dict[str, Any], max_age_ms: int
    ) -> dict[str, Any]:
        """The claim the bundle proves, checked against this ledger's light client of ``ledger_hash``
        as of the running transaction; raises ``LightClientError`` (its stable code) otherwise."""
        ...


class ContractRuntime(Protocol):
    """A contract engine the executor can drive. Must be deterministic."""

    def validate(self, source: str) -> None:
        """Raise ContractRejected (with line, column, rule) if the source breaks the policy."""
        ...

    def invoke(
        self,
        code: ContractCode,
        method: str,
        args: Sequence[object],
        context: ContractContext,
        gas_limit: int,
    ) -> InvocationResult:
        """Run ``method`` with ``args``; raise a ContractError subclass on failure.

        ``OutOfGas`` and other ``ContractError`` instances carry ``gas_used`` in
        their ``details`` so that the transaction info can record it.
        """
        ...


class ContractEngineMismatch(RuntimeError):
    """The node's contract engine is not the one recorded in the ledger settings.

    Deliberately not a ``JadechainError``: it is no transaction's outcome. It stops the
    block on this node instead of letting a different engine produce a different state.
    """


def select_contract_engine(runtime: ContractRuntime, recorded: str) -> ContractRuntime:
    """The node's engine for a ledger whose settings record ``recorded``, or ContractEngineMismatch.

    ``recorded`` is ``LedgerSettings.contract_engine`` (empty: the legacy sandbox, whose
    runtime has no ``identity``). A runtime with ``for_engine(identity)`` (a set of engines)
    picks one; any other must have exactly that identity.
    """
    chooser = getattr(runtime, "for_engine", None)
    if chooser is not None:
        runtime = chooser(recorded)
    identity = getattr(runtime, "identity", "")
    if identity != recorded:
        raise ContractEngineMismatch(
            f"this ledger executes contracts with engine {recorded or '(legacy sandbox)'!r}; "
            f"this node runs {identity or '(legacy sandbox)'!r}"
        )
    return runtime
