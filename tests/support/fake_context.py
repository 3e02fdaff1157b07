"""An in-memory ``ContractContext`` for engine tests, with the ledger's semantics.

``FakeLedger`` holds versioned entries (a key starts at version -1; a write
names the version it expects), events per (contract, topic) with sequence
numbers, registered accounts and deployed contracts. Every change goes to an
undo journal, so a failed invocation (top level or nested) rolls back exactly
its own writes, as the real executor's pending write set will.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.contract_api import ContractCode, ContractRuntime, Entry, InvocationResult
from ledger.errors import AccountExists, ContractNotFound, VersionConflict
from ledger.values import TypedValue


@dataclass
class FakeLedger:
    runtime: ContractRuntime
    entries: dict[tuple[str, str], list[TypedValue]] = field(default_factory=dict)
    committed_versions: dict[tuple[str, str], int] = field(default_factory=dict)
    events: dict[tuple[str, str], list[TypedValue]] = field(default_factory=dict)
    accounts: dict[str, bytes] = field(default_factory=dict)
    contracts: dict[str, ContractCode] = field(default_factory=dict)
    journal: list[tuple[str, object]] = field(default_factory=list)

    def deploy(self, address: str, source: str, version: int = 1) -> ContractCode:
        self.runtime.validate(source)
        code = ContractCode(address, source, hashlib.sha256(source.encode()).digest(), version)
        self.contracts[address] = code
        return code

    def invoke(
        self,
        address: str,
        method: str,
        args: Sequence[object] = (),
        gas_limit: int = 1_000_000,
        caller: str = "user-1",
        signers: tuple[str, ...] = ("user-1",),
    ) -> InvocationResult:
        """A transaction's contract operation: roll back everything if it fails."""
        context = FakeContext(self, address, caller, signers, depth=0)
        mark = len(self.journal)
        try:
            return context.run(method, args, gas_limit)
        except BaseException:
            self.rollback(mark)
            raise

    def commit(self) -> None:
        """End of block: every latest version becomes the committed view."""
        for key, versions in self.entries.items():
            self.committed_versions[key] = len(versions) - 1
        self.journal.clear()

    def rollback(self, mark: int) -> None:
        while len(self.journal) > mark:
            kind, payload = self.journal.pop()
            if kind == "entry":
                assert isinstance(payload, tuple)
                versions = self.entries[payload]
                versions.pop()
                if not versions:
                    del self.entries[payload]
            elif kind == "event":
                assert isinstance(payload, tuple)
                self.events[payload].pop()
            elif kind == "account":
                assert isinstance(payload, str)
                del self.accounts[payload]

    def value(self, account: str, key: str) -> object:
        versions = self.entries.get((account, key))
        return None if not versions else versions[-1].to_python()

    def version(self, account: str, key: str) -> int:
        return len(self.entries.get((account, key), [])) - 1


class FakeContext:
    """One invocation's view of the fake ledger (implements ``ContractContext``)."""

    def __init__(self, ledger: FakeLedger, address: str, caller: str, signers: tuple[str, ...], depth: int) -> None:
        self.ledger = ledger
        self._address = address
        self._caller = caller
        self._signers = signers
        self._depth = depth

    def run(self, method: str, args: Sequence[object], gas_limit: int) -> InvocationResult:
        code = self.ledger.contracts.get(self._address)
        if code is None:
            raise ContractNotFound(f"no contract at {self._address}", gas_used=0)
        return self.ledger.runtime.invoke(code, method, args, self, gas_limit)

    @property
    def ledger_hash(self) -> bytes:
        return b"\x11" * 32

    @property
    def tx_hash(self) -> bytes:
        return b"\x22" * 32

    @property
    def block_height(self) -> int:
        return 7

    @property
    def block_time(self) -> int:
        return 1_700_000_000_000

    @property
    def contract_address(self) -> str:
        return self._address

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def signers(self) -> tuple[str, ...]:
        return self._signers

    @property
    def call_depth(self) -> int:
        return self._depth

    def get_entry(self, account: str, key: str, committed: bool = False) -> Entry | None:
        versions = self.ledger.entries.get((account, key))
        if not versions:
            return None
        if committed:
            version = self.ledger.committed_versions.get((account, key), -1)
            return None if version < 0 else Entry(versions[version], version)
        return Entry(versions[-1], len(versions) - 1)

    def get_entry_version(self, account: str, key: str, version: int) -> Entry | None:
        versions = self.ledger.entries.get((account, key), [])
        if 0 <= version < len(versions):
            return Entry(versions[version], version)
        return None

    def set_entry(self, account: str, key: str, value: TypedValue, expected_version: int) -> int:
        versions = self.ledger.entries.setdefault((account, key), [])
        current = len(versions) - 1
        if expected_version != current:
            if not versions:
                del self.ledger.entries[(account, key)]
            raise VersionConflict(
                f"{key}: expected version {expected_version}, current is {current}",
                key=key, expected=expected_version, current=current,
            )
        versions.append(value)
        self.ledger.journal.append(("entry", (account, key)))
        return current + 1

    def register_data_account(self, address: str, public_key: bytes) -> None:
        if address in self.ledger.accounts:
            raise AccountExists(f"account {address} exists")
        self.ledger.accounts[address] = public_key
        self.ledger.journal.append(("account", address))

    def emit_event(self, topic: str, content: TypedValue) -> int:
        stream = self.ledger.events.setdefault((self._address, topic), [])
        stream.append(content)
        self.ledger.journal.append(("event", (self._address, topic)))
        return len(stream) - 1

    def call_contract(self, address: str, method: str, args: Sequence[object], gas_limit: int) -> InvocationResult:
        child = FakeContext(self.ledger, address, self._address, self._signers, self._depth + 1)
        mark = len(self.ledger.journal)
        try:
            return child.run(method, args, gas_limit)
        except BaseException:
            self.ledger.rollback(mark)
            raise
