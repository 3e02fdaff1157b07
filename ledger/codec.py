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

@lru_cache(maxsize=None)
def _record_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = get_type_hints(cls, include_extras=False)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _union_of(tp: Any) -> _Union | None:
    try:
        return _UNIONS.get(tp)
    except TypeError:  # unhashable annotation objects are never unions we know
        return None


def to_plain(value: object, tp: Any = None) -> object:
    """Turn a record (or any supported value) into a plain msgpack-able tree."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = [to_plain(getattr(value, name), ftp) for name, ftp in _record_fields(cls)]
        union = _union_of(tp) if tp is not None else None
        if union is not None:
            tag = union.by_type.get(cls)
            if tag is None:
                raise CodecError(f"{cls.__name__} is not a member of the union")
            return [tag, *fields]
        return fields
    if isinstance(value, enum.IntEnum):
        return int(value)
    if isinstance(value, (tuple, list)):
        item_tp = _item_type(tp)
        return [to_plain(v, item_tp) for v in value]
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _item_type(tp: Any) -> Any:
    if tp is None:
        return None
    args = get_args(_strip_optional(tp))
    return args[0] if args else None


def _strip_optional(tp: Any) -> Any:
    if _is_union_type(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_union_type(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def from_plain(tp: Any, value: object) -> Any:
    """Rebuild a value of type ``tp`` from its plain tree, checking every shape."""
    if tp is typing.Any or tp is object:
        return value
    union = _union_of(tp)
    if union is not None:
        if not isinstance(value, list) or not value:
            raise CodecError("tagged union must be a non-empty array")
        tag = value[0]
        if type(tag) is not int or tag not in union.by_tag:
            raise CodecError(f"unknown union tag {tag!r}")
        return _record_from_plain(union.by_tag[tag], value[1:])
    if _is_union_type(tp):
        args = get_args(tp)
        non_none = [a for a in args if a is not type(None)]
        if value is None and type(None) in args:
            return None
        if len(non_none) == 1:
            return from_plain(non_none[0], value)
        raise CodecError("ambiguous union annotation")
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise CodecError("expected an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in value)
        if len(args) != len(value):
            raise CodecError("fixed tuple length mismatch")
        return tuple(from_plain(a, v) for a, v in zip(args, value))
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, list):
                raise CodecError(f"{tp.__name__}: expected an array")
            return _record_from_plain(tp, value)
        if issubclass(tp, enum.IntEnum):
            if type(value) is not int:
                raise CodecError(f"{tp.__name__}: expected an integer")
            try:
                return tp(value)
            except ValueError as exc:
                raise CodecError(f"{tp.__name__}: unknown value {value}") from exc
        if tp is bool:
            if type(value) is not bool:
                raise CodecError("expected a boolean")
            return value
        if tp is int:
            if type(value) is not int:
                raise CodecError("expected an integer")
            return value
        if tp is str:
            if type(value) is not str:
                raise CodecError("expected a string")
            return value
        if tp is bytes:
            if type(value) is not bytes:
                raise CodecError("expected bytes")
            return value
    raise CodecError(f"unsupported type in codec: {tp!r}")


def _record_from_plain(cls: type, values: list[Any]) -> Any:
    fields = _record_fields(cls)
    if len(values) != len(fields):
        raise CodecError(f"{cls.__name__}: expected {len(fields)} fields, got {len(values)}")
    kwargs = {name: from_plain(ftp, v) for (name, ftp), v in zip(fields, values)}
    try:
        return cls(**kwargs)
    except CodecError:
        raise
    except (ValueError, TypeError) as exc:
        raise CodecError(f"{cls.__name__}: {exc}") from exc


# --- the public encode / decode ------------------------------------------------

def encode(value: object, tp: Any = None) -> bytes:
    """Canonical bytes of a record (or of a union member when ``tp`` names the union)."""
    return pack_canonical(to_plain(value, tp))


def decode(tp: type[T] | Any, data: bytes) -> T:
    """Strictly decode canonical bytes into a value of type ``tp``."""
    return from_plain(tp, unpack_canonical(data))  # type: ignore[no-any-return]


def encode_list(values: "Sequence[object]", tp: Any = None) -> bytes:
    """Canonical bytes of a list of records (an array of their arrays)."""
    return pack_canonical([to_plain(v, tp) for v in values])


def decode_list(tp: Any, data: bytes) -> list[Any]:
    plain = unpack_canonical(data)
    if not isinstance(plain, list):
        raise CodecError("expected an array")
    return [from_plain(tp, v) for v in plain]


def decoder_for(tp: type[T]) -> Callable[[bytes], T]:
    return lambda data: decode(tp, data)
