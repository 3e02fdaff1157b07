"""Private records: encrypted data-account values with per-reader envelopes, still provable.

The ledger does not change for them. A private record is an ordinary ``BYTES`` entry value
whose bytes are a canonical, versioned :class:`PrivateRecord`; validators replicate and prove
it like any other value, and only key holders can read it. All the cryptography runs on the
client:

* A record has one or more **grades** (e.g. ``public`` / ``partner`` / ``owner``). Each grade
  holds some named fields, encrypted together with a **fresh data key** of its own (SM4-GCM on
  national-crypto ledgers, AES-256-GCM on classic ones) and a random 96-bit nonce.
* The grade's data key is **wrapped** for each of its readers with their ledger public key
  (:mod:`ledger.crypto.envelope`: SM2 encryption, X25519 sealed box, ECIES P-256). The list of
  reader envelopes is part of the stored record.
* Each field carries a **commitment** ``H(pack("jadechain/field-commitment/1", grade, field,
  salt, canonical JSON of the value))`` with the ledger's hash and a 32-byte secret salt kept
  inside the ciphertext. A reader can later hand a third party one field's value and salt (a
  *disclosure*): the proof bundle of the entry shows the commitment is on the ledger, the
  opening shows the value is the one committed, and nothing about the other fields leaks.
* **Grant** adds envelopes for an existing version without re-encrypting it; they live in a side
  entry, :func:`grants_key` (``KEY#grants/VERSION``), whose latest version is the full list.
  **Revoke** writes a new version under fresh data keys without the revoked reader; what the
  reader already decrypted cannot be taken back.

What stays visible to everyone: grade names, field names, the number of readers and their
public keys, sizes, and the write history. Values are hidden.

Everything here is pure: no I/O, and randomness only for keys, nonces and salts (drawn from
a source the caller may inject; wrapping draws its own ephemeral keys in ``ledger.crypto``). Encoding and
decoding are canonical (one byte form per record; decoding rejects any other).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Mapping, Protocol, Sequence

from ledger import codec
from ledger.crypto.envelope import unwrap_key, wrap_key
from ledger.crypto.hashing import DIGEST_SIZES, hasher
from ledger.crypto.keys import PrivateKey, PublicKey
from ledger.crypto.registry import AES_GCM, SHA256, SM3, SM4, CryptoAlgorithm, algorithm_by_code
from ledger.crypto.symmetric import GCM_NONCE_SIZE, aead_decrypt, aead_encrypt, aead_key_size, random_bytes
from ledger.errors import CodecError, CryptoError, JadechainError, ProofError
from ledger.values import canonical_json

__all__ = [
    "RECORD_MAGIC",
    "GRANTS_MAGIC",
    "FORMAT_VERSION",
    "DISCLOSURE_FORMAT",
    "NotAReader",
    "KeyUnwrapper",
    "Reader",
    "PrivateRecordError",
    "ReaderEnvelope",
    "FieldCommitment",
    "SealedGrade",
    "PrivateRecord",
    "GrantEnvelope",
    "GrantRecord",
    "GradeSpec",
    "OpenedGrade",
    "DisclosureReport",
    "cipher_for_hash",
    "grants_key",
    "event_binding",
    "encode_private_record",
    "decode_private_record",
    "is_private_record",
    "encode_grant_record",
    "decode_grant_record",
    "field_commitment",
    "seal_record",
    "open_grade",
    "unwrap_grade_key",
    "grant_envelopes",
    "merge_grants",
    "make_disclosure",
    "check_opening",
    "verify_disclosure",
]

RECORD_MAGIC: Final = b"JCPR"
"""First bytes of a private record value, so a reader tells it from an ordinary BYTES value."""
GRANTS_MAGIC: Final = b"JCPG"
"""First bytes of a grant side entry."""
FORMAT_VERSION: Final = 1
DISCLOSURE_FORMAT: Final = "jadechain-disclosure/1"
SALT_SIZE: Final = 32
MAX_NAME_BYTES: Final = 128
_COMMITMENT_DOMAIN: Final = "jadechain/field-commitment/1"
_AAD_DOMAIN: Final = "jadechain/private-record/1"
_PLAINTEXT_DOMAIN: Final = "jadechain/private-grade/1"


class PrivateRecordError(JadechainError):
    """A value that is not a well-formed private record (or grant record)."""

    code = "MALFORMED_PRIVATE_RECORD"
    http_status = 400


class NotAReader(JadechainError):
    """The caller's key has no envelope for this grade."""

    code = "NOT_A_READER"
    http_status = 403


class KeyUnwrapper(Protocol):
    """A reader whose private key is held elsewhere (e.g. in the control plane's custody).

    It names its public key and opens envelopes addressed to it, returning the data key.
    """

    def public_key(self) -> PublicKey: ...

    def unwrap(self, wrapped_key: bytes) -> bytes: ...


Reader = PrivateKey | KeyUnwrapper
"""Who opens an envelope: a private key held here, or an unwrapper that holds it elsewhere."""


def _unwrap(reader: Reader, wrapped: bytes) -> bytes:
    if isinstance(reader, PrivateKey):
        return unwrap_key(reader, wrapped)
    return reader.unwrap(wrapped)


# --- wire types ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderEnvelope:
    """A grade's data key, wrapped for one reader."""

    reader: bytes
    """The reader's encoded public key (``code ‖ raw``)."""
    wrapped_key: bytes
    """The data key encrypted to that key (scheme chosen by the key's algorithm)."""


@dataclass(frozen=True, slots=True)
class FieldCommitment:
    """The commitment to one field of a grade."""

    name: str
    """The field's name (visible)."""
    digest: bytes
    """Raw ledger-hash digest of (domain, grade, field, salt, canonical JSON value)."""


@dataclass(frozen=True, slots=True)
class SealedGrade:
    """One grade of a record: its fields encrypted under one data key, and who can read them."""

    name: str
    """The grade's name (visible), e.g. ``"public"``, ``"partner"``, ``"owner"``."""
    nonce: bytes
    """The 12-byte GCM nonce."""
    ciphertext: bytes
    """AEAD ciphertext ‖ tag of the grade's canonical plaintext."""
    commitments: tuple[FieldCommitment, ...]
    """One per field, sorted by field name."""
    readers: tuple[ReaderEnvelope, ...]
    """One per reader, sorted by encoded public key."""


@dataclass(frozen=True, slots=True)
class PrivateRecord:
    """The value stored on the ledger (after :data:`RECORD_MAGIC`)."""

    format: int
    """:data:`FORMAT_VERSION`; a decoder refuses formats it does not know."""
    cipher: int
    """Code of the AEAD: SM4 (GCM) or AES (GCM)."""
    hash_algorithm: int
    """Code of the hash used by the commitments (the ledger's: SM3 or SHA-256)."""
    grades: tuple[SealedGrade, ...]
    """Sorted by grade name, names unique."""


@dataclass(frozen=True, slots=True)
class GrantEnvelope:
    """An envelope added to an existing record version after it was written."""

    grade: str
    reader: bytes
    wrapped_key: bytes


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """The value of a grant side entry: every envelope granted for one record version."""

    format: int
    record_version: int
    """The version of the record these envelopes open."""
    envelopes: tuple[GrantEnvelope, ...]
    """Sorted by (grade, reader), unique."""


# --- canonical encoding -------------------------------------------------------------------------------


def cipher_for_hash(hash_algorithm: CryptoAlgorithm) -> CryptoAlgorithm:
    """SM4-GCM on national-crypto ledgers (SM3), AES-256-GCM on classic ones (SHA-256)."""
    if hash_algorithm == SM3:
        return SM4
    if hash_algorithm == SHA256:
        return AES_GCM
    raise CryptoError(f"no private-record cipher for a {hash_algorithm.name} ledger")


def grants_key(key: str, version: int) -> str:
    """The side entry holding the envelopes granted later for ``key`` at ``version``."""
    return f"{key}#grants/{version}"


def event_binding(topic: str) -> str:
    """What a private event's ciphertext is bound to in place of an entry key: its topic.

    An event's sequence number is assigned when it commits, so the binding names the topic only.
    """
    return f"event:{topic}"


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise PrivateRecordError(f"{what} must be a non-empty string of at most {MAX_NAME_BYTES} bytes")
    return name


def _check_reader(encoded: bytes) -> PublicKey:
    try:
        return PublicKey.from_encoded(encoded)
    except JadechainError as error:
        raise PrivateRecordError(f"reader is not a valid public key: {error.message}") from None


def _validate_record(record: PrivateRecord) -> None:
    if record.format != FORMAT_VERSION:
        raise PrivateRecordError(f"unknown private record format {record.format}")
    if record.cipher not in (SM4.code, AES_GCM.code):
        raise PrivateRecordError(f"unknown cipher code {record.cipher:#06x}")
    if record.hash_algorithm not in (SM3.code, SHA256.code):
        raise PrivateRecordError(f"unknown commitment hash code {record.hash_algorithm:#06x}")
    digest_size = DIGEST_SIZES[algorithm_by_code(record.hash_algorithm)]
    if not record.grades:
        raise PrivateRecordError("a private record has at least one grade")
    names = [_check_name(g.name, "grade name") for g in record.grades]
    if names != sorted(set(names)):
        raise PrivateRecordError("grades must be sorted by name and unique")
    for grade in record.grades:
        if len(grade.nonce) != GCM_NONCE_SIZE:
            raise PrivateRecordError(f"grade {grade.name!r}: nonce must be {GCM_NONCE_SIZE} bytes")
        if len(grade.ciphertext) < 16:
            raise PrivateRecordError(f"grade {grade.name!r}: ciphertext shorter than its tag")
        fields = [_check_name(c.name, "field name") for c in grade.commitments]
        if not fields or fields != sorted(set(fields)):
            raise PrivateRecordError(f"grade {grade.name!r}: fields must be present, sorted and unique")
        if any(len(c.digest) != digest_size for c in grade.commitments):
            raise PrivateRecordError(f"grade {grade.name!r}: commitment of the wrong size")
        readers = [e.reader for e in grade.readers]
        if not readers or readers != sorted(set(readers)):
            raise PrivateRecordError(f"grade {grade.name!r}: readers must be present, sorted and unique")
        for envelope in grade.readers:
            _check_reader(envelope.reader)
            if not envelope.wrapped_key:
                raise PrivateRecordError(f"grade {grade.name!r}: empty envelope")


def encode_private_record(record: PrivateRecord) -> bytes:
    """The canonical bytes stored as the entry value: magic ‖ canonical encoding."""
    _validate_record(record)
    return RECORD_MAGIC + codec.encode(record)


def is_private_record(data: bytes) -> bool:
    """Whether a BYTES value claims to be a private record (it may still be malformed)."""
    return data[:len(RECORD_MAGIC)] == RECORD_MAGIC


def decode_private_record(data: bytes) -> PrivateRecord:
    """Parse and check a stored value; PrivateRecordError for anything but the canonical form."""
    if not is_private_record(data):
        raise PrivateRecordError("not a private record (no JCPR magic)")
    try:
        record = codec.decode(PrivateRecord, bytes(data[len(RECORD_MAGIC):]))
    except CodecError as error:
        raise PrivateRecordError(f"private record does not decode: {error.message}") from None
    _validate_record(record)
    return record


def _validate_grants(grants: GrantRecord) -> None:
    if grants.format != FORMAT_VERSION:
        raise PrivateRecordError(f"unknown grant record format {grants.format}")
    if grants.record_version < 0:
        raise PrivateRecordError("grant record names a negative version")
    order = [(e.grade, e.reader) for e in grants.envelopes]
    if order != sorted(set(order)):
        raise PrivateRecordError("grant envelopes must be sorted by (grade, reader) and unique")
    for envelope in grants.envelopes:
        _check_name(envelope.grade, "grade name")
        _check_reader(envelope.reader)
        if not envelope.wrapped_key:
            raise PrivateRecordError("empty grant envelope")


def encode_grant_record(grants: GrantRecord) -> bytes:
    _validate_grants(grants)
    return GRANTS_MAGIC + codec.encode(grants)


def decode_grant_record(data: bytes) -> GrantRecord:
    if data[:len(GRANTS_MAGIC)] != GRANTS_MAGIC:
        raise PrivateRecordError("not a grant record (no JCPG magic)")
    try:
        grants = codec.decode(GrantRecord, bytes(data[len(GRANTS_MAGIC):]))
    except CodecError as error:
        raise PrivateRecordError(f"grant record does not decode: {error.message}") from None
    _validate_grants(grants)
    return grants


# --- sealing and opening -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradeSpec:
    """What to seal in one grade: its fields (JSON values, no floats) and its readers."""

    name: str
    fields: Mapping[str, object]
    readers: Sequence[PublicKey]


@dataclass(frozen=True)
class OpenedGrade:
    """A decrypted grade: the values, and the salts a reader needs to disclose one of them."""

    name: str
    values: dict[str, object]
    salts: dict[str, bytes] = field(repr=False)


def field_commitment(hash_algorithm: CryptoAlgorithm, grade: str, name: str, salt: bytes, value_json: bytes) -> bytes:
    """The raw digest committing to one field's canonical JSON bytes under a secret salt."""
    return hasher(hash_algorithm)(codec.pack_canonical([_COMMITMENT_DOMAIN, grade, name, salt, value_json]))


def _associated_data(account: str, key: str, cipher: int, grade: str, commitments: Sequence[FieldCommitment]) -> bytes:
    """Binds a grade's ciphertext to its place (account, key, grade) and its commitments."""
    return codec.pack_canonical(
        [_AAD_DOMAIN, account, key, cipher, grade, [[c.name, c.digest] for c in commitments]])


def _envelopes(readers: Sequence[PublicKey], data_key: bytes) -> tuple[ReaderEnvelope, ...]:
    unique = {reader.encoded: reader for reader in readers}
    if not unique:
        raise PrivateRecordError("a grade needs at least one reader")
    return tuple(ReaderEnvelope(encoded, wrap_key(unique[encoded], data_key)) for encoded in sorted(unique))


def seal_record(
    *, account: str, key: str, hash_algorithm: CryptoAlgorithm, grades: Sequence[GradeSpec],
    random: Callable[[int], bytes] = random_bytes,
) -> PrivateRecord:
    """Encrypt every grade under a fresh data key and wrap that key for each of its readers.

    Client-side only (never run by the executor): data keys, nonces and salts come from
    ``random`` (the operating system's CSPRNG unless a test injects its own source).
    """
    cipher = cipher_for_hash(hash_algorithm)
    specs = sorted(grades, key=lambda spec: spec.name)
    if not specs or len({s.name for s in specs}) != len(specs):
        raise PrivateRecordError("a private record needs at least one grade, names unique")
    sealed: list[SealedGrade] = []
    for spec in specs:
        _check_name(spec.name, "grade name")
        if not spec.fields:
            raise PrivateRecordError(f"grade {spec.name!r} has no fields")
        rows: list[list[object]] = []
        commitments: list[FieldCommitment] = []
        for name in sorted(spec.fields):
            _check_name(name, "field name")
            try:
                value_json = canonical_json(spec.fields[name])
            except (CodecError, TypeError, ValueError) as error:
                raise PrivateRecordError(f"field {name!r}: not a JSON value without floats ({error})") from None
            salt = random(SALT_SIZE)
            rows.append([name, salt, value_json])
            commitments.append(FieldCommitment(name, field_commitment(hash_algorithm, spec.name, name, salt, value_json)))
        data_key = random(aead_key_size(cipher))
        nonce = random(GCM_NONCE_SIZE)
        plaintext = codec.pack_canonical([_PLAINTEXT_DOMAIN, rows])
        ciphertext = aead_encrypt(cipher, data_key, nonce, plaintext,
                                  _associated_data(account, key, cipher.code, spec.name, commitments))
        sealed.append(SealedGrade(spec.name, nonce, ciphertext, tuple(commitments), _envelopes(spec.readers, data_key)))
    record = PrivateRecord(FORMAT_VERSION, cipher.code, hash_algorithm.code, tuple(sealed))
    _validate_record(record)
    return record


def _grade(record: PrivateRecord, name: str) -> SealedGrade:
    for grade in record.grades:
        if grade.name == name:
            return grade
    raise PrivateRecordError(f"the record has no grade {name!r}", grades=[g.name for g in record.grades])


def unwrap_grade_key(
    record: PrivateRecord, grade_name: str, reader: Reader, granted: Sequence[GrantEnvelope] = (),
) -> bytes:
    """The grade's data key, from the reader's envelope in the record or in a later grant."""
    grade = _grade(record, grade_name)
    own = reader.public_key().encoded
    candidates = [e.wrapped_key for e in grade.readers if e.reader == own]
    candidates += [g.wrapped_key for g in granted if g.grade == grade_name and g.reader == own]
    if not candidates:
        raise NotAReader(f"no envelope for this key in grade {grade_name!r}", grade=grade_name)
    cipher = algorithm_by_code(record.cipher)
    last: CryptoError | None = None
    for wrapped in candidates:
        try:
            data_key = _unwrap(reader, wrapped)
        except CryptoError as error:
            last = error
            continue
        if len(data_key) == aead_key_size(cipher):
            return data_key
    raise CryptoError(f"grade {grade_name!r}: the envelope for this key does not open"
                      + (f" ({last.message})" if last else ""))


def open_grade(
    record: PrivateRecord, grade_name: str, reader: Reader, *, account: str, key: str,
    granted: Sequence[GrantEnvelope] = (),
) -> OpenedGrade:
    """Decrypt one grade with the reader's key and check every field against its commitment.

    A record whose plaintext does not match its commitments (a dishonest or buggy writer) is
    refused here, so whatever a reader later discloses is what the ledger committed to.
    """
    grade = _grade(record, grade_name)
    data_key = unwrap_grade_key(record, grade_name, reader, granted)
    cipher = algorithm_by_code(record.cipher)
    plaintext = aead_decrypt(cipher, data_key, grade.nonce, grade.ciphertext,
                             _associated_data(account, key, record.cipher, grade.name, grade.commitments))
    try:
        domain, rows = codec.unpack_canonical(plaintext)
        if domain != _PLAINTEXT_DOMAIN or not isinstance(rows, list):
            raise ValueError("wrong domain")
        hash_algorithm = algorithm_by_code(record.hash_algorithm)
        values: dict[str, object] = {}
        salts: dict[str, bytes] = {}
        if [row[0] for row in rows] != [c.name for c in grade.commitments]:
            raise ValueError("fields differ from the commitments")
        for (name, salt, value_json), commitment in zip(rows, grade.commitments):
            if not hmac.compare_digest(field_commitment(hash_algorithm, grade.name, name, salt, value_json),
                                       commitment.digest):
                raise ValueError(f"field {name!r} does not match its commitment")
            values[name] = json.loads(value_json)
            salts[name] = salt
    except (CodecError, ValueError, TypeError) as error:
        raise PrivateRecordError(f"grade {grade_name!r} decrypts to an inconsistent record: {error}") from None
    return OpenedGrade(grade.name, values, salts)


def grant_envelopes(
    record: PrivateRecord, grade_names: Sequence[str], owner: Reader, new_reader: PublicKey,
    granted: Sequence[GrantEnvelope] = (),
) -> list[GrantEnvelope]:
    """Envelopes giving ``new_reader`` the data keys of some grades, opened with the owner's key."""
    return [GrantEnvelope(name, new_reader.encoded, wrap_key(new_reader, unwrap_grade_key(record, name, owner, granted)))
            for name in grade_names]


def merge_grants(existing: GrantRecord | None, record_version: int, added: Sequence[GrantEnvelope]) -> GrantRecord:
    """The next version of a grant side entry: the old envelopes plus (replacing same reader) the new."""
    merged: dict[tuple[str, bytes], GrantEnvelope] = {}
    if existing is not None:
        if existing.record_version != record_version:
            raise PrivateRecordError("grant side entry belongs to another version")
        merged.update({(e.grade, e.reader): e for e in existing.envelopes})
    merged.update({(e.grade, e.reader): e for e in added})
    return GrantRecord(FORMAT_VERSION, record_version, tuple(merged[k] for k in sorted(merged)))


# --- selective disclosure ---------------------------------------------------------------------------


def make_disclosure(bundle: Mapping[str, Any], opened: OpenedGrade, field_name: str) -> dict[str, Any]:
    """A document showing one field's value to a third party: the entry's proof bundle + the opening."""
    if field_name not in opened.values:
        raise PrivateRecordError(f"grade {opened.name!r} has no field {field_name!r}")
    return {
        "format": DISCLOSURE_FORMAT,
        "grade": opened.name,
        "field": field_name,
        "value": opened.values[field_name],
        "salt": opened.salts[field_name].hex(),
        "bundle": dict(bundle),
    }


def check_opening(record: PrivateRecord, grade_name: str, field_name: str, value: object, salt: bytes) -> bool:
    """Whether ``value`` with ``salt`` opens the record's commitment to that field."""
    try:
        grade = _grade(record, grade_name)
        value_json = canonical_json(value)
    except (JadechainError, TypeError, ValueError):
        return False
    for commitment in grade.commitments:
        if commitment.name == field_name:
            computed = field_commitment(algorithm_by_code(record.hash_algorithm), grade_name, field_name, salt, value_json)
            return hmac.compare_digest(computed, commitment.digest)
    return False


@dataclass(frozen=True)
class DisclosureReport:
    """What a verified disclosure establishes."""

    ledger_hash: str
    account: str
    key: str
    """The entry key (for an event: its topic)."""
    version: int
    """The entry version (for an event: its sequence number)."""
    height: int
    grade: str
    field: str
    value: object
    checks: list[str]
    kind: str = "entry"
    """``"entry"`` (a data-account value) or ``"event"`` (a published event's content)."""


def verify_disclosure(document: Any, *, ledger_hash: bytes | str) -> DisclosureReport:
    """Check a disclosure offline against a pinned ledger hash; ProofError naming what fails.

    The proof bundle (of an entry, or of an event) is checked by
    :func:`ledger.proofs.verify_bundle` exactly as any other; then the proven value must be a private record whose commitment to the named field
    opens with the disclosed value and salt.
    """
    from ledger.proofs import verify_bundle
    from ledger.types import EntryRecord, Event
    from ledger.values import ValueType

    if not isinstance(document, dict) or document.get("format") != DISCLOSURE_FORMAT:
        raise ProofError(f"disclosure: not a {DISCLOSURE_FORMAT} document")
    grade_name, field_name = document.get("grade"), document.get("field")
    if not isinstance(grade_name, str) or not isinstance(field_name, str) or "value" not in document:
        raise ProofError("disclosure: grade, field and value are required")
    try:
        salt = bytes.fromhex(document.get("salt", ""))
    except (TypeError, ValueError):
        raise ProofError("disclosure: salt is not hex") from None
    if len(salt) != SALT_SIZE:
        raise ProofError(f"disclosure: salt must be {SALT_SIZE} bytes")
    bundle = document.get("bundle")
    if not isinstance(bundle, dict):
        raise ProofError("disclosure: the bundle must be an entry or event proof bundle")
    kind = bundle.get("kind")
    if kind not in ("entry", "event"):
        raise ProofError("disclosure: the bundle must be an entry or event proof bundle")
    report = verify_bundle(bundle, ledger_hash=ledger_hash)
    try:
        if kind == "entry":
            entry = codec.decode(EntryRecord, bytes.fromhex(bundle["record"]))
            account, key, version, height, value = entry.account, entry.key, entry.version, entry.height, entry.value
        else:
            event = codec.decode(Event, bytes.fromhex(bundle["event"]))
            account, key, version, height, value = event.account, event.topic, event.sequence, event.height, event.content
    except (CodecError, ValueError, TypeError, KeyError):
        raise ProofError(f"disclosure: the bundle's {kind} does not decode") from None
    if value.type != ValueType.BYTES:
        raise ProofError(f"disclosure: the proven {kind} is not a private record")
    try:
        record = decode_private_record(value.data)
    except PrivateRecordError as error:
        raise ProofError(f"disclosure: {error.message}") from None
    if not check_opening(record, grade_name, field_name, document["value"], salt):
        raise ProofError(
            f"disclosure: the value and salt do not open the commitment to {grade_name}.{field_name}")
    checks = list(report.checks) + [
        f"value of field {field_name!r} (grade {grade_name!r}) opens its commitment in the proven record"]
    return DisclosureReport(report.ledger_hash, account, key, version, height,
                            grade_name, field_name, document["value"], checks, kind)
