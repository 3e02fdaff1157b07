"""The contract authoring API: what a contract imports, inside the chain's VM and outside it.

A contract file starts with ``from jadechain import contract, callable, event`` (and
``Context``, ``reentrant`` if it uses them). Inside the node's WebAssembly VM those names
come from the guest prelude (:mod:`contracts.guest`); in an ordinary Python they come from
here, with the same meaning, so the very same file

* type-checks with mypy (declare ``ctx: Context`` in the class body; the VM ignores the
  annotation, it is never evaluated there),
* runs in CPython against an in-memory ledger (:class:`LocalContract`) for quick unit tests,
* runs on the chain's own engine with ``jadechain contract test`` (:mod:`contracts.testkit`),
* and is deployed unchanged.

``Context`` is exactly the host API a running contract sees as ``self.ctx`` (see
docs/contracts.md); :class:`LocalContext` implements it over a
:class:`contracts.testkit.LocalContracts` kit, with the ledger's version rules, value
conversion and rollback of a failed invocation's writes. What it does not reproduce is
what only the VM decides: gas, memory and recursion limits, the MicroPython dialect.
Run ``jadechain contract test`` for those.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypedDict, TypeVar

if TYPE_CHECKING:
    from contracts.testkit import LocalContracts

__all__ = [
    "CallOutcome",
    "Context",
    "EntryView",
    "LocalContext",
    "LocalContract",
    "callable",
    "contract",
    "event",
    "reentrant",
]

T = TypeVar("T")
F = TypeVar("F")

_EVENT_MARK = "__jadechain_event__"


# --- the decorators (in the VM they are the prelude's; they mark, they never wrap) -----------

def contract(cls: type[T]) -> type[T]:
    """Marks the module's one contract class."""
    return cls


def callable(function: F) -> F:  # noqa: A001 - the name contracts import
    """Marks a method that transactions (and other contracts) may invoke."""
    return function


def reentrant(function: F) -> F:
    """Like ``callable``, and the method may be entered again while the contract is running."""
    return function


def event(function: F) -> F:
    """Marks a body-less method whose call publishes its keyword fields under its name as topic."""
    setattr(function, _EVENT_MARK, True)
    return function


# --- the host API ----------------------------------------------------------------------------

class EntryView(TypedDict):
    """``ctx.get_entry``'s answer."""

    value: Any
    version: int


class CallOutcome(TypedDict):
    """``ctx.try_call``'s answer: the value, or the callee's error code and message."""

    ok: bool
    value: Any
    error: str | None
    message: str | None


class Context(Protocol):
    """``self.ctx`` of a running contract: the only door to the chain (the guest prelude's API).

    Parameters before ``/`` are positional only, as in the VM (whose methods name them otherwise):
    mypy refuses ``ctx.set(account, key, value, expected_version=v)``, which the VM would too.
    """

    caller: str
    """The signer who invoked the contract, or the contract that called this one."""
    signers: list[str]
    """Addresses of every endpoint signer of the transaction."""
    address: str
    """This contract's address."""
    tx_hash: bytes
    ledger_hash: bytes
    block_height: int
    block_time: int
    """Milliseconds since the epoch, from the block header (deterministic)."""
    call_depth: int
    """0 when a transaction invoked the contract, +1 for each nested call."""

    def get(self, account: str, key: str, /, committed: bool = False) -> Any:
        """Latest value of ``key`` in ``account``, or None."""
        ...

    def get_many(self, account: str, keys: list[str], /, committed: bool = False) -> list[Any]:
        """Latest values of ``keys`` (``None`` where absent) in one host call; priced as that many reads."""
        ...

    def get_entry(self, account: str, key: str, /, committed: bool = False) -> EntryView | None: ...

    def get_version(self, account: str, key: str, /) -> int:
        """Current version of ``key``, -1 if absent."""
        ...

    def get_at(self, account: str, key: str, version: int, /) -> Any: ...

    def set(self, account: str, key: str, value: Any, expected_version: int, /) -> int:
        """Write a new version (``VERSION_CONFLICT`` unless ``expected_version`` is current); returns it."""
        ...

    def register_data_account(self, address: str, public_key: bytes, /) -> None: ...

    def emit(self, topic: str, content: Any = None, /) -> int:
        """Publish on this contract's event account; returns the sequence number."""
        ...

    def call(self, address: str, method: str, /, args: list[Any] | None = None, gas_limit: int | None = None) -> Any:
        """The callee's return value; its failure fails the caller."""
        ...

    def try_call(
        self, address: str, method: str, /, args: list[Any] | None = None, gas_limit: int | None = None
    ) -> CallOutcome:
        """Like ``call``, but a failure is an answer; the callee's writes are rolled back."""
        ...

    def verified_fact(
        self, ledger: bytes | str, bundle: bytes | str | dict[str, Any], expect: dict[str, Any] | None = None,
        max_age_ms: int = 0,
    ) -> dict[str, Any]:
        """The claim another ledger's proof bundle proves, checked by this ledger's light client of it."""
        ...

    def revert(self, message: str = "reverted") -> NoReturn:
        """Fail the invocation with ``CONTRACT_REVERTED``, discarding its writes."""
        ...


# --- an in-memory context, for unit tests in CPython ------------------------------------------

class LocalContext:
    """:class:`Context` over a :class:`~contracts.testkit.LocalContracts` kit (no VM, no gas)."""

    def __init__(self, kit: "LocalContracts", address: str, caller: str, signers: tuple[str, ...]) -> None:
        from contracts.testkit import host_context

        self._host = host_context(kit, address, caller, signers)
        self.caller = caller
        self.signers = list(signers)
        self.address = address
        self.tx_hash = bytes(self._host.tx_hash)
        self.ledger_hash = bytes(self._host.ledger_hash)
        self.block_height = int(self._host.block_height)
        self.block_time = int(self._host.block_time)
        self.call_depth = 0

    def get(self, account: str, key: str, /, committed: bool = False) -> Any:
        entry = self._host.get_entry(account, key, committed)
        return None if entry is None else entry.value.to_python()

    def get_many(self, account: str, keys: list[str], /, committed: bool = False) -> list[Any]:
        return [self.get(account, key, committed) for key in keys]

    def get_entry(self, account: str, key: str, /, committed: bool = False) -> EntryView | None:
        entry = self._host.get_entry(account, key, committed)
        return None if entry is None else {"value": entry.value.to_python(), "version": entry.version}

    def get_version(self, account: str, key: str, /) -> int:
        entry = self._host.get_entry(account, key)
        return -1 if entry is None else entry.version

    def get_at(self, account: str, key: str, version: int, /) -> Any:
        entry = self._host.get_entry_version(account, key, version)
        return None if entry is None else entry.value.to_python()

    def set(self, account: str, key: str, value: Any, expected_version: int, /) -> int:
        from contracts.values import to_typed_value

        return self._host.set_entry(account, key, to_typed_value(value, what="stored value"), expected_version)

    def register_data_account(self, address: str, public_key: bytes, /) -> None:
        self._host.register_data_account(address, public_key)

    def emit(self, topic: str, content: Any = None, /) -> int:
        from contracts.values import to_typed_value

        return self._host.emit_event(topic, to_typed_value(content, what="event content"))

    def call(self, address: str, method: str, /, args: list[Any] | None = None, gas_limit: int | None = None) -> Any:
        result = self._host.call_contract(address, method, list(args or []), 1_000_000 if gas_limit is None else gas_limit)
        return result.return_value.to_python()

    def try_call(
        self, address: str, method: str, /, args: list[Any] | None = None, gas_limit: int | None = None
    ) -> CallOutcome:
        from ledger.errors import JadechainError

        try:
            value = self.call(address, method, args, gas_limit)
        except JadechainError as error:
            return {"ok": False, "value": None, "error": error.code, "message": error.message}
        return {"ok": True, "value": value, "error": None, "message": None}

    def verified_fact(
        self, ledger: bytes | str, bundle: bytes | str | dict[str, Any], expect: dict[str, Any] | None = None,
        max_age_ms: int = 0,
    ) -> dict[str, Any]:
        """As in the test kit's VM: there is no light client in memory."""
        from ledger.errors import ContractFault

        raise ContractFault("verified_fact is not available in this context", reason="abi")

    def revert(self, message: str = "reverted") -> NoReturn:
        from ledger.errors import ContractReverted

        raise ContractReverted(message, reverted=True)


class LocalContract(Generic[T]):
    """A contract class run in CPython against an in-memory ledger.

    ``contract`` is an instance of the class with ``ctx`` set, so calls are type-checked::

        counter = LocalContract(Counter)
        assert counter.contract.add(2) == 2
        counter.invoke("add", 3)            # as a transaction: a failure rolls its writes back
        assert counter.kit.event_log("contract", "added")[-1] == {"amount": 3, "total": 5}
    """

    def __init__(
        self, cls: type[T], *, kit: "LocalContracts | None" = None, address: str = "contract",
        caller: str = "local-user", signers: tuple[str, ...] = ("local-user",),
    ) -> None:
        if kit is None:
            from contracts.testkit import LocalContracts

            kit = LocalContracts()
        self.kit = kit
        self.address = address
        self.context = LocalContext(kit, address, caller, signers)
        instance: Any = object.__new__(cls)
        instance.ctx = self.context
        for name, member in inspect.getmembers(cls):
            if getattr(member, _EVENT_MARK, False):
                setattr(instance, name, _emitter(self.context, name, member))
        self.contract: T = instance

    def invoke(self, method: str, *args: Any) -> Any:
        """Call ``method`` as a transaction would: if it raises, its writes and events are discarded."""
        mark = self.kit.journal_mark()
        try:
            return getattr(self.contract, method)(*args)
        except BaseException:
            self.kit.rollback_to(mark)
            raise


def _emitter(context: LocalContext, topic: str, declaration: Any) -> Any:
    fields = list(inspect.signature(declaration).parameters)[1:]

    def emit(*args: Any, **kwargs: Any) -> int:
        bound = inspect.signature(declaration).bind(None, *args, **kwargs)
        return context.emit(topic, {name: bound.arguments[name] for name in fields})

    return emit
