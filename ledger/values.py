"""Typed values stored in data-account entries and carried by events.

JD Chain stores every entry as a typed byte string so that a reader knows how to
show it without guessing. We keep a small closed set of types; ``data`` is the
canonical byte form for the type (UTF-8 text, 8-byte big-endian signed int,
JSON text with sorted keys, raw bytes).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from ledger.errors import CodecError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ValueType(enum.IntEnum):
    NIL = 0
    TEXT = 1
    INT64 = 2
    BYTES = 3
    JSON = 4
    BOOLEAN = 5


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One stored value: its type tag and its canonical bytes."""

    type: ValueType
    """How ``data`` is to be read."""
    data: bytes
    """The canonical bytes of the value for that type."""

    def __post_init__(self) -> None:
        validate_typed_value(self.type, self.data)

    @staticmethod
    def text(value: str) -> "TypedValue":
        return TypedValue(ValueType.TEXT, value.encode("utf-8"))

    @staticmethod
    def int64(value: int) -> "TypedValue":
        if not INT64_MIN <= value <= INT64_MAX:
            raise CodecError(f"integer {value} does not fit in int64")
        return TypedValue(ValueType.INT64, value.to_bytes(8, "big", signed=True))

    @staticmethod
    def bytes_(value: bytes) -> "TypedValue":
        return TypedValue(ValueType.BYTES, bytes(value))

    @staticmethod
    def boolean(value: bool) -> "TypedValue":
        return TypedValue(ValueType.BOOLEAN, b"\x01" if value else b"\x00")

    @staticmethod
    def json_(value: object) -> "TypedValue":
        return TypedValue(ValueType.JSON, canonical_json(value))

    @staticmethod
    def nil() -> "TypedValue":
        return TypedValue(ValueType.NIL, b"")

    def to_python(self) -> object:
        if self.type == ValueType.NIL:
            return None
        if self.type == ValueType.TEXT:
            return self.data.decode("utf-8")
        if self.type == ValueType.INT64:
            return int.from_bytes(self.data, "big", signed=True)
        if self.type == ValueType.BOOLEAN:
            return self.data == b"\x01"
        if self.type == ValueType.JSON:
            return json.loads(self.data)
        return self.data


def canonical_json(value: object) -> bytes:
    """JSON with sorted keys, no spaces, no floats: one byte form per value."""
    _reject_floats(value)
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` builds on
every call, built once (decoding a transaction checks every JSON value's canonical form)."""


class _FloatInJson(Exception):
    """Raised by the strict decoder's hooks on a number with a fraction or exponent, NaN or Infinity."""


def _refuse_float(text: str) -> object:
    raise _FloatInJson(text)


_STRICT_JSON_DECODER = json.JSONDecoder(parse_float=_refuse_float, parse_constant=_refuse_float)
"""Parses JSON and stops at the first float (which a ledger value may not hold)."""


def _reject_floats(value: object) -> None:
    if isinstance(value, float):
        raise CodecError("floats are not allowed in ledger values")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CodecError("JSON object keys must be strings")
            _reject_floats(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _reject_floats(v)


_VALUE_TYPES: dict[int, ValueType] = {int(member): member for member in ValueType}
"""``ValueType(code)`` as a dict lookup (``EnumType.__call__`` was a visible share of decoding)."""


def validate_typed_value(value_type: int, data: bytes) -> None:
    kind = _VALUE_TYPES.get(value_type)
    if kind is None:
        raise CodecError(f"unknown value type {value_type}")
    if kind == ValueType.NIL and data:
        raise CodecError("NIL value must be empty")
    if kind == ValueType.INT64 and len(data) != 8:
        raise CodecError("INT64 value must be 8 bytes")
    if kind == ValueType.BOOLEAN and data not in (b"\x00", b"\x01"):
        raise CodecError("BOOLEAN value must be 0x00 or 0x01")
    if kind in (ValueType.TEXT, ValueType.JSON):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"{kind.name} value is not UTF-8") from exc
        if kind == ValueType.JSON:
            try:
                parsed = _STRICT_JSON_DECODER.decode(text)
            except _FloatInJson as exc:
                raise CodecError("floats are not allowed in ledger values") from exc
            except ValueError as exc:
                raise CodecError("JSON value does not parse") from exc
            if _CANONICAL_ENCODER.encode(parsed).encode("utf-8") != data:
                raise CodecError("JSON value is not in canonical form (sorted keys, no spaces)")
