"""The private record (ledger.private): grades, envelopes, commitments, canonical form, openings."""

from __future__ import annotations

import dataclasses

import pytest

from ledger import codec
from ledger.crypto import AES_GCM, ECDSA_P256, ED25519, SHA256, SM2, SM3, SM4, generate_keypair
from ledger.errors import CryptoError
from ledger.private import (
    RECORD_MAGIC,
    FieldCommitment,
    GradeSpec,
    NotAReader,
    PrivateRecordError,
    check_opening,
    decode_grant_record,
    decode_private_record,
    encode_grant_record,
    encode_private_record,
    field_commitment,
    grant_envelopes,
    merge_grants,
    open_grade,
    seal_record,
)

OWNER, PARTNER, PUBLIC_READER = generate_keypair(SM2), generate_keypair(ED25519), generate_keypair(ECDSA_P256)


def health_record(hash_algorithm=SM3):
    return seal_record(account="acct", key="visit", hash_algorithm=hash_algorithm, grades=[
        GradeSpec("public", {"clinic": "Jade Clinic"}, [OWNER.public, PARTNER.public, PUBLIC_READER.public]),
        GradeSpec("partner", {"diagnosis": "J45.901", "cost": 320}, [OWNER.public, PARTNER.public]),
        GradeSpec("owner", {"notes": {"text": "private", "tags": ["a", "b"]}}, [OWNER.public]),
    ])


@pytest.mark.parametrize(("hash_algorithm", "cipher"), [(SM3, SM4), (SHA256, AES_GCM)], ids=["sm", "classic"])
def test_cipher_follows_the_ledger_and_each_grade_has_its_own_key(hash_algorithm, cipher) -> None:
    record = health_record(hash_algorithm)
    assert record.cipher == cipher.code and record.hash_algorithm == hash_algorithm.code
    assert [g.name for g in record.grades] == ["owner", "partner", "public"]
    assert len({g.nonce for g in record.grades}) == 3
    assert open_grade(record, "partner", PARTNER.private, account="acct", key="visit").values == {
        "cost": 320, "diagnosis": "J45.901"}
    assert open_grade(record, "owner", OWNER.private, account="acct", key="visit").values == {
        "notes": {"text": "private", "tags": ["a", "b"]}}
    with pytest.raises(NotAReader):
        open_grade(record, "partner", PUBLIC_READER.private, account="acct", key="visit")
    # The partner's key for "partner" is not the key of "owner": one grade's key opens nothing else.
    partner_key_grade = next(g for g in record.grades if g.name == "partner")
    owner_grade = next(g for g in record.grades if g.name == "owner")
    forged_owner = dataclasses.replace(owner_grade, readers=partner_key_grade.readers)
    forged = dataclasses.replace(record, grades=(forged_owner, *record.grades[1:]))
    with pytest.raises(CryptoError):
        open_grade(forged, "owner", PARTNER.private, account="acct", key="visit")


def test_two_seals_of_the_same_fields_share_nothing() -> None:
    first, second = health_record(), health_record()
    for a, b in zip(first.grades, second.grades):
        assert a.ciphertext != b.ciphertext and a.nonce != b.nonce
        assert [c.digest for c in a.commitments] != [c.digest for c in b.commitments]  # fresh salts


def test_a_grade_moved_to_another_entry_does_not_decrypt() -> None:
    record = health_record()
    with pytest.raises(CryptoError):
        open_grade(record, "public", PARTNER.private, account="acct", key="other-visit")
    with pytest.raises(CryptoError):
        open_grade(record, "public", PARTNER.private, account="other-acct", key="visit")


def test_a_record_whose_commitments_lie_is_refused_by_its_reader() -> None:
    record = health_record()
    grade = next(g for g in record.grades if g.name == "public")
    lying = dataclasses.replace(grade, commitments=(FieldCommitment("clinic", b"\x00" * 32),))
    forged = dataclasses.replace(record, grades=tuple(lying if g.name == "public" else g for g in record.grades))
    # The commitments are bound as associated data, so the lie is caught at decryption already.
    with pytest.raises(CryptoError):
        open_grade(forged, "public", PARTNER.private, account="acct", key="visit")


def test_canonical_bytes_round_trip_and_other_forms_are_refused() -> None:
    record = health_record()
    data = encode_private_record(record)
    assert data.startswith(RECORD_MAGIC) and decode_private_record(data) == record
    unsorted = dataclasses.replace(record, grades=tuple(reversed(record.grades)))
    with pytest.raises(PrivateRecordError):
        encode_private_record(unsorted)
    with pytest.raises(PrivateRecordError):
        decode_private_record(RECORD_MAGIC + codec.encode(unsorted))
    with pytest.raises(PrivateRecordError):
        decode_private_record(data + b"\x00")
    with pytest.raises(PrivateRecordError):
        decode_private_record(b"JCPX" + data[4:])
    with pytest.raises(PrivateRecordError):
        decode_private_record(RECORD_MAGIC + codec.encode(dataclasses.replace(record, format=2)))
    duplicate_reader = dataclasses.replace(record.grades[0], readers=record.grades[0].readers * 2)
    with pytest.raises(PrivateRecordError):
        decode_private_record(RECORD_MAGIC + codec.encode(dataclasses.replace(
            record, grades=(duplicate_reader, *record.grades[1:]))))


def test_opening_a_commitment() -> None:
    record = health_record(SHA256)
    opened = open_grade(record, "partner", OWNER.private, account="acct", key="visit")
    salt = opened.salts["diagnosis"]
    assert check_opening(record, "partner", "diagnosis", "J45.901", salt)
    assert not check_opening(record, "partner", "diagnosis", "J45.900", salt)
    assert not check_opening(record, "partner", "diagnosis", "J45.901", bytes(32))
    assert not check_opening(record, "partner", "cost", "J45.901", salt)
    assert not check_opening(record, "public", "diagnosis", "J45.901", salt)
    assert not check_opening(record, "partner", "diagnosis", 1.5, salt)  # floats have no canonical form
    # The commitment is the ledger hash of the documented preimage.
    import hashlib
    from ledger.values import canonical_json

    preimage = codec.pack_canonical(["jadechain/field-commitment/1", "partner", "diagnosis", salt,
                                     canonical_json("J45.901")])
    digest = next(c.digest for g in record.grades if g.name == "partner" for c in g.commitments if c.name == "diagnosis")
    assert digest == hashlib.sha256(preimage).digest() == field_commitment(SHA256, "partner", "diagnosis", salt,
                                                                           canonical_json("J45.901"))


def test_grants_open_an_existing_version_and_merge() -> None:
    record = health_record()
    auditor, second = generate_keypair(SM2), generate_keypair(ED25519)
    added = grant_envelopes(record, ["partner"], OWNER.private, auditor.public)
    side = merge_grants(None, 3, added)
    assert decode_grant_record(encode_grant_record(side)) == side
    assert open_grade(record, "partner", auditor.private, account="acct", key="visit", granted=side.envelopes).values[
        "diagnosis"] == "J45.901"
    with pytest.raises(NotAReader):
        open_grade(record, "owner", auditor.private, account="acct", key="visit", granted=side.envelopes)
    bigger = merge_grants(side, 3, grant_envelopes(record, ["public"], OWNER.private, second.public))
    assert len(bigger.envelopes) == 2
    with pytest.raises(PrivateRecordError):
        merge_grants(side, 4, [])
    # Someone without the grade's key cannot make a grant for it.
    with pytest.raises(NotAReader):
        grant_envelopes(record, ["owner"], PARTNER.private, auditor.public)


@pytest.mark.parametrize("grades", [
    [],
    [GradeSpec("a", {}, [OWNER.public])],
    [GradeSpec("a", {"x": 1}, [])],
    [GradeSpec("a", {"x": 1}, [OWNER.public]), GradeSpec("a", {"y": 1}, [OWNER.public])],
    [GradeSpec("a", {"x": 1.5}, [OWNER.public])],
    [GradeSpec("", {"x": 1}, [OWNER.public])],
    [GradeSpec("a", {"": 1}, [OWNER.public])],
])
def test_bad_specs_are_clear_errors(grades) -> None:
    with pytest.raises(PrivateRecordError) as caught:
        seal_record(account="acct", key="k", hash_algorithm=SM3, grades=grades)
    assert caught.value.code == "MALFORMED_PRIVATE_RECORD"


def test_a_dishonest_writer_whose_ciphertext_disagrees_with_its_commitments_is_caught() -> None:
    """The writer encrypts one value but commits to another (authenticating the lie as associated
    data): the reader's check of every field against its commitment refuses the record, so no
    reader can be tricked into disclosing a value the ledger never committed to."""
    import os

    from ledger.crypto.symmetric import aead_encrypt
    from ledger.private import ReaderEnvelope, SealedGrade, PrivateRecord, _associated_data
    from ledger.crypto.envelope import wrap_key
    from ledger.values import canonical_json

    data_key, nonce, salt = os.urandom(16), os.urandom(12), os.urandom(32)
    commitments = (FieldCommitment("price", field_commitment(SM3, "partner", "price", salt, canonical_json(100))),)
    plaintext = codec.pack_canonical(["jadechain/private-grade/1", [["price", salt, canonical_json(999)]]])
    ciphertext = aead_encrypt(SM4, data_key, nonce, plaintext,
                              _associated_data("acct", "k", SM4.code, "partner", commitments))
    grade = SealedGrade("partner", nonce, ciphertext, commitments,
                        (ReaderEnvelope(PARTNER.public.encoded, wrap_key(PARTNER.public, data_key)),))
    record = decode_private_record(encode_private_record(PrivateRecord(1, SM4.code, SM3.code, (grade,))))
    with pytest.raises(PrivateRecordError, match="commitment"):
        open_grade(record, "partner", PARTNER.private, account="acct", key="k")


def test_sealing_is_deterministic_given_its_randomness() -> None:
    """Everything but the envelopes (whose ephemeral keys are drawn inside ledger.crypto) is a
    function of the fields and the injected randomness: same source, same ciphertexts and commitments."""
    import hashlib
    import itertools

    def source(seed: bytes):
        counter = itertools.count()
        return lambda size: hashlib.sha256(seed + next(counter).to_bytes(4, "big")).digest()[:size]

    specs = [GradeSpec("partner", {"a": 1, "b": [True, None]}, [OWNER.public]), GradeSpec("public", {"c": "x"}, [OWNER.public])]
    first = seal_record(account="acct", key="k", hash_algorithm=SM3, grades=specs, random=source(b"s"))
    second = seal_record(account="acct", key="k", hash_algorithm=SM3, grades=list(reversed(specs)), random=source(b"s"))
    third = seal_record(account="acct", key="k", hash_algorithm=SM3, grades=specs, random=source(b"t"))
    strip = lambda record: [(g.name, g.nonce, g.ciphertext, g.commitments) for g in record.grades]  # noqa: E731
    assert strip(first) == strip(second) != strip(third)
