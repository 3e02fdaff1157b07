"""Conversion between a contract's plain Python values and the ledger's typed values.

Contracts see only plain values (str, int, bool, bytes, None, list, dict); the
ledger stores ``TypedValue``. Crossing the boundary copies the value (so a
contract never holds a reference to the host's objects, nor the host to the
contract's) and checks it against the value limits, iteratively where depth
could otherwise exhaust the host's stack.
"""

from __future__ import annotations

from ledger.errors import ContractFault, ContractLimitExceeded
from ledger.values import INT64_MAX, INT64_MIN, TypedValue, canonical_json

from contracts.limits import DEFAULT_LIMITS, SandboxLimits

PLAIN_SCALARS = (str, int, bool, bytes, type(None))


def check_plain(value: object, limits: SandboxLimits = DEFAULT_LIMITS, allow_bytes: bool = True, what: str = "value") -> None:
    """Raise unless ``value`` is built only of plain values within the depth and size limits."""
    stack: list[tuple[object, int]] = [(value, 0)]
    visited = 0
    while stack:
        item, depth = stack.pop()
        visited += 1
        if visited > limits.max_items:
            # a list holding the same inner list many times is small in memory but huge to encode
            raise ContractLimitExceeded(f"{what} holds more than {limits.max_items} values in all", limit="max_items")
        if depth > limits.max_value_depth:
            raise ContractLimitExceeded(f"{what} nested deeper than {limits.max_value_depth}", limit="max_value_depth")
        kind = type(item)
        if kind is bytes and not allow_bytes:
            raise ContractFault(f"{what} cannot hold bytes inside a list or dict (JSON)")
        if isinstance(item, (str, bytes)):
            if len(item) > limits.max_bytes:
                raise ContractLimitExceeded(f"{what} holds a string longer than {limits.max_bytes}", limit="max_bytes")
        elif isinstance(item, int) and kind is int:
            if item.bit_length() > limits.max_int_bits:
                raise ContractLimitExceeded(f"{what} holds an integer over {limits.max_int_bits} bits", limit="max_int_bits")
        elif kind is bool or item is None:
            pass
        elif kind in (list, tuple):
            assert isinstance(item, (list, tuple))
            if len(item) > limits.max_items:
                raise ContractLimitExceeded(f"{what} holds more than {limits.max_items} items", limit="max_items")
            stack.extend((element, depth + 1) for element in item)
        elif kind is dict:
            assert isinstance(item, dict)
            if len(item) > limits.max_items:
                raise ContractLimitExceeded(f"{what} holds more than {limits.max_items} items", limit="max_items")
            for key, element in item.items():
                if type(key) is not str:
                    raise ContractFault(f"{what} has a dict key that is not a str")
                stack.append((element, depth + 1))
        else:
            raise ContractFault(f"{what} of type '{kind.__name__}' is not a plain value")


def copy_plain(value: object) -> object:
    """Deep copy of a checked plain value (tuples become lists, as JSON would make them)."""
    if isinstance(value, (list, tuple)):
        return [copy_plain(element) for element in value]
    if isinstance(value, dict):
        return {key: copy_plain(element) for key, element in value.items()}
    return value


def to_typed_value(value: object, limits: SandboxLimits = DEFAULT_LIMITS, what: str = "value",
                   checked: bool = False) -> TypedValue:
    """The one typed form of a plain value: bool before int, containers as canonical JSON.

    ``checked``: the caller has already run ``check_plain`` (without bytes) on ``value`` or on a
    value holding it (a check of the whole passes every part of it), so it is not walked again."""
    if value is None:
        return TypedValue.nil()
    kind = type(value)
    if kind is bool:
        return TypedValue.boolean(bool(value))
    if kind is int:
        assert isinstance(value, int)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ContractFault(f"{what} {value} does not fit in int64")
        return TypedValue.int64(value)
    if kind is str:
        assert isinstance(value, str)
        try:
            return TypedValue.text(value)
        except UnicodeEncodeError:
            raise ContractFault(f"{what} is not valid text (lone surrogate)") from None
    if kind is bytes:
        assert isinstance(value, bytes)
        return TypedValue.bytes_(value)
    if kind in (list, tuple, dict):
        if not checked:
            check_plain(value, limits, allow_bytes=False, what=what)
        try:
            return TypedValue.json_(value)
        except (ValueError, UnicodeEncodeError) as exc:
            raise ContractFault(f"{what} cannot be encoded as JSON: {exc}") from None
    raise ContractFault(f"{what} of type '{kind.__name__}' cannot be stored or returned")


def from_typed_value(value: TypedValue) -> object:
    """The plain value a contract sees for a stored typed value (a fresh object)."""
    return value.to_python()


def encoded_size(value: object) -> int:
    """Bytes of the canonical form, for gas and size limits (a list of arguments: the sum of its items)."""
    if isinstance(value, list) and all(isinstance(item, (str, bytes, int)) for item in value):
        return sum(len(item) if isinstance(item, (str, bytes)) else 8 for item in value)
    if isinstance(value, (list, tuple, dict)):
        return len(canonical_json(value))
    if isinstance(value, (str, bytes)):
        return len(value)
    return 8
