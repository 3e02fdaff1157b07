"""``self.ctx``: the contract's only door to the chain.

A ``ContractHandle`` wraps the executor's ``ContractContext`` for one
invocation. Contract code reaches it only through the sandbox's ``_attr``
guard, which asks ``api_attribute`` for a name on the allow-list below; the
handle's own fields (``_context``, ``_sandbox``) and its class are never handed
out. Every call charges gas before the host does the work, converts values at
the boundary (copies, typed values, size limits) and returns plain values.

Contract-facing API (all through ``self.ctx``):

* ``get(account, key, committed=False)`` -> value or None
* ``get_entry(account, key, committed=False)`` -> ``{"value": v, "version": n}`` or None
* ``get_version(account, key)`` -> current version, -1 if absent
* ``get_at(account, key, version)`` -> value of that version or None
* ``set(account, key, value, expected_version)`` -> new version (VersionConflict on mismatch)
* ``register_data_account(address, public_key)``
* ``emit(topic, content)`` -> sequence number of the event in its topic
* ``call(address, method, args=[], gas_limit=None)`` -> return value; a failure aborts the caller too
* ``try_call(address, method, args=[], gas_limit=None)`` -> ``{"ok", "value", "error", "message"}``;
  the callee's writes are rolled back and the caller continues
* ``revert(message)``: abort with ``ContractReverted``; this invocation's writes are discarded
* attributes ``caller``, ``signers``, ``tx_hash``, ``block_height``, ``block_time``,
  ``address``, ``ledger_hash``, ``call_depth``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ledger.contract_api import ContractContext
from ledger.errors import ContractError, ContractFault, ContractLimitExceeded, ContractReverted, JadechainError

from contracts.policy import EventSpec
from contracts.values import check_plain, copy_plain, from_typed_value, to_typed_value

if TYPE_CHECKING:
    from contracts.runtime import SandboxRuntime
    from contracts.sandbox import Sandbox

MAX_REVERT_MESSAGE = 1024

METHOD_NAMES = frozenset(
    {"get", "get_many", "get_entry", "get_version", "get_at", "set", "register_data_account", "emit", "call", "try_call", "revert"}
)
PROPERTY_NAMES = frozenset(
    {"caller", "signers", "tx_hash", "block_height", "block_time", "address", "ledger_hash", "call_depth"}
)


def _text(value: object, what: str, limit: int) -> str:
    if type(value) is not str:
        raise ContractFault(f"{what} must be a str")
    assert isinstance(value, str)
    if len(value.encode("utf-8", errors="surrogatepass")) > limit:
        raise ContractLimitExceeded(f"{what} longer than {limit} bytes", limit="max_key_bytes")
    return value


class ContractHandle:
    """The ``self.ctx`` object of one invocation (see the module docstring for its API)."""

    __slots__ = ("_context", "_sandbox", "_runtime")

    def __init__(self, context: ContractContext, sandbox: Sandbox, runtime: SandboxRuntime) -> None:
        self._context = context
        self._sandbox = sandbox
        self._runtime = runtime

    def api_attribute(self, name: str) -> object:
        """What ``self.ctx.<name>`` gives the contract: a bound API method or a fresh value."""
        if name in METHOD_NAMES:
            method: object = getattr(self, "api_" + name)
            return method
        if name in PROPERTY_NAMES:
            context = self._context
            if name == "caller":
                return context.caller
            if name == "signers":
                return [str(signer) for signer in context.signers]
            if name == "tx_hash":
                return bytes(context.tx_hash)
            if name == "block_height":
                return int(context.block_height)
            if name == "block_time":
                return int(context.block_time)
            if name == "address":
                return context.contract_address
            if name == "ledger_hash":
                return bytes(context.ledger_hash)
            return int(context.call_depth)
        raise ContractFault(f"ctx has no attribute '{name}'")

    # --- storage ---------------------------------------------------------------

    def _charge_read(self, key: str, size: int) -> None:
        gas = self._sandbox.gas
        self._sandbox.meter.charge(gas.storage_read_base + gas.storage_read_byte * (len(key) + size))

    def api_get(self, account: object, key: object, committed: object = False) -> object:
        entry = self.api_get_entry(account, key, committed)
        if entry is None:
            return None
        assert isinstance(entry, dict)
        return entry["value"]

    def api_get_entry(self, account: object, key: object, committed: object = False) -> object:
        limits = self._sandbox.limits
        account_text = _text(account, "account", limits.max_key_bytes)
        key_text = _text(key, "key", limits.max_key_bytes)
        entry = self._context.get_entry(account_text, key_text, committed=bool(committed))
        if entry is None:
            self._charge_read(key_text, 0)
            return None
        self._charge_read(key_text, len(entry.value.data))
        self._sandbox.meter.allocate(len(entry.value.data))
        return {"value": from_typed_value(entry.value), "version": entry.version}

    def api_get_many(self, account: object, keys: object, committed: object = False) -> list[object]:
        """The WebAssembly engine's ``get_many``: one ``get`` per key, priced as such."""
        if type(keys) is not list or not keys:
            raise ContractFault("keys must be a non-empty list")
        assert isinstance(keys, list)
        return [self.api_get(account, key, committed) for key in keys]

    def api_get_version(self, account: object, key: object) -> int:
        limits = self._sandbox.limits
        account_text = _text(account, "account", limits.max_key_bytes)
        key_text = _text(key, "key", limits.max_key_bytes)
        self._charge_read(key_text, 0)
        entry = self._context.get_entry(account_text, key_text)
        return -1 if entry is None else entry.version

    def api_get_at(self, account: object, key: object, version: object) -> object:
        limits = self._sandbox.limits
        account_text = _text(account, "account", limits.max_key_bytes)
        key_text = _text(key, "key", limits.max_key_bytes)
        if type(version) is not int:
            raise ContractFault("version must be an int")
        assert isinstance(version, int)
        entry = self._context.get_entry_version(account_text, key_text, version)
        if entry is None:
            self._charge_read(key_text, 0)
            return None
        self._charge_read(key_text, len(entry.value.data))
        self._sandbox.meter.allocate(len(entry.value.data))
        return from_typed_value(entry.value)

    def api_set(self, account: object, key: object, value: object, expected_version: object) -> int:
        sandbox = self._sandbox
        limits = sandbox.limits
        account_text = _text(account, "account", limits.max_key_bytes)
        key_text = _text(key, "key", limits.max_key_bytes)
        if type(expected_version) is not int:
            raise ContractFault("expected_version must be an int")
        assert isinstance(expected_version, int)
        typed = to_typed_value(value, limits, what="stored value")
        if len(typed.data) > limits.max_value_bytes:
            raise ContractLimitExceeded(f"stored value over {limits.max_value_bytes} bytes", limit="max_value_bytes")
        gas = sandbox.gas
        sandbox.meter.charge(gas.storage_write_base + gas.storage_write_byte * (len(key_text) + len(typed.data)))
        return self._context.set_entry(account_text, key_text, typed, expected_version)

    def api_register_data_account(self, address: object, public_key: object) -> None:
        limits = self._sandbox.limits
        address_text = _text(address, "address", limits.max_key_bytes)
        if type(public_key) is not bytes:
            raise ContractFault("public_key must be bytes")
        assert isinstance(public_key, bytes)
        self._sandbox.meter.charge(self._sandbox.gas.register_account)
        self._context.register_data_account(address_text, bytes(public_key))

    # --- events ------------------------------------------------------------------

    def api_emit(self, topic: object, content: object = None) -> int:
        sandbox = self._sandbox
        limits = sandbox.limits
        topic_text = _text(topic, "topic", limits.max_key_bytes)
        declared = sandbox.spec.declared_topics
        if declared and topic_text not in declared:
            raise ContractFault(f"event topic '{topic_text}' is not declared by the contract")
        typed = to_typed_value(content, limits, what="event content")
        if len(typed.data) > limits.max_event_bytes:
            raise ContractLimitExceeded(f"event over {limits.max_event_bytes} bytes", limit="max_event_bytes")
        gas = sandbox.gas
        sandbox.meter.charge(gas.event_base + gas.event_byte * (len(topic_text) + len(typed.data)))
        return self._context.emit_event(topic_text, typed)

    def event_emitter(self, event: EventSpec) -> Callable[..., int]:
        """``self.<event>(field=value, ...)`` publishes ``{field: value}`` under the event's name."""

        def emit(*args: object, **kwargs: object) -> int:
            if len(args) > len(event.fields):
                raise ContractFault(f"event '{event.topic}' takes {len(event.fields)} fields")
            content: dict[str, object] = dict(zip(event.fields, args))
            for name, value in kwargs.items():
                if name not in event.fields or name in content:
                    raise ContractFault(f"event '{event.topic}' has no field '{name}' (or it is given twice)")
                content[name] = value
            missing = [name for name in event.fields if name not in content]
            if missing:
                raise ContractFault(f"event '{event.topic}' is missing fields {missing}")
            return self.api_emit(event.topic, {name: content[name] for name in event.fields})

        return emit

    # --- nested calls --------------------------------------------------------------

    def _call(self, address: object, method: object, args: object, gas_limit: object) -> object:
        sandbox = self._sandbox
        limits = sandbox.limits
        meter = sandbox.meter
        meter.charge(sandbox.gas.nested_call_base)
        address_text = _text(address, "address", limits.max_key_bytes)
        method_text = _text(method, "method", limits.max_key_bytes)
        arguments: object = [] if args is None else args
        if type(arguments) not in (list, tuple):
            raise ContractFault("args must be a list")
        check_plain(arguments, limits, what="call arguments")
        if gas_limit is not None and (type(gas_limit) is not int or gas_limit < 0):
            raise ContractFault("gas_limit must be a non-negative int")
        if self._context.call_depth + 1 > limits.max_call_depth:
            raise ContractLimitExceeded(f"contract calls nested deeper than {limits.max_call_depth}", limit="max_call_depth")
        remaining = meter.limit - meter.used
        budget = remaining if gas_limit is None else min(remaining, gas_limit)
        copied = copy_plain(arguments)
        assert isinstance(copied, list)
        with self._runtime.nested_frames(meter.frames):
            try:
                result = self._context.call_contract(address_text, method_text, copied, int(budget))
            except JadechainError as exc:
                used = exc.details.get("gas_used", 0)
                meter.charge(min(int(used), budget) if isinstance(used, int) else budget)
                raise
        meter.charge(min(result.gas_used, budget))
        value = from_typed_value(result.return_value)
        meter.allocate(len(result.return_value.data))
        return value

    def api_call(self, address: object, method: object, args: object = None, gas_limit: object = None) -> object:
        return self._call(address, method, args, gas_limit)

    def api_try_call(self, address: object, method: object, args: object = None, gas_limit: object = None) -> object:
        """Like ``call`` but a failing callee returns an error record; its writes are already rolled back."""
        try:
            value = self._call(address, method, args, gas_limit)
        except ContractError as exc:
            if self._sandbox.meter.used >= self._sandbox.meter.limit:
                raise
            return {"ok": False, "value": None, "error": exc.code, "message": exc.message[:MAX_REVERT_MESSAGE]}
        except JadechainError as exc:
            return {"ok": False, "value": None, "error": exc.code, "message": exc.message[:MAX_REVERT_MESSAGE]}
        return {"ok": True, "value": value, "error": None, "message": None}

    def api_revert(self, message: object = "reverted") -> None:
        if type(message) is not str:
            raise ContractFault("revert() takes a str message")
        assert isinstance(message, str)
        raise ContractReverted(message[:MAX_REVERT_MESSAGE], reverted=True)
