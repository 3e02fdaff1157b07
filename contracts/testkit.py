"""A local kit for contract authors: run a contract on the node's own engine, without a node.

``LocalContracts`` keeps versioned entries, events and accounts in memory, with the
ledger's rules for versions and rollback (a failed invocation, top level or nested,
discards exactly its own writes). It drives the same ``WasmRuntime`` the ledger runs,
so gas, limits, failure codes and the MicroPython dialect are those of the chain::

    from contracts.testkit import LocalContracts

    kit = LocalContracts()
    kit.deploy("counter", SOURCE)
    result = kit.invoke("counter", "add", [2])
    print(result.value, result.gas_used, kit.value("counter", "total"))

Differences from a ledger: no signatures, accounts or permissions (a contract may write
any account here; on chain it writes only its own and those that granted it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.contract_api import ContractCode, ContractContext, ContractRuntime, Entry, InvocationResult
from ledger.errors import AccountExists, ContractNotFound, JadechainError, VersionConflict
from ledger.values import TypedValue


@dataclass(frozen=True, slots=True)
class LocalResult:
    value: object
    gas_used: int


@dataclass
class LocalContracts:
    """Deployed contracts and their state, in memory."""

    runtime: Any = None
    block_height: int = 1
    block_time: int = 1_700_000_000_000
    entries: dict[tuple[str, str], list[TypedValue]] = field(default_factory=dict)
    events: dict[tuple[str, str], list[TypedValue]] = field(default_factory=dict)
    accounts: dict[str, bytes] = field(default_factory=dict)
    contracts: dict[str, ContractCode] = field(default_factory=dict)
    _journal: list[tuple[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.runtime is None:
            from contracts.vm import WasmRuntime

            self.runtime = WasmRuntime()

    def deploy(self, address: str, source: str, version: int = 1) -> None:
        """Validate ``source`` as the ledger would at deploy (``ContractRejected`` if not)."""
        self.runtime.validate(source)
        digest = hashlib.sha256(source.encode("utf-8")).digest()
        self.contracts[address] = ContractCode(address, source, digest, version)

    def invoke(
        self, address: str, method: str, args: Sequence[object] = (), gas_limit: int = 1_000_000,
        caller: str = "local-user", signers: tuple[str, ...] = ("local-user",),
    ) -> LocalResult:
        """Run one invocation as a transaction would; a failure raises its ``JadechainError``."""
        mark = len(self._journal)
        try:
            result = _Context(self, address, caller, signers, 0).run(method, args, gas_limit)
        except BaseException:
            self._rollback(mark)
            raise
        return LocalResult(result.return_value.to_python(), result.gas_used)

    def value(self, account: str, key: str) -> object:
        versions = self.entries.get((account, key))
        return None if not versions else versions[-1].to_python()

    def event_log(self, address: str, topic: str) -> list[object]:
        return [event.to_python() for event in self.events.get((address, topic), [])]

    def journal_mark(self) -> int:
        """A point to roll back to (see :meth:`rollback_to`)."""
        return len(self._journal)

    def rollback_to(self, mark: int) -> None:
        """Discard every write, event and account made since ``mark``."""
        self._rollback(mark)

    def _rollback(self, mark: int) -> None:
        while len(self._journal) > mark:
            kind, key = self._journal.pop()
            if kind == "entry":
                self.entries[key].pop()
                if not self.entries[key]:
                    del self.entries[key]
            elif kind == "event":
                self.events[key].pop()
            else:
                del self.accounts[key]


def host_context(kit: LocalContracts, address: str, caller: str, signers: tuple[str, ...]) -> ContractContext:
    """The kit's host context for a top-level invocation of ``address`` (what the VM's host calls reach)."""
    return _Context(kit, address, caller, signers, 0)


class _Context:
    def __init__(self, kit: LocalContracts, address: str, caller: str, signers: tuple[str, ...], depth: int) -> None:
        self.kit, self._address, self._caller, self._signers, self._depth = kit, address, caller, signers, depth

    def run(self, method: str, args: Sequence[object], gas_limit: int) -> InvocationResult:
        code = self.kit.contracts.get(self._address)
        if code is None:
            raise ContractNotFound(f"no contract at {self._address}", gas_used=0)
        runtime: ContractRuntime = self.kit.runtime
        return runtime.invoke(code, method, args, self, gas_limit)

    ledger_hash = property(lambda self: b"\x00" * 32)
    tx_hash = property(lambda self: hashlib.sha256(b"local").digest())
    block_height = property(lambda self: self.kit.block_height)
    block_time = property(lambda self: self.kit.block_time)
    contract_address = property(lambda self: self._address)
    caller = property(lambda self: self._caller)
    signers = property(lambda self: self._signers)
    call_depth = property(lambda self: self._depth)

    def get_entry(self, account: str, key: str, committed: bool = False) -> Entry | None:
        versions = self.kit.entries.get((account, key))
        return Entry(versions[-1], len(versions) - 1) if versions else None

    def get_entry_version(self, account: str, key: str, version: int) -> Entry | None:
        versions = self.kit.entries.get((account, key), [])
        return Entry(versions[version], version) if 0 <= version < len(versions) else None

    def set_entry(self, account: str, key: str, value: TypedValue, expected_version: int) -> int:
        current = len(self.kit.entries.get((account, key), [])) - 1
        if expected_version != current:
            raise VersionConflict(f"{key}: expected version {expected_version}, current is {current}", key=key)
        self.kit.entries.setdefault((account, key), []).append(value)
        self.kit._journal.append(("entry", (account, key)))
        return current + 1

    def register_data_account(self, address: str, public_key: bytes) -> None:
        if address in self.kit.accounts:
            raise AccountExists(f"account {address} exists")
        self.kit.accounts[address] = public_key
        self.kit._journal.append(("account", address))

    def emit_event(self, topic: str, content: TypedValue) -> int:
        stream = self.kit.events.setdefault((self._address, topic), [])
        stream.append(content)
        self.kit._journal.append(("event", (self._address, topic)))
        return len(stream) - 1

    def call_contract(self, address: str, method: str, args: Sequence[object], gas_limit: int) -> InvocationResult:
        mark = len(self.kit._journal)
        try:
            return _Context(self.kit, address, self._address, self._signers, self._depth + 1).run(method, args, gas_limit)
        except BaseException:
            self.kit._rollback(mark)
            raise


@dataclass
class DeployedContract:
    """One contract deployed in a kit, as ``jadechain contract test`` hands it to a test.

    ``contract.add(2)`` invokes ``add`` on the chain's engine and returns its value;
    ``invoke`` also gives the gas; a failure raises the chain's error (``.code``)::

        def test_add(contract):
            assert contract.add(2) == 2
            assert contract.invoke("add", 3).gas_used > 0
            assert contract.value("total") == 5
    """

    kit: LocalContracts
    address: str
    invocations: int = 0
    gas_used: int = 0

    def invoke(
        self, method: str, *args: object, caller: str = "local-user", gas_limit: int = 1_000_000,
    ) -> LocalResult:
        self.invocations += 1
        try:
            result = self.kit.invoke(self.address, method, list(args), gas_limit, caller, (caller,))
        except JadechainError as error:
            used = error.details.get("gas_used", 0)
            self.gas_used += used if isinstance(used, int) else 0
            raise
        self.gas_used += result.gas_used
        return result

    def fails(self, method: str, *args: object, caller: str = "local-user") -> JadechainError:
        """The chain's error of an invocation that must fail (``AssertionError`` if it succeeds)."""
        try:
            result = self.invoke(method, *args, caller=caller)
        except JadechainError as error:
            return error
        raise AssertionError(f"{method}{tuple(args)!r} returned {result.value!r} instead of failing")

    def value(self, key: str, account: str | None = None) -> object:
        """Latest value of ``key`` in ``account`` (the contract's own by default)."""
        return self.kit.value(self.address if account is None else account, key)

    def events(self, topic: str) -> list[object]:
        return self.kit.event_log(self.address, topic)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **options: self.invoke(method, *args, **options).value
