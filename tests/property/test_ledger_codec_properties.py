"""The canonical codec: one byte form per value, strict decoding."""

from __future__ import annotations

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import CodecError
from ledger.types import (
    AccountState,
    AuthorizeUserRoles,
    ConfigureRole,
    EndpointSignature,
    EventWrite,
    InvokeContract,
    KVSet,
    KVWrite,
    LedgerPermission,
    PublishEvents,
    RegisterDataAccount,
    RegisterUser,
    RolesPolicy,
    Transaction,
    TransactionContent,
    TransactionPermission,
    UpdateAccountState,
    WritePolicy,
)
from ledger.values import TypedValue

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
small_bytes = st.binary(max_size=40)
text = st.text(max_size=20)

typed_values = st.one_of(
    text.map(TypedValue.text),
    ints.map(TypedValue.int64),
    small_bytes.map(TypedValue.bytes_),
    st.booleans().map(TypedValue.boolean),
    st.dictionaries(st.text(max_size=5), st.integers(-1000, 1000), max_size=3).map(TypedValue.json_),
    st.just(TypedValue.nil()),
)

operations = st.one_of(
    st.builds(RegisterUser, small_bytes, text),
    st.builds(RegisterDataAccount, small_bytes, st.sampled_from(WritePolicy)),
    st.builds(KVSet, text, st.lists(st.builds(KVWrite, text, typed_values, ints), max_size=3).map(tuple)),
    st.builds(PublishEvents, text, st.lists(st.builds(EventWrite, text, typed_values, ints), max_size=3).map(tuple)),
    st.builds(InvokeContract, text, text, small_bytes, ints),
    st.builds(UpdateAccountState, text, st.sampled_from(AccountState)),
    st.builds(
        ConfigureRole, text,
        st.lists(st.sampled_from(LedgerPermission), max_size=3).map(tuple), st.just(()),
        st.lists(st.sampled_from(TransactionPermission), max_size=2).map(tuple), st.just(()),
    ),
    st.builds(AuthorizeUserRoles, st.lists(text, max_size=2).map(tuple), st.lists(text, max_size=2).map(tuple),
              st.just(()), st.sampled_from(RolesPolicy)),
)

transactions = st.builds(
    Transaction,
    st.builds(TransactionContent, small_bytes, st.lists(operations, max_size=4).map(tuple), ints, small_bytes, ints),
    st.lists(st.builds(EndpointSignature, small_bytes, small_bytes), max_size=3).map(tuple),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(transactions)
def test_round_trip_is_identity(tx: Transaction) -> None:
    encoded = codec.encode(tx)
    assert codec.decode(Transaction, encoded) == tx
    assert codec.encode(codec.decode(Transaction, encoded)) == encoded


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(transactions, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_are_rejected(tx: Transaction, tail: bytes) -> None:
    try:
        codec.decode(Transaction, codec.encode(tx) + tail)
    except CodecError:
        return
    raise AssertionError("trailing bytes accepted")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(transactions, st.data())
def test_any_single_byte_change_never_decodes_to_the_same_value(tx: Transaction, data: st.DataObject) -> None:
    encoded = bytearray(codec.encode(tx))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(1, 255))
    try:
        decoded = codec.decode(Transaction, bytes(encoded))
    except CodecError:
        return
    assert decoded != tx


@given(st.integers(0, 2**32))
def test_non_minimal_integers_are_rejected(value: int) -> None:
    wide = b"\xcf" + value.to_bytes(8, "big")  # uint64 form, never minimal for these values
    if value >= 2**32:
        return
    try:
        codec.decode(int, wide)
    except CodecError:
        return
    raise AssertionError("a non-minimal integer encoding was accepted")


def test_maps_floats_and_wrong_shapes_are_rejected() -> None:
    for bad in (
        msgpack.packb({"a": 1}),
        msgpack.packb(1.5),
        msgpack.packb([1, 2]),
        msgpack.packb("text"),
    ):
        try:
            codec.decode(KVWrite, bad)
        except CodecError:
            continue
        raise AssertionError(f"accepted {bad!r}")


@given(st.lists(st.one_of(ints, text, small_bytes, st.booleans(), st.none()), max_size=6))
def test_plain_values_round_trip(values: list[object]) -> None:
    assert codec.unpack_canonical(codec.pack_canonical(values)) == values


def test_unknown_operation_tag_is_rejected() -> None:
    tx = Transaction(TransactionContent(b"", (RegisterUser(b"k", "n"),), 0, b"", 0), ())
    plain = codec.to_plain(tx)
    plain[0][1][0][0] = 999  # type: ignore[index]
    try:
        codec.decode(Transaction, msgpack.packb(plain, use_bin_type=True))
    except CodecError as error:
        assert "tag" in error.message
        return
    raise AssertionError("unknown tag accepted")


def _reference_validate_json(data: bytes) -> str | None:
    """The JSON check as first written (json.loads, then a float walk and json.dumps): None or the error."""
    import json as json_module

    from ledger.errors import CodecError as Error
    from ledger.values import _reject_floats

    try:
        parsed = json_module.loads(data.decode("utf-8"))
    except ValueError:
        return "does not parse"
    try:
        _reject_floats(parsed)
    except Error:
        return "float"
    canonical = json_module.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return None if canonical == data else "not canonical"


_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8),
                          st.floats(allow_nan=True, allow_infinity=True))
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12,
)


@given(_JSON_VALUES, st.sampled_from(["canonical", "spaced", "unsorted", "raw"]), st.binary(max_size=4))
def test_json_values_are_accepted_exactly_when_the_reference_check_accepts_them(value, form, noise) -> None:
    """The fast JSON check (one decoder that stops at floats, one shared encoder) agrees with the original."""
    import json as json_module

    from ledger.errors import CodecError as Error
    from ledger.values import ValueType, validate_typed_value

    if form == "canonical":
        text = json_module.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif form == "spaced":
        text = json_module.dumps(value, sort_keys=True, ensure_ascii=False)
    elif form == "unsorted":
        text = json_module.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json_module.dumps(value, separators=(",", ":"), ensure_ascii=False)[:3] + noise.decode("latin-1")
    data = text.encode("utf-8")
    expected = _reference_validate_json(data)
    try:
        validate_typed_value(int(ValueType.JSON), data)
        outcome = None
    except Error:
        outcome = "refused"
    assert (outcome is None) == (expected is None), (data, expected)


@given(st.integers(0, 300) | st.sampled_from([15, 16, 65_535, 65_536, 70_000]), st.binary(max_size=8))
def test_an_array_header_spliced_before_encoded_items_is_the_array_s_encoding(length: int, item: bytes) -> None:
    # Ledger sync splices a block's stored transaction encodings behind codec.array_header; the
    # lengths cover msgpack's three array forms (fixarray, array 16, array 32) at their edges.
    items = [item + index.to_bytes(3, "big") for index in range(length)]
    assert codec.array_header(length) + b"".join(codec.pack_canonical(i) for i in items) == codec.pack_canonical(items)
