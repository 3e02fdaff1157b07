"""Private records in the SDK: put_private, get_private, grant, revoke, disclose.

The cryptography is :mod:`ledger.private`; this module only reads and writes entries through a
gateway. Keys never leave the client: the gateway sees ciphertext, envelopes and commitments,
exactly what every validator stores.

Example::

    from ledger.private import GradeSpec

    ledger.put_private(account, "visit-2026-12-01", [
        GradeSpec("public", {"clinic": "Jade Clinic"}, readers=[insurer, researcher]),
        GradeSpec("partner", {"diagnosis": "J45.901"}, readers=[insurer]),
        GradeSpec("owner", {"notes": "..."}, readers=[]),
    ], signer=patient)                          # the signer reads every grade
    view = ledger.get_private(account, "visit-2026-12-01", insurer_key)
    view.grades["partner"]["diagnosis"]         # "J45.901"; view.sealed == ["owner"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import httpx

from ledger.crypto import KeyPair, PrivateKey, PublicKey, algorithm_by_code, from_base58
from ledger.errors import CryptoError
from ledger.private import (
    DisclosureReport,
    GradeSpec,
    GrantEnvelope,
    GrantRecord,
    NotAReader,
    OpenedGrade,
    PrivateRecord,
    PrivateRecordError,
    decode_grant_record,
    decode_private_record,
    encode_grant_record,
    event_binding,
    encode_private_record,
    grant_envelopes,
    grants_key,
    make_disclosure,
    merge_grants,
    open_grade,
    seal_record,
    verify_disclosure,
)
from ledger.values import TypedValue
from jadechain.sdk._core import BaseLedger, Plan, Send, answer_of, operation
from jadechain.sdk._models import Answer, ApiError, Entry, MalformedAnswer, TxResult

__all__ = ["CustodyReader", "PrivateRecordsLedger", "PrivateView"]


@dataclass(frozen=True)
class PrivateView:
    """One version of a private record as one reader sees it."""

    account: str
    key: str
    version: int
    height: int
    tx_hash: str
    grades: dict[str, dict[str, object]]
    """The grades this reader could open: grade → field → value."""
    sealed: list[str]
    """The grades this reader has no key for (only their field names are visible)."""
    record: PrivateRecord = field(repr=False)
    opened: dict[str, OpenedGrade] = field(repr=False, default_factory=dict)


class CustodyReader:
    """A reader whose key is in the control plane's custody: each envelope is opened there.

    Custody answers only users of the key's organisation and audits every opening (with the
    ``context`` given here); it returns one grade's data key, and the record is decrypted here.
    ``token`` is the user's control-plane API token.
    """

    def __init__(self, control_plane: str, token: str, organization_id: int, key_id: int, public_key: PublicKey,
                 *, context: str = "", timeout: float = 30.0) -> None:
        self._public = public_key
        self._url = f"{control_plane.rstrip('/')}/api/v1/organizations/{int(organization_id)}/keys/{int(key_id)}/unwrap"
        self._context = context
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(timeout=timeout, headers=self._headers)

    def public_key(self) -> PublicKey:
        return self._public

    def _request(self, wrapped_key: bytes) -> dict[str, Any]:
        return {"json": {"wrapped_key_hex": wrapped_key.hex(), "context": self._context}}

    def unwrap(self, wrapped_key: bytes) -> bytes:
        """Open one envelope (blocking); a ledger client opens them with :meth:`_plan_unwrap` instead."""
        return _data_key_of(self._http.post(self._url, **self._request(wrapped_key)))

    def _plan_unwrap(self, wrapped_key: bytes) -> Plan[bytes]:
        """Open one envelope as a step of a ledger client's plan (so the async client does not block)."""
        try:
            response = yield Send("POST", self._url, self._timeout, {**self._request(wrapped_key), "headers": self._headers})
        except httpx.TransportError as error:
            raise ApiError("CUSTODY_UNAVAILABLE", f"the control plane did not answer ({error!r})", 503) from error
        return _data_key_of(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "CustodyReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _data_key_of(response: httpx.Response) -> bytes:
    """The data key custody answered, or the :class:`ApiError` it refused with."""
    answer = Answer("unwrap", answer_of(response))
    try:
        return bytes.fromhex(answer.text("data_key_hex"))
    except ValueError:
        raise MalformedAnswer("unwrap.data_key_hex: not hex") from None


class _Unwrapped:
    """A custody reader's envelopes, already opened by a plan: ``open_grade`` reads the data keys from here."""

    def __init__(self, public: PublicKey, data_keys: dict[bytes, bytes]) -> None:
        self._public = public
        self._data_keys = data_keys

    def public_key(self) -> PublicKey:
        return self._public

    def unwrap(self, wrapped_key: bytes) -> bytes:
        if wrapped_key not in self._data_keys:
            raise CryptoError("this envelope was not opened")
        return self._data_keys[wrapped_key]


AnyReader = KeyPair | PrivateKey | CustodyReader


def _private_key(reader: AnyReader) -> PrivateKey | CustodyReader:
    return reader.private if isinstance(reader, KeyPair) else reader


def _is_not_found(error: Exception) -> bool:
    return getattr(error, "code", "") in ("NOT_FOUND", "ENTRY_NOT_FOUND")


def _plan_open_grades(record: PrivateRecord, reader: AnyReader, account: str, key: str,
                      granted: tuple[GrantEnvelope, ...]) -> Plan[tuple[dict[str, OpenedGrade], list[str]]]:
    """:func:`_open_grades`, first opening a custody reader's envelopes as plan steps: per grade, its
    envelopes for that key in order (the record's, then later grants) until custody opens one."""
    if not isinstance(reader, CustodyReader):
        return _open_grades(record, reader, account, key, granted)
    own = reader.public_key().encoded
    data_keys: dict[bytes, bytes] = {}
    for grade in record.grades:
        envelopes = [e.wrapped_key for e in grade.readers if e.reader == own]
        envelopes += [g.wrapped_key for g in granted if g.grade == grade.name and g.reader == own]
        for wrapped in envelopes:
            try:
                data_keys[wrapped] = yield from reader._plan_unwrap(wrapped)
                break
            except ApiError as error:
                if error.code != "ENVELOPE_NOT_OPENED" or wrapped == envelopes[-1]:
                    raise
    return _open_grades(record, _Unwrapped(reader.public_key(), data_keys), account, key, granted)


def _open_grades(record: PrivateRecord, reader: AnyReader | _Unwrapped, account: str, key: str,
                 granted: tuple[GrantEnvelope, ...]) -> tuple[dict[str, OpenedGrade], list[str]]:
    """The grades ``reader`` can open (name → opened) and the names of the others."""
    private = reader if isinstance(reader, _Unwrapped) else _private_key(reader)
    opened: dict[str, OpenedGrade] = {}
    sealed: list[str] = []
    for grade in record.grades:
        try:
            opened[grade.name] = open_grade(record, grade.name, private, account=account, key=key, granted=granted)
        except NotAReader:
            sealed.append(grade.name)
    return opened, sealed


def _grade_with(view: PrivateView, field_name: str, grade: str | None) -> OpenedGrade:
    """The first opened grade holding ``field_name`` (in ``grade`` if named)."""
    for opened in view.opened.values():
        if field_name in opened.values and (grade is None or opened.name == grade):
            return opened
    raise NotAReader(f"no grade this key opens has a field {field_name!r}")


class PrivateRecordsLedger(BaseLedger):
    """The private-record operations of a ledger handle, written once as plans: both
    :class:`~jadechain.sdk.LedgerClient` and :class:`~jadechain.sdk.AsyncLedgerClient` offer them."""

    # --- reading --------------------------------------------------------------------------------------

    def _hash_algorithm(self) -> Any:
        return algorithm_by_code(int.from_bytes(from_base58(self.ledger_hash)[:2], "big"))

    def _plan_read_record(self, account: str, key: str, version: int | None) -> Plan[tuple[Entry, PrivateRecord]]:
        entry = yield from self._plan_get_entry(account, key, version)
        if entry.value_type != "BYTES":
            raise PrivateRecordError(f"{key!r} v{entry.version} is not a private record")
        return entry, decode_private_record(entry.value)

    def _plan_read_grants(self, account: str, key: str, version: int) -> Plan[tuple[int, GrantRecord | None]]:
        """The grant side entry of one version: (its latest version or -1, its content).

        A side entry that is not a well-formed grant record for this version counts as no
        grants (its version is still returned, so the next grant replaces it): a garbled side
        entry must not hide what the record's own envelopes let a key read.
        """
        try:
            entry = yield from self._plan_get_entry(account, grants_key(key, version))
        except Exception as error:
            if _is_not_found(error):
                return -1, None
            raise
        try:
            if entry.value_type != "BYTES":
                raise PrivateRecordError("the grant side entry is not a grant record")
            grants = decode_grant_record(entry.value)
        except (PrivateRecordError, ValueError):
            return entry.version, None
        return entry.version, grants if grants.record_version == version else None

    def _plan_get_private(
        self, account: str, key: str, reader: AnyReader, version: int | None = None,
    ) -> Plan[PrivateView]:
        """Read a version (default: latest) and decrypt every grade ``reader`` has a key for.

        Envelopes granted later for that version are used too. Grades without a key for the
        reader are listed in ``sealed``; a record that fails its commitments raises.
        """
        entry, record = yield from self._plan_read_record(account, key, version)
        _, grants = yield from self._plan_read_grants(account, key, entry.version)
        granted: tuple[GrantEnvelope, ...] = grants.envelopes if grants else ()
        opened, sealed = yield from _plan_open_grades(record, reader, account, key, granted)
        return PrivateView(account, key, entry.version, entry.height, entry.tx_hash,
                           {name: dict(o.values) for name, o in opened.items()}, sealed, record, opened)
    get_private = operation(_plan_get_private)

    # --- writing --------------------------------------------------------------------------------------

    def _plan_current_version(self, account: str, key: str) -> Plan[int]:
        try:
            return (yield from self._plan_get_entry(account, key)).version
        except Exception as error:
            if _is_not_found(error):
                return -1
            raise

    def _plan_put_private(
        self, account: str, key: str, grades: Sequence[GradeSpec], signer: KeyPair, *,
        expected_version: int | None = None, wait: bool = True, timeout: float = 30.0,
    ) -> Plan[TxResult]:
        """Encrypt ``grades`` (fresh data keys), wrap them for their readers and the signer, write the version.

        ``expected_version`` defaults to the entry's current version (so a concurrent write is
        refused with VERSION_CONFLICT rather than silently overwritten).
        """
        owned = [GradeSpec(g.name, g.fields, [*g.readers, signer.public]) for g in grades]
        record = seal_record(account=account, key=key, hash_algorithm=self._hash_algorithm(), grades=owned)
        expected = (yield from self._plan_current_version(account, key)) if expected_version is None else expected_version
        tx = self.builder().kv_set(account, key, TypedValue.bytes_(encode_private_record(record)), expected).sign(signer)
        return (yield from self._plan_submit(tx, wait=wait, timeout=timeout))
    put_private = operation(_plan_put_private)

    def _plan_grant(
        self, account: str, key: str, reader: PublicKey, signer: KeyPair, *,
        version: int | None = None, grades: Sequence[str] | None = None, timeout: float = 30.0,
    ) -> Plan[TxResult]:
        """Give ``reader`` the keys of an existing version (default: latest) without re-encrypting it.

        ``grades`` defaults to every grade the signer can open. The envelopes are written to the
        version's grant side entry, which any later read of that version consults.
        """
        entry, record = yield from self._plan_read_record(account, key, version)
        number = entry.version
        side_version, existing = yield from self._plan_read_grants(account, key, number)
        granted = existing.envelopes if existing else ()
        owner = signer.private
        names = list(grades) if grades is not None else [
            g.name for g in record.grades
            if any(e.reader == signer.public.encoded for e in g.readers)
            or any(e.grade == g.name and e.reader == signer.public.encoded for e in granted)
        ]
        if not names:
            raise NotAReader("the signer can open no grade of this record, so it cannot grant one")
        added = grant_envelopes(record, names, owner, reader, granted)
        side = merge_grants(existing, number, added)
        tx = self.builder().kv_set(account, grants_key(key, number), TypedValue.bytes_(encode_grant_record(side)),
                                   side_version).sign(signer)
        return (yield from self._plan_submit(tx, timeout=timeout))
    grant = operation(_plan_grant)

    def _plan_revoke(
        self, account: str, key: str, reader: PublicKey, signer: KeyPair, *, timeout: float = 30.0,
    ) -> Plan[TxResult]:
        """Write a new version under fresh data keys whose readers are today's minus ``reader``.

        Earlier versions stay readable to whoever had their keys: what a reader already
        decrypted (or could decrypt) cannot be taken back. The signer must be able to open
        every grade (the owner always can).
        """
        view = yield from self._plan_get_private(account, key, signer)
        if view.sealed:
            raise NotAReader(f"the signer cannot open grades {view.sealed}, so it cannot re-encrypt them")
        _, grants = yield from self._plan_read_grants(account, key, view.version)
        granted = grants.envelopes if grants else ()
        gone = reader.encoded
        if not any(e.reader == gone for g in view.record.grades for e in g.readers) and \
                not any(g.reader == gone for g in granted):
            raise NotAReader("this key is not a reader of the latest version: nothing to revoke")
        specs = []
        for grade in view.record.grades:
            keys = {e.reader for e in grade.readers} | {g.reader for g in granted if g.grade == grade.name}
            keys.discard(gone)
            specs.append(GradeSpec(grade.name, view.grades[grade.name],
                                   [PublicKey.from_encoded(encoded) for encoded in sorted(keys)]))
        return (yield from self._plan_put_private(account, key, specs, signer, expected_version=view.version,
                                                  timeout=timeout))
    revoke = operation(_plan_revoke)

    # --- private events (e.g. a traceability event's private fields) -----------------------------------

    def _plan_publish_private(
        self, account: str, topic: str, grades: Sequence[GradeSpec], signer: KeyPair, *,
        wait: bool = True, timeout: float = 30.0,
    ) -> Plan[TxResult]:
        """Publish an event whose content is a private record (the signer reads every grade).

        Events are immutable, so there is no grant or revoke for them: choose the readers when
        publishing. The ciphertext is bound to the account and topic.
        """
        owned = [GradeSpec(g.name, g.fields, [*g.readers, signer.public]) for g in grades]
        record = seal_record(account=account, key=event_binding(topic), hash_algorithm=self._hash_algorithm(),
                             grades=owned)
        tx = self.builder().publish(account, topic, TypedValue.bytes_(encode_private_record(record))).sign(signer)
        return (yield from self._plan_submit(tx, wait=wait, timeout=timeout))
    publish_private = operation(_plan_publish_private)

    def _plan_get_private_event(
        self, account: str, topic: str, sequence: int, reader: AnyReader,
    ) -> Plan[PrivateView]:
        """Decrypt the grades of one private event that ``reader`` has a key for (``version`` = sequence)."""
        found = yield from self._plan_get_events(account, topic, sequence, 1)
        if not found or found[0].sequence != sequence:
            raise PrivateRecordError(f"no event {sequence} on topic {topic!r}")
        event = found[0]
        if event.content_type != "BYTES":
            raise PrivateRecordError(f"event {topic!r}#{sequence} is not a private record")
        record = decode_private_record(event.content)
        opened, sealed = yield from _plan_open_grades(record, reader, account, event_binding(topic), ())
        return PrivateView(account, topic, sequence, event.height, event.tx_hash,
                           {name: dict(o.values) for name, o in opened.items()}, sealed, record, opened)
    get_private_event = operation(_plan_get_private_event)

    def _plan_disclose_event(
        self, account: str, topic: str, sequence: int, field_name: str, reader: AnyReader, *,
        grade: str | None = None, wait: float = 60.0,
    ) -> Plan[dict[str, Any]]:
        """Like :meth:`disclose`, for one field of a private event (the bundle is an event proof)."""
        view = yield from self._plan_get_private_event(account, topic, sequence, reader)
        opened = _grade_with(view, field_name, grade)
        return make_disclosure((yield from self._plan_event_proof(account, topic, sequence, wait=wait)), opened, field_name)
    disclose_event = operation(_plan_disclose_event)

    # --- disclosure -----------------------------------------------------------------------------------

    def _plan_disclose(
        self, account: str, key: str, field_name: str, reader: AnyReader, *,
        grade: str | None = None, version: int | None = None, wait: float = 60.0,
    ) -> Plan[dict[str, Any]]:
        """A disclosure of one field for a third party: the entry's proof bundle, the value and its salt.

        The third party checks it offline with :meth:`verify_disclosure` or ``jadechain verify
        --disclosure FILE --ledger HASH``; no key is revealed and the other fields stay sealed.
        """
        view = yield from self._plan_get_private(account, key, reader, version)
        opened = _grade_with(view, field_name, grade)
        bundle = yield from self._plan_entry_proof(account, key, view.version, wait=wait)
        return make_disclosure(bundle, opened, field_name)
    disclose = operation(_plan_disclose)

    @staticmethod
    def verify_disclosure(document: Any, *, ledger_hash: str | bytes) -> DisclosureReport:
        """Check a disclosure offline against the ledger hash you trust (not one read from it)."""
        return verify_disclosure(document, ledger_hash=ledger_hash)
