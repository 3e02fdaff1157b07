"""Properties of the private-record codec and the SM2 ciphertext forms over generated inputs.

* encode ∘ decode is the identity on every well-formed record, and decode accepts only the one
  canonical form: any byte string that decodes re-encodes to exactly itself;
* the GB/T 32918.4 raw form and the GM/T 0009 DER form convert into each other losslessly;
* sealing then opening gives back every JSON value (no floats), and every value opens its
  commitment while any other value does not.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto import ECDSA_P256, ED25519, SHA256, SM2, SM3, SM4, AES_GCM, generate_keypair
from ledger.crypto.envelope import sm2_ciphertext_from_der, sm2_ciphertext_to_der
from ledger.errors import CryptoError
from ledger.private import (
    RECORD_MAGIC,
    FieldCommitment,
    GradeSpec,
    GrantEnvelope,
    GrantRecord,
    PrivateRecord,
    PrivateRecordError,
    ReaderEnvelope,
    SealedGrade,
    check_opening,
    decode_grant_record,
    decode_private_record,
    encode_grant_record,
    encode_private_record,
    open_grade,
    seal_record,
)

READERS = [generate_keypair(algorithm) for algorithm in (SM2, ED25519, ECDSA_P256, SM2, ED25519)]
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def records(draw: st.DrawFn) -> PrivateRecord:
    hash_algorithm = draw(st.sampled_from([SM3, SHA256]))
    cipher = draw(st.sampled_from([SM4, AES_GCM]))
    grades = []
    for name in sorted(draw(st.sets(NAMES, min_size=1, max_size=4))):
        fields = sorted(draw(st.sets(NAMES, min_size=1, max_size=4)))
        readers = sorted(draw(st.sets(st.sampled_from([r.public.encoded for r in READERS]), min_size=1)))
        grades.append(SealedGrade(
            name,
            draw(st.binary(min_size=12, max_size=12)),
            draw(st.binary(min_size=16, max_size=80)),
            tuple(FieldCommitment(f, draw(st.binary(min_size=32, max_size=32))) for f in fields),
            tuple(ReaderEnvelope(r, draw(st.binary(min_size=1, max_size=120))) for r in readers),
        ))
    return PrivateRecord(1, cipher.code, hash_algorithm.code, tuple(grades))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_record_round_trips(record: PrivateRecord) -> None:
    data = encode_private_record(record)
    assert decode_private_record(data) == record
    assert encode_private_record(decode_private_record(data)) == data


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.data())
def test_only_the_canonical_form_decodes(record: PrivateRecord, data: st.DataObject) -> None:
    encoded = bytearray(encode_private_record(record))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(RECORD_MAGIC), len(encoded)))
    for candidate in (bytes(encoded), bytes(encoded[:cut])):
        try:
            decoded = decode_private_record(candidate)
        except PrivateRecordError:
            continue
        assert encode_private_record(decoded) == candidate


@settings(max_examples=100)
@given(st.integers(0, 10**6), st.lists(
    st.tuples(st.sampled_from(["a", "b", "public"]), st.sampled_from([r.public.encoded for r in READERS]),
              st.binary(min_size=1, max_size=64)), min_size=0, max_size=6, unique_by=lambda t: (t[0], t[1])))
def test_grant_record_round_trips(version: int, items: list[tuple[str, bytes, bytes]]) -> None:
    grants = GrantRecord(1, version, tuple(GrantEnvelope(*item) for item in sorted(items)))
    assert decode_grant_record(encode_grant_record(grants)) == grants


@settings(max_examples=200)
@given(st.binary(min_size=64, max_size=64), st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=300))
def test_sm2_raw_and_der_forms_convert_losslessly(point: bytes, c3: bytes, c2: bytes) -> None:
    raw = b"\x04" + point + c3 + c2
    assert sm2_ciphertext_from_der(sm2_ciphertext_to_der(raw)) == raw


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_der_reader(data: bytes) -> None:
    try:
        raw = sm2_ciphertext_from_der(data)
    except CryptoError:
        return
    assert sm2_ciphertext_to_der(raw) == data


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(NAMES, JSON_VALUES, min_size=1, max_size=5), st.sampled_from([SM3, SHA256]), JSON_VALUES)
def test_seal_open_round_trip_and_openings(fields: dict[str, object], hash_algorithm: object, other: object) -> None:
    reader = READERS[1]
    record = seal_record(account="acct", key="k", hash_algorithm=hash_algorithm,  # type: ignore[arg-type]
                         grades=[GradeSpec("g", fields, [reader.public])])
    opened = open_grade(decode_private_record(encode_private_record(record)), "g", reader.private,
                        account="acct", key="k")
    assert opened.values == fields
    for name, value in fields.items():
        assert check_opening(record, "g", name, value, opened.salts[name])
        if other != value:
            assert not check_opening(record, "g", name, other, opened.salts[name])
