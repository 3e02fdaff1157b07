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
import threading
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

_PACKERS = threading.local()


def _packb(value: Any) -> bytes:
    """``msgpack.packb(value, use_bin_type=True)`` through a per-thread reusable Packer.

    Same bytes as ``packb`` (same options); building a Packer per call costs about twice
    the packing of a small record, and a Packer is not safe to share between threads.
    """
    return _packer().pack(value)  # type: ignore[no-any-return]


def _packer() -> msgpack.Packer:
    """This thread's reusable Packer (``use_bin_type=True``)."""
    try:
        packer: msgpack.Packer = _PACKERS.packer
    except AttributeError:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    return packer


# --- raw canonical msgpack ----------------------------------------------------

def pack_canonical(value: object) -> bytes:
    """Encode a tree of None/bool/int/str/bytes/list/tuple as canonical msgpack."""
    if type(value) is list:
        # A flat list of byte strings, strings and integers (hashes, encodings, indexes)
        # needs no recursive walk: check each item's type and range here.
        for item in value:
            kind = type(item)
            if kind is bytes or kind is str or (kind is int and _INT_MIN <= item <= _INT_MAX):
                continue
            break
        else:
            return _packb(value)
    _check_plain(value, 0)
    return _packb(value)


def pack_byte_rows(rows: list[list[bytes]]) -> bytes:
    """Canonical bytes of a list of rows of byte strings (e.g. a write set's key/value pairs).

    The same bytes as :func:`pack_canonical`, with a flat type check instead of the walk.
    """
    for row in rows:
        if type(row) is not list or not all(type(item) is bytes for item in row):
            return pack_canonical(rows)
    return _packb(rows)


def array_header(length: int) -> bytes:
    """The canonical msgpack header of an array of ``length`` items (to splice encoded items into one)."""
    return _packer().pack_array_header(length)  # type: ignore[no-any-return]


def unpack_canonical(data: object) -> Any:
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
    if _packb(value) != data:
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


def _optional_tail(cls: type) -> tuple[object, ...]:
    """Defaults of a record's trailing fields named in ``__codec_optional_tail__``.

    Such a field is left out of the encoding when it holds its default (and must be:
    one canonical form), so a field added at the end keeps every older encoding valid.
    """
    names: tuple[str, ...] = getattr(cls, "__codec_optional_tail__", ())
    if not names:
        return ()
    fields = dataclasses.fields(cls)
    hints = dict(_record_fields(cls))
    if tuple(f.name for f in fields[-len(names):]) != names:
        raise CodecError(f"{cls.__name__}: optional fields must come last")
    return tuple(_encoder(hints[f.name])(f.default) for f in fields[-len(names):])


def _trim_optional_tail(items: list[Any], defaults: tuple[object, ...]) -> list[Any]:
    first_optional = len(items) - len(defaults)
    while len(items) > first_optional and items[-1] == defaults[len(items) - 1 - first_optional]:
        items.pop()
    return items


def _pad_optional_tail(value: Any, defaults: tuple[object, ...], count: int, name: str) -> Any:
    """Fill left-out optional fields with their defaults; refuse a default written out (not canonical)."""
    if type(value) is not list or not count - len(defaults) <= len(value) <= count:
        return value
    first_optional = count - len(defaults)
    if len(value) > first_optional and value[-1] == defaults[len(value) - 1 - first_optional]:
        raise CodecError(f"{name}: a trailing optional field holds its default (not canonical)")
    return value + list(defaults[len(value) - first_optional:])


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
    """A record's encoder, generated once per class as straight-line code.

    The field reads and the checks of scalar fields (int, bool, str, bytes) are inlined
    (one call per record instead of one per field); other fields call their converter.
    It returns exactly what the per-field converters would, and raises the same errors.
    """
    fields = _record_fields(cls)
    namespace: dict[str, Any] = {
        "cls": cls, "CodecError": CodecError, "_INT_MIN": _INT_MIN, "_INT_MAX": _INT_MAX,
        "_check_int": _check_int, "_bad": _bad_scalar, "_encode_bytes_like": _encode_bytes_like,
    }
    items: list[str] = []
    for position, (name, ftp) in enumerate(fields):
        if not name.isidentifier():
            raise CodecError(f"unsupported field name {name!r}")
        read = f"value.{name}"
        if ftp is int:
            items.append(f"(_v if type(_v := {read}) is int and _INT_MIN <= _v <= _INT_MAX else _check_int(_v))")
        elif ftp is bool:
            items.append(f"(_v if type(_v := {read}) is bool else _bad(_v, 'a boolean'))")
        elif ftp is str:
            items.append(f"(_v if type(_v := {read}) is str else _bad(_v, 'a string'))")
        elif ftp is bytes:
            items.append(f"(_v if type(_v := {read}) is bytes else _encode_bytes_like(_v))")
        else:
            namespace[f"_conv{position}"] = _encoder(ftp)
            items.append(f"_conv{position}({read})")
    tail = _optional_tail(cls)
    namespace["_tail"] = tail
    namespace["_trim"] = _trim_optional_tail
    source = (
        "def encode_record(value):\n"
        "    if type(value) is not cls:\n"
        "        raise CodecError(f'expected {cls.__name__}, got {type(value).__name__}')\n"
        + (f"    return _trim([{', '.join(items)}], _tail)\n" if tail else f"    return [{', '.join(items)}]\n")
    )
    exec(compile(source, f"<codec encoder of {cls.__name__}>", "exec"), namespace)
    return namespace["encode_record"]  # type: ignore[no-any-return]


def _bad_scalar(value: Any, label: str) -> Any:
    raise CodecError(f"expected {label}, got {type(value).__name__}")


def _encode_bytes_like(value: Any) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise CodecError(f"expected bytes, got {type(value).__name__}")


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
    """A record's decoder, generated once per class as straight-line code (see the encoder).

    Checks exactly what the per-field decoders check, in the same order, with the same errors.
    """
    fields = _record_fields(cls)
    namespace: dict[str, Any] = {
        "cls": cls, "CodecError": CodecError, "_INT_MIN": _INT_MIN, "_INT_MAX": _INT_MAX,
        "_check_int": _check_int, "_bad": _bad_scalar, "name": cls.__name__, "count": len(fields),
        "_tail": _optional_tail(cls), "_pad": _pad_optional_tail,
    }
    items: list[str] = []
    for position, (_, ftp) in enumerate(fields):
        read = f"value[{position}]"
        if ftp is int:
            items.append(f"(_v if type(_v := {read}) is int and _INT_MIN <= _v <= _INT_MAX else _check_int(_v))")
        elif ftp is bool:
            items.append(f"(_v if type(_v := {read}) is bool else _bad(_v, 'a boolean'))")
        elif ftp is str:
            items.append(f"(_v if type(_v := {read}) is str else _bad(_v, 'a string'))")
        elif ftp is bytes:
            items.append(f"(_v if type(_v := {read}) is bytes else _bad(_v, 'bytes'))")
        else:
            namespace[f"_conv{position}"] = _decoder(ftp)
            items.append(f"_conv{position}({read})")
    source = (
        "def decode_record(value):\n"
        "    if type(value) is not list:\n"
        "        raise CodecError(f'{name}: expected an array')\n"
        + (
            "    value = _pad(value, _tail, count, name)\n" if _optional_tail(cls) else ""
        ) +
        "    if len(value) != count:\n"
        "        raise CodecError(f'{name}: expected {count} fields, got {len(value)}')\n"
        "    try:\n"
        f"        return cls({', '.join(items)})\n"
        "    except CodecError:\n"
        "        raise\n"
        "    except (ValueError, TypeError) as exc:\n"
        "        raise CodecError(f'{name}: {exc}') from exc\n"
    )
    exec(compile(source, f"<codec decoder of {cls.__name__}>", "exec"), namespace)
    return namespace["decode_record"]  # type: ignore[no-any-return]


def pack_unchecked(value: object) -> bytes:
    """Canonical msgpack of a plain tree the caller built from checked parts.

    For hot paths whose value is canonical by construction (e.g. a list of three
    strings); anything else goes through :func:`pack_canonical`.
    """
    return _packb(value)


def to_plain(value: object, tp: Any = None) -> object:
    """Turn a record (or any supported value) into a plain msgpack-able tree."""
    if tp is None:
        record_encoder = _RECORD_ENCODERS[type(value)]
        return _plain_any(value) if record_encoder is None else record_encoder(value)
    return _encoder(tp)(value)


# --- the public encode / decode ------------------------------------------------

def encode(value: object, tp: Any = None) -> bytes:
    """Canonical bytes of a record (or of a union member when ``tp`` names the union)."""
    if tp is None:
        record_encoder = _RECORD_ENCODERS[type(value)]
        if record_encoder is None:
            return _packb(_plain_any(value))
        return _packb(record_encoder(value))
    return _packb(_encoder(tp)(value))


class _RecordEncoders(dict[type, Converter]):
    """Record encoders by exact class, filled on first use (the fast path of :func:`encode`)."""

    def __missing__(self, cls: type) -> Converter | None:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            return None
        encoder = _record_encoder(cls)
        self[cls] = encoder
        return encoder


_RECORD_ENCODERS = _RecordEncoders()


def decode(tp: type[T], data: object) -> T:
    """Strictly decode canonical bytes into a value of type ``tp``."""
    return _decoder(tp)(_unpack_strict(data))  # type: ignore[no-any-return, arg-type]


def _unpack_strict(data: object) -> Any:
    """Unpack and check canonical form; the typed decoder then checks every type."""
    value = _unpack_loose(data)
    try:
        repacked = _packb(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"not a canonical value: {exc}") from exc
    if repacked != data:
        raise CodecError("non-canonical encoding")
    return value


def decode_split(tp: type[T], data: object) -> tuple[T, tuple[bytes, ...]]:
    """Strictly decode a record, and return the canonical bytes of each of its fields too.

    Exactly as strict as :func:`decode` (the canonical check compares the same bytes: a
    record of n < 16 fields is the fixarray header ``0x90 | n`` followed by its fields'
    encodings). The field bytes come free with that check; a transaction's first field is
    its content, whose hash is the transaction hash, so ingress need not re-encode it.
    """
    value = _unpack_loose(data)
    if type(value) is not list or len(value) > 15:
        return decode(tp, data), tuple(_packb(v) for v in value) if type(value) is list else ()
    try:
        parts = tuple([_packb(v) for v in value])
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"not a canonical value: {exc}") from exc
    if bytes((0x90 | len(parts),)) + b"".join(parts) != data:
        raise CodecError("non-canonical encoding")
    return _decoder(tp)(value), parts  # type: ignore[arg-type]


def _unpack_loose(data: object) -> Any:
    """Unpack msgpack (no maps keys but str, no trailing bytes); canonical form not yet checked."""
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
    return value


def encode_list(values: "Sequence[object]", tp: Any = None) -> bytes:
    """Canonical bytes of a list of records (an array of their arrays)."""
    return _packb([to_plain(v, tp) for v in values])


def decode_list(tp: Any, data: object) -> list[Any]:
    plain = _unpack_strict(data)
    if type(plain) is not list:
        raise CodecError("expected an array")
    convert = _decoder(tp)
    return [convert(v) for v in plain]


def decoder_for(tp: type[T]) -> Callable[[bytes], T]:
    return lambda data: decode(tp, data)
