"""Canonical encoding of everything that is hashed or signed.

One value has exactly one byte form, so that every node computes the same hash:

* msgpack, arrays only: a record is an array of its fields in declaration
  order; no maps (their key order would be a second choice), no floats, no
  extension types; integers in the smallest msgpack form (msgpack does this).
* A record type is a frozen dataclass; its field types drive both directions.
  Supported field types: ``int``, ``bool``, ``str``, ``bytes``, ``IntEnum``
  subclasses, nested records, ``tuple[T, ...]``, ``T | None`` and tagged unions
  registered with :func:`register_union`.
* Decoding is strict: trailing bytes, a wrong array length, a wrong type or any
  non-minimal encoding is a :class:`CodecError`. The last check is done by
  re-encoding and comparing, which catches every non-canonical form msgpack
  could otherwise accept.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import lru_cache
from typing import Any, Callable, Sequence, TypeVar, get_args, get_origin, get_type_hints

import msgpack

from ledger.errors import CodecError

T = TypeVar("T")

MAX_ENCODED_SIZE = 64 * 1024 * 1024
"""No single encoded value may exceed this (decoder memory bound)."""

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


# --- raw canonical msgpack ----------------------------------------------------

def pack_canonical(value: object) -> bytes:
    """Encode a tree of None/bool/int/str/bytes/list/tuple as canonical msgpack."""
    _check_plain(value, 0)
    return msgpack.packb(value, use_bin_type=True, strict_types=False)  # type: ignore[no-any-return]


def unpack_canonical(data: bytes) -> Any:
    """Decode canonical msgpack; reject maps, floats, trailing and non-minimal bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError("expected bytes")
    data = bytes(data)
    if len(data) > MAX_ENCODED_SIZE:
        raise CodecError(f"encoded value larger than {MAX_ENCODED_SIZE} bytes")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except msgpack.ExtraData as exc:
        raise CodecError("trailing bytes after the encoded value") from exc
    except (ValueError, msgpack.UnpackException, UnicodeDecodeError, TypeError) as exc:
        raise CodecError(f"not a msgpack value: {exc}") from exc
    _check_plain(value, 0)
    if msgpack.packb(value, use_bin_type=True) != data:
        raise CodecError("non-canonical encoding")
    return value


_MAX_DEPTH = 64


def _check_plain(value: object, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if value is None or isinstance(value, (bool, str, bytes)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise CodecError(f"integer out of range: {value}")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)
        return
    if isinstance(value, float):
        raise CodecError("floats are not allowed in canonical encodings")
    if isinstance(value, dict):
        raise CodecError("maps are not allowed in canonical encodings")
    raise CodecError(f"type {type(value).__name__} cannot be encoded")


# --- tagged unions --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Union:
    by_tag: dict[int, type]
    by_type: dict[type, int]


_UNIONS: dict[object, _Union] = {}


def register_union(union_type: object, members: dict[int, type]) -> None:
    """Declare a tagged union: encoded as ``[tag, field1, field2, ...]``.

    ``union_type`` is the ``A | B | ...`` object used in annotations; its members
    must be exactly the registered classes. Tags are part of the wire format and
    must never be reused.
    """
    if set(get_args(union_type)) != set(members.values()):
        raise ValueError("union members and registered classes differ")
    _UNIONS[union_type] = _Union(dict(members), {cls: tag for tag, cls in members.items()})


# --- type-directed conversion -----------------------------------------------
#
# Each type gets a compiled converter (a closure built once and cached), so that
# encoding and decoding a record costs one call per field, not a walk through
# typing reflection. The converters check every type on the way in and out.

Converter = Callable[[Any], Any]


@lru_cache(maxsize=None)
def _record_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = get_type_hints(cls, include_extras=False)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _union_of(tp: Any) -> _Union | None:
    try:
        return _UNIONS.get(tp)
    except TypeError:  # unhashable annotation objects are never unions we know
        return None


def _is_union_type(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _expect(kind: type, label: str) -> Converter:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise CodecError(f"expected {label}, got {type(value).__name__}")
        return value

    return check


def _check_int(value: Any) -> Any:
    if type(value) is not int:
        raise CodecError(f"expected an integer, got {type(value).__name__}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise CodecError(f"integer out of range: {value}")
    return value


@lru_cache(maxsize=None)
def _encoder(tp: Any) -> Converter:
    """Value of type ``tp`` -> plain msgpack-able tree (type-checked)."""
    union = _union_of(tp)
    if union is not None:
        members = {cls: (tag, _record_encoder(cls)) for cls, tag in union.by_type.items()}

        def encode_union(value: Any) -> Any:
            found = members.get(type(value))
            if found is None:
                raise CodecError(f"{type(value).__name__} is not a member of the union")
            return [found[0], *found[1](value)]

        return encode_union
    if _is_union_type(tp):
        non_none = [a for a in get_args(tp) if a is not type(None)]
        if len(non_none) != 1:
            raise CodecError(f"ambiguous union annotation {tp!r}")
        inner = _encoder(non_none[0])
        return lambda value: None if value is None else inner(value)
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _encoder(args[0])

            def encode_seq(value: Any) -> Any:
                if not isinstance(value, (tuple, list)):
                    raise CodecError("expected a sequence")
                return [item(v) for v in value]

            return encode_seq
        items = [_encoder(a) for a in args]

        def encode_fixed(value: Any) -> Any:
            if not isinstance(value, (tuple, list)) or len(value) != len(items):
                raise CodecError("fixed tuple length mismatch")
            return [conv(v) for conv, v in zip(items, value)]

        return encode_fixed
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return _record_encoder(tp)
        if issubclass(tp, enum.IntEnum):
            return lambda value: int(_expect_enum(tp, value))
        if tp is bool:
            return _expect(bool, "a boolean")
        if tp is int:
            return _check_int
        if tp is str:
            return _expect(str, "a string")
        if tp is bytes:
            def encode_bytes(value: Any) -> Any:
                if type(value) is bytes:
                    return value
                if isinstance(value, (bytearray, memoryview)):
                    return bytes(value)
                raise CodecError(f"expected bytes, got {type(value).__name__}")

            return encode_bytes
    if tp is typing.Any or tp is object:
        return _plain_any
    raise CodecError(f"unsupported type in codec: {tp!r}")


def _plain_any(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _record_encoder(type(value))(value)
    _check_plain(value, 0)
    return value


def _expect_enum(tp: type, value: Any) -> Any:
    if isinstance(value, tp):
        return value
    raise CodecError(f"expected {tp.__name__}, got {type(value).__name__}")


@lru_cache(maxsize=None)
def _record_encoder(cls: type) -> Converter:
    plan = [(name, _encoder(ftp)) for name, ftp in _record_fields(cls)]

    def encode_record(value: Any) -> list[Any]:
        if type(value) is not cls:
            raise CodecError(f"expected {cls.__name__}, got {type(value).__name__}")
        return [conv(getattr(value, name)) for name, conv in plan]

    return encode_record


@lru_cache(maxsize=None)
def _decoder(tp: Any) -> Converter:
    """Plain tree -> value of type ``tp``, checking every shape."""
    if tp is typing.Any or tp is object:
        return lambda value: value
    union = _union_of(tp)
    if union is not None:
        members = {tag: _record_decoder(cls) for tag, cls in union.by_tag.items()}

        def decode_union(value: Any) -> Any:
            if type(value) is not list or not value:
                raise CodecError("tagged union must be a non-empty array")
            tag = value[0]
            decode_member = members.get(tag) if type(tag) is int else None
            if decode_member is None:
                raise CodecError(f"unknown union tag {tag!r}")
            return decode_member(value[1:])

        return decode_union
    if _is_union_type(tp):
        non_none = [a for a in get_args(tp) if a is not type(None)]
        if len(non_none) != 1:
            raise CodecError(f"ambiguous union annotation {tp!r}")
        inner = _decoder(non_none[0])
        return lambda value: None if value is None else inner(value)
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])

            def decode_seq(value: Any) -> Any:
                if type(value) is not list:
                    raise CodecError("expected an array")
                return tuple([item(v) for v in value])

            return decode_seq
        items = [_decoder(a) for a in args]

        def decode_fixed(value: Any) -> Any:
            if type(value) is not list or len(value) != len(items):
                raise CodecError("fixed tuple length mismatch")
            return tuple([conv(v) for conv, v in zip(items, value)])

        return decode_fixed
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return _record_decoder(tp)
        if issubclass(tp, enum.IntEnum):
            members_by_value = {int(m): m for m in tp}

            def decode_enum(value: Any) -> Any:
                if type(value) is not int:
                    raise CodecError(f"{tp.__name__}: expected an integer")
                member = members_by_value.get(value)
                if member is None:
                    raise CodecError(f"{tp.__name__}: unknown value {value}")
                return member

            return decode_enum
        if tp is bool:
            return _expect(bool, "a boolean")
        if tp is int:
            return _check_int
        if tp is str:
            return _expect(str, "a string")
        if tp is bytes:
            return _expect(bytes, "bytes")
    raise CodecError(f"unsupported type in codec: {tp!r}")


@lru_cache(maxsize=None)
def _record_decoder(cls: type) -> Converter:
    plan = [_decoder(ftp) for _, ftp in _record_fields(cls)]
    count = len(plan)
    name = cls.__name__

    def decode_record(value: Any) -> Any:
        if type(value) is not list:
            raise CodecError(f"{name}: expected an array")
        if len(value) != count:
            raise CodecError(f"{name}: expected {count} fields, got {len(value)}")
        try:
            return cls(*[conv(v) for conv, v in zip(plan, value)])
        except CodecError:
            raise
        except (ValueError, TypeError) as exc:
            raise CodecError(f"{name}: {exc}") from exc

    return decode_record


def to_plain(value: object, tp: Any = None) -> object:
    """Turn a record (or any supported value) into a plain msgpack-able tree."""
    if tp is None:
        return _plain_any(value)
    return _encoder(tp)(value)


def from_plain(tp: Any, value: object) -> Any:
    """Rebuild a value of type ``tp`` from its plain tree, checking every shape."""
    return _decoder(tp)(value)


# --- the public encode / decode ------------------------------------------------

def encode(value: object, tp: Any = None) -> bytes:
    """Canonical bytes of a record (or of a union member when ``tp`` names the union)."""
    plain = to_plain(value, tp)
    return msgpack.packb(plain, use_bin_type=True)  # type: ignore[no-any-return]


def decode(tp: type[T], data: bytes) -> T:
    """Strictly decode canonical bytes into a value of type ``tp``."""
    return _decoder(tp)(_unpack_strict(data))  # type: ignore[no-any-return, arg-type]


def _unpack_strict(data: bytes) -> Any:
    """Unpack and check canonical form; the typed decoder then checks every type."""
    if type(data) is not bytes:
        if not isinstance(data, (bytearray, memoryview)):
            raise CodecError("expected bytes")
        data = bytes(data)
    if len(data) > MAX_ENCODED_SIZE:
        raise CodecError(f"encoded value larger than {MAX_ENCODED_SIZE} bytes")
    try:
        value = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except msgpack.ExtraData as exc:
        raise CodecError("trailing bytes after the encoded value") from exc
    except (ValueError, msgpack.UnpackException, UnicodeDecodeError, TypeError, RecursionError) as exc:
        raise CodecError(f"not a msgpack value: {exc}") from exc
    try:
        repacked = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"not a canonical value: {exc}") from exc
    if repacked != data:
        raise CodecError("non-canonical encoding")
    return value


def encode_list(values: "Sequence[object]", tp: Any = None) -> bytes:
    """Canonical bytes of a list of records (an array of their arrays)."""
    return msgpack.packb([to_plain(v, tp) for v in values], use_bin_type=True)  # type: ignore[no-any-return]


def decode_list(tp: Any, data: bytes) -> list[Any]:
    plain = _unpack_strict(data)
    if type(plain) is not list:
        raise CodecError("expected an array")
    convert = _decoder(tp)
    return [convert(v) for v in plain]


def decoder_for(tp: type[T]) -> Callable[[bytes], T]:
    return lambda data: decode(tp, data)
