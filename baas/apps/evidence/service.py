"""The evidence service: records on chain through a gateway, timestamps, verification, proofs.

On-chain layout (plain KV writes, no contract): one *evidence data account* per app instance,
registered by the app's key with the OWNERS write policy, so only the app can write it and every
write is a ledger transaction signed by that key. Its entries (values are canonical JSON text):

* ``record/<id>`` — the record: ``{format, id, core, signatures, status, timestamps}``. Version 0
  is the preservation; each later version adds signatures (and flips PENDING → COMPLETE). Every
  version stays readable and provable (``ledger.proofs`` entry bundles), so "since when" is the
  height of version 0 and "signed by whom" the latest version.
* ``members/<id>`` — for a batch, the list of its members (digests, name, size) in leaf order; the
  core holds only the Merkle root, so one signature per party covers every file of the batch.
* ``sha256/<hex>`` and ``sm3/<hex>`` — index from a digest to the *first* record holding it
  (``{id}`` or ``{id, index}`` for a batch member), written once with expected version -1.

The record id is the record hash (hex): SHA-256 over the canonical JSON of the core.
Why no contract: the rules the chain must enforce (who may write, append-only versions, optimistic
concurrency) are the data account's own; signature checks of parties happen in the app and again in
every verifier, offline, from the proof bundle — a contract would add gas and no guarantee.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ledger import codec
from ledger.crypto import KeyPair, algorithm_by_code, from_base58, generate_keypair, hasher
from ledger.types import KVSet, KVWrite, WritePolicy, typed_value
from jadechain.sdk import JadechainClient
from jadechain.sdk import ApiError, Entry, LedgerClient

from baas.apps.evidence import records
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.tsa import (
    TimestampAuthority,
    TimestampError,
    fetch_token,
    load_certificates,
    read_token,
)

log = logging.getLogger("jadechain.evidence")

RECORD_KEY = "record/{}"
MEMBERS_KEY = "members/{}"
INDEX_KEY = "{}/{}"


@dataclass
class EvidenceSettings:
    """How one evidence app instance reaches its network and where it keeps its own files."""

    gateways: Sequence[str]
    """Base URLs of the network's gateways (failover in order)."""
    ledger_hash: str
    key: KeyPair
    """The app's submitting key: a ledger user allowed to register and write data accounts."""
    data_dir: str
    """TSA key and certificates, the evidence account's address, files kept on request."""
    public_url: str = "http://127.0.0.1:8200"
    """This app's public base URL (the certificate's QR code points at its verification page)."""
    network_name: str | None = None
    """Names the network's TSA certificates (default: the ledger hash prefix)."""
    account: str | None = None
    """Use this evidence data account instead of the one registered on first start."""
    external_tsa_url: str | None = None
    """An RFC 3161 TSA to ask for a second token over each record hash (the operator's choice, or one
    on the platform administrator's allow-list when the control plane starts the app)."""
    external_tsa_ca_file: str | None = None
    """The operator's PEM file of the external TSA's CA (``--external-tsa-ca``; never set from a request)."""
    external_tsa_ca_pem: bytes | None = None
    """The external TSA's CA certificate as content; parsed and validated, re-encoded into bundles."""
    authorize: Callable[[str], str | None] | None = None
    """``authorize(bearer secret) -> organisation`` or None. Without it every write is refused."""
    max_records_per_organization: int = 100_000
    max_kept_bytes_per_organization: int = 1 << 30
    """Storage quota for files kept on request (``keep=true``), per organisation."""
    max_upload_bytes: int = 1 << 36
    commit_timeout: float = 30.0
    proof_wait: float = 15.0
    """How long to wait for the block that certifies fresh data (proofs are pipelined)."""


def settings_from_mount(mount: Any) -> EvidenceSettings:
    """Settings from the control plane's ``AppMountSettings`` (``baas.routers.apps``): the organisation's
    key in custody signs the transactions; ``extra`` may hold ``public_url`` (the control plane's public
    base URL), ``external_tsa_url``, ``external_tsa_ca_file`` and ``network_name``."""
    if isinstance(mount, EvidenceSettings):
        return mount
    if getattr(mount, "keypair", None) is None:
        raise EvidenceError("NO_SIGNING_KEY", "the evidence app needs the organisation's key pair to sign transactions", 500)
    extra = dict(getattr(mount, "extra", None) or {})
    public_base = str(extra.get("public_url", "http://127.0.0.1:8700")).rstrip("/")
    return EvidenceSettings(
        gateways=list(mount.gateway_urls), ledger_hash=mount.ledger_hash, key=mount.keypair(),
        data_dir=mount.data_dir, public_url=public_base + str(getattr(mount, "mount_path", "")),
        network_name=extra.get("network_name"), external_tsa_url=extra.get("external_tsa_url"),
        # Content only: a path in ``extra`` is never read (it could name any file of the server).
        external_tsa_ca_pem=str(extra["external_tsa_ca_pem"]).encode() if extra.get("external_tsa_ca_pem") else None,
        authorize=getattr(mount, "authorize", None),
        **{name: int(extra[name]) for name in ("max_records_per_organization", "max_kept_bytes_per_organization")
           if isinstance(extra.get(name), int)},
    )


def static_authorizer(tokens: Mapping[str, str]) -> Callable[[str], str | None]:
    """``authorize`` over a fixed map of bearer secret → organisation (compared by hash, in constant time)."""
    digests = {hashlib.sha256(secret.encode()).digest(): organisation for secret, organisation in tokens.items()}

    def authorize(secret: str) -> str | None:
        wanted = hashlib.sha256(secret.encode("utf-8", "replace")).digest()
        found = None
        for digest, organisation in digests.items():
            if hmac.compare_digest(digest, wanted):
                found = organisation
        return found

    return authorize


def load_or_create_write_token(path: str | os.PathLike[str]) -> str:
    """The standalone app's write credential: read from ``path``, or created there (mode 0600) on first start."""
    token_path = Path(path)
    if token_path.exists():
        token = token_path.read_text().strip()
        if len(token) < 32:
            raise EvidenceError("INVALID_WRITE_TOKEN", f"{token_path}: a write token has at least 32 characters", 500)
        return token
    token_path.parent.mkdir(parents=True, exist_ok=True)
    token = "jdapp_" + secrets.token_urlsafe(32)
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def validated_ca_pem(pem: bytes) -> bytes:
    """PEM of CA certificates, parsed and re-encoded (so a bundle carries certificates, nothing else)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certificates = x509.load_pem_x509_certificates(pem)
        for certificate in certificates:
            if not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                raise ValueError("not a CA")
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise EvidenceError("INVALID_CERTIFICATE", "the external TSA's CA is not a PEM CA certificate", 500) from exc
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


class Quotas:
    """Per-organisation counters (records written, bytes of kept files), persisted in ``quotas.json``."""

    def __init__(self, path: Path, max_records: int, max_kept_bytes: int) -> None:
        self.path = path
        self.max_records = max_records
        self.max_kept_bytes = max_kept_bytes
        self._lock = threading.Lock()
        self._usage: dict[str, dict[str, int]] = json.loads(path.read_text()) if path.exists() else {}

    def remaining_kept_bytes(self, organisation: str) -> int:
        with self._lock:
            return max(0, self.max_kept_bytes - self._usage.get(organisation, {}).get("kept_bytes", 0))

    def reserve(self, organisation: str, kept_bytes: int = 0) -> None:
        """Count one record (and ``kept_bytes``) for ``organisation``, or refuse if over quota."""
        with self._lock:
            usage = self._usage.setdefault(organisation, {"records": 0, "kept_bytes": 0})
            if usage["records"] >= self.max_records:
                raise EvidenceError("QUOTA_EXCEEDED", f"your organisation has used its quota of "
                                    f"{self.max_records} records", 429)
            if usage["kept_bytes"] + kept_bytes > self.max_kept_bytes:
                raise EvidenceError("QUOTA_EXCEEDED", f"your organisation's storage quota for kept files is "
                                    f"{self.max_kept_bytes} bytes", 413)
            usage["records"] += 1
            usage["kept_bytes"] += kept_bytes
            self._save()

    def release(self, organisation: str, kept_bytes: int = 0) -> None:
        with self._lock:
            usage = self._usage.setdefault(organisation, {"records": 0, "kept_bytes": 0})
            usage["records"] = max(0, usage["records"] - 1)
            usage["kept_bytes"] = max(0, usage["kept_bytes"] - kept_bytes)
            self._save()

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._usage, handle)
        os.replace(temporary, self.path)


@dataclass
class RecordState:
    """A record as the chain holds it now, plus where it first appeared."""

    record: dict[str, Any]
    version: int
    height: int
    tx_hash: str
    first_height: int
    first_tx_hash: str
    first_time: int
    first_certified: bool
    members: list[dict[str, Any]] | None = None

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def core(self) -> dict[str, Any]:
        return dict(self.record["core"])


def iso_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class EvidenceService:
    """Everything the HTTP app does, callable from Python (blocking; run it in a worker thread)."""

    def __init__(self, settings: EvidenceSettings) -> None:
        self.settings = settings
        self.client = JadechainClient(list(settings.gateways), retry_timeout=5.0)
        self.ledger: LedgerClient = self.client.ledger(settings.ledger_hash)
        ledger_bytes = from_base58(settings.ledger_hash)
        self.hash_algorithm = algorithm_by_code(int.from_bytes(ledger_bytes[:2], "big"))
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        network = settings.network_name or settings.ledger_hash[:12]
        self.tsa = TimestampAuthority.load_or_create(self.data_dir / "tsa", network)
        ca_pem = settings.external_tsa_ca_pem
        if ca_pem is None and settings.external_tsa_ca_file:
            ca_pem = Path(settings.external_tsa_ca_file).read_bytes()
        self.external_ca_pem = validated_ca_pem(ca_pem) if ca_pem else b""
        self.external_cas = load_certificates(self.external_ca_pem) if self.external_ca_pem else []
        self.quotas = Quotas(self.data_dir / "quotas.json", settings.max_records_per_organization,
                             settings.max_kept_bytes_per_organization)
        self.account = settings.account or ""
        self._members_cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_tx_bytes = 1 << 20

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "EvidenceService":
        """Make sure the evidence data account exists (registering it on first start)."""
        self.max_tx_bytes = self.ledger.info().settings.max_tx_bytes
        if not self.account:
            self.account = self._ensure_account()
        return self

    def close(self) -> None:
        self.client.close()

    def _ensure_account(self) -> str:
        state_file = self.data_dir / "account.json"
        if state_file.exists():
            return str(json.loads(state_file.read_text())["address"])
        account_key = generate_keypair()
        tx = self.ledger.builder().register_data_account(account_key.public.encoded, WritePolicy.OWNERS).sign(self.settings.key)
        result = self.ledger.submit(tx, wait=True, timeout=self.settings.commit_timeout)
        if not result.committed or result.status != "SUCCESS":
            raise EvidenceError("ACCOUNT_REGISTRATION_FAILED",
                                f"could not register the evidence account: {result.status or 'not committed'}", 502)
        from ledger.crypto import address_from_public_key

        address = address_from_public_key(account_key.public)
        temporary = state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"address": address, "ledger_hash": self.settings.ledger_hash,
                                         "registered_tx": result.tx_hash}))
        os.replace(temporary, state_file)
        log.info("evidence account %s registered in tx %s", address, result.tx_hash)
        return address

    # --- preserving ---------------------------------------------------------------------------------

    def timestamp(self, record_hash: bytes) -> tuple[list[dict[str, str]], list[str]]:
        """Tokens over the record hash: the network TSA's, and the external TSA's when configured."""
        tokens = [{"source": "network", "token": base64.b64encode(self.tsa.issue(record_hash)).decode()}]
        warnings: list[str] = []
        if self.settings.external_tsa_url:
            try:
                token = fetch_token(self.settings.external_tsa_url, record_hash)
                tokens.append({"source": self.settings.external_tsa_url, "token": base64.b64encode(token).decode()})
            except TimestampError as exc:
                log.warning("external TSA failed: %s", exc)
                warnings.append("external TSA: no token this time (see the app's log)")
        return tokens, warnings

    def preserve(
        self, core: dict[str, Any], signatures: Sequence[Any] = (), *, members: Sequence[dict[str, Any]] | None = None,
        kept_file: str | None = None,
    ) -> dict[str, Any]:
        """Put a record (file or batch core) on chain with the signatures given; return its summary."""
        record_hash = records.record_hash(core)
        record_id = record_hash.hex()
        checked = _merge_signatures(core, record_hash, [], signatures)
        tokens, warnings = self.timestamp(record_hash)
        record = {
            "format": records.RECORD_FORMAT, "id": record_id, "core": core, "signatures": checked,
            "status": records.record_status(core, checked), "timestamps": tokens,
        }
        writes: list[tuple[str, str]] = [(RECORD_KEY.format(record_id), records.canonical_json(record).decode())]
        index: dict[str, dict[str, Any]] = {}
        if core["kind"] == records.KIND_BATCH:
            assert members is not None
            writes.append((MEMBERS_KEY.format(record_id), records.canonical_json(list(members)).decode()))
            for position, member in enumerate(members):
                for name in records.DIGEST_NAMES:
                    index.setdefault(INDEX_KEY.format(name, member[name]), {"id": record_id, "index": position})
        else:
            for name, value in core["digests"].items():
                index.setdefault(INDEX_KEY.format(name, value), {"id": record_id})
        result = self._submit(writes, index)
        if kept_file is not None:
            keep_dir = self.data_dir / "files"
            keep_dir.mkdir(exist_ok=True)
            shutil.move(kept_file, keep_dir / record_id)
        return {"id": record_id, "record_hash": record_id, "status": record["status"], "tx_hash": result.tx_hash,
                "height": result.height, "timestamps": [self._token_summary(t) for t in tokens],
                "warnings": warnings, "signatures": len(checked)}

    def _submit(self, writes: list[tuple[str, str]], index: dict[str, dict[str, Any]]) -> Any:
        """One transaction with the record writes (expected version -1) and the new index entries.

        Index entries already present (the digest was preserved before) make the write fail with
        VERSION_CONFLICT; then the present ones are dropped and the transaction is sent again.
        """
        for attempt in range(2):
            # One KVSet operation carries every write (a ledger caps operations per transaction).
            kv_writes = [KVWrite(key, typed_value(value), -1) for key, value in writes]
            kv_writes += [KVWrite(key, typed_value(records.canonical_json(value).decode()), -1)
                          for key, value in index.items()]
            builder = self.ledger.builder().add(KVSet(self.account, tuple(kv_writes)))
            tx = builder.sign(self.settings.key)
            size = len(codec.encode(tx))
            if size > self.max_tx_bytes:
                raise EvidenceError("BATCH_TOO_LARGE", f"the record needs a {size}-byte transaction; the ledger "
                                    f"takes at most {self.max_tx_bytes}: split the batch", 413)
            result = self.ledger.submit(tx, wait=True, timeout=self.settings.commit_timeout)
            if not result.committed:
                raise EvidenceError("COMMIT_TIMEOUT", f"transaction {result.tx_hash} not committed in time", 504)
            if result.status == "SUCCESS":
                return result
            if result.status != "VERSION_CONFLICT" or attempt:
                raise EvidenceError(result.status or "TX_FAILED", f"transaction {result.tx_hash} failed: {result.status}", 409)
            if self._entry_exists(writes[0][0]):
                raise EvidenceError("ALREADY_PRESERVED", "this record is already on chain", 409)
            index = {key: value for key, value in index.items() if not self._entry_exists(key)}
        raise AssertionError("unreachable")

    def _entry_exists(self, key: str) -> bool:
        try:
            self.ledger.get_entry(self.account, key)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                return False
            raise
        return True

    def add_signatures(self, record_id: str, signatures: Sequence[Any]) -> dict[str, Any]:
        """Add parties' signatures to a record (a new version of its entry); PENDING → COMPLETE."""
        for _ in range(5):
            entry = self._get_entry(RECORD_KEY.format(_check_id(record_id)))
            record = json.loads(entry.value)
            core = record["core"]
            merged = _merge_signatures(core, bytes.fromhex(record["id"]), record["signatures"], signatures)
            if len(merged) == len(record["signatures"]):
                return {"id": record["id"], "status": record["status"], "tx_hash": entry.tx_hash,
                        "height": entry.height, "version": entry.version, "signatures": len(merged)}
            record["signatures"] = merged
            record["status"] = records.record_status(core, merged)
            tx = self.ledger.builder().kv_set(
                self.account, RECORD_KEY.format(record["id"]), records.canonical_json(record).decode(), entry.version
            ).sign(self.settings.key)
            result = self.ledger.submit(tx, wait=True, timeout=self.settings.commit_timeout)
            if not result.committed:
                raise EvidenceError("COMMIT_TIMEOUT", f"transaction {result.tx_hash} not committed in time", 504)
            if result.status == "SUCCESS":
                return {"id": record["id"], "status": record["status"], "tx_hash": result.tx_hash,
                        "height": result.height, "version": entry.version + 1, "signatures": len(merged)}
            if result.status != "VERSION_CONFLICT":
                raise EvidenceError(result.status or "TX_FAILED", f"transaction failed: {result.status}", 409)
        raise EvidenceError("VERSION_CONFLICT", "the record kept changing; try again", 409)

    # --- reading ------------------------------------------------------------------------------------------

    def _get_entry(self, key: str, version: int | None = None) -> Entry:
        try:
            return self.ledger.get_entry(self.account, key, version)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                raise EvidenceError("RECORD_NOT_FOUND", "no evidence record with this id", 404) from error
            raise

    def get_record(self, record_id: str) -> RecordState:
        key = RECORD_KEY.format(_check_id(record_id))
        latest = self._get_entry(key)
        first = latest if latest.version == 0 else self._get_entry(key, 0)
        block = self.ledger.get_block(first.height)
        record = json.loads(latest.value)
        state = RecordState(record, latest.version, latest.height, latest.tx_hash, first.height,
                            first.tx_hash, block.time, block.certified)
        if record["core"]["kind"] == records.KIND_BATCH:
            state.members = self.members(record["id"])
        return state

    def members(self, record_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._members_cache.get(record_id)
        if cached is not None:
            return cached
        entry = self._get_entry(MEMBERS_KEY.format(record_id))
        members: list[dict[str, Any]] = json.loads(entry.value)
        with self._lock:
            self._members_cache[record_id] = members
            while len(self._members_cache) > 256:
                self._members_cache.popitem(last=False)
        return members

    def find_by_digest(self, name: str, value: str) -> dict[str, Any] | None:
        try:
            entry = self.ledger.get_entry(self.account, INDEX_KEY.format(name, value))
        except ApiError as error:
            if error.code == "NOT_FOUND":
                return None
            raise
        found: dict[str, Any] = json.loads(entry.value)
        return found

    def entry_proof(self, record_id: str, version: int | None = None) -> dict[str, Any]:
        """The certified entry bundle of the record (waits for the sealing block if needed)."""
        return self._with_pending_retry(lambda: self.ledger.entry_proof(self.account, RECORD_KEY.format(record_id), version))

    def block_time_proof(self, height: int) -> dict[str, Any]:
        """A consistency bundle from ``height`` to ``height + 1``: it carries header ``height`` and
        its commit certificate, so the block time of the preservation is checked offline."""
        def call() -> dict[str, Any]:
            try:
                return self.consistency(height, height + 1)
            except EvidenceError as error:  # block height + 1 not committed yet
                raise EvidenceError("PROOF_PENDING", error.message, 409) from error

        return self._with_pending_retry(call)

    def consistency(self, old_height: int, new_height: int | None = None) -> dict[str, Any]:
        try:
            return self.ledger.consistency_proof(old_height, new_height)
        except ApiError as error:
            if error.code == "PROOF_INVALID":
                raise EvidenceError("INVALID_HEIGHT", error.message, 400) from error
            raise

    def _with_pending_retry(self, call: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.proof_wait
        while True:
            try:
                result: dict[str, Any] = call()
                if result["header"].get("certificate") is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                return result
            except (ApiError, EvidenceError) as error:
                if error.code != "PROOF_PENDING" or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def validators(self) -> dict[str, Any]:
        from ledger.proofs import validators_to_json

        return validators_to_json(self.ledger.validators())

    def validator_fingerprint(self, validators_json: dict[str, Any]) -> str:
        from ledger.proofs import validators_from_json

        return validators_from_json(validators_json).fingerprint(hasher(self.hash_algorithm)).hex()

    def _token_summary(self, token: dict[str, str]) -> dict[str, Any]:
        try:
            info = read_token(base64.b64decode(token["token"])).to_json()
        except TimestampError as exc:
            info = {"error": str(exc)}
        return {"source": token["source"], **info}

    # --- verification -----------------------------------------------------------------------------------

    def verify(self, *, digests: dict[str, str] | None = None, record_id: str | None = None,
               member: int | None = None, with_proof: bool = True) -> dict[str, Any]:
        """Is this file / digest / record on chain, since when, signed by whom — and the proof."""
        given = records.normalize_digests(digests) if digests else {}
        report: dict[str, Any] = {"on_chain": False, "given": given, "differs": [], "matched_by": None}
        if record_id is None:
            for name in records.DIGEST_NAMES:
                if name in given:
                    found = self.find_by_digest(name, given[name])
                    if found is not None:
                        record_id, member, report["matched_by"] = found["id"], found.get("index"), name
                        break
            if record_id is None:
                report["message"] = "no evidence record holds this digest: the file was not preserved here, or it was modified"
                return report
        try:
            state = self.get_record(record_id)
        except EvidenceError as error:
            if error.code != "RECORD_NOT_FOUND":
                raise
            report["message"] = "no evidence record with this id"
            report["id"] = record_id
            return report
        core = state.core
        expected: dict[str, str]
        if core["kind"] == records.KIND_BATCH:
            assert state.members is not None
            if member is None and given:
                member = next((i for i, m in enumerate(state.members)
                               if any(m.get(n) == given.get(n) for n in records.DIGEST_NAMES)), None)
            if member is not None:
                if not 0 <= member < len(state.members):
                    raise EvidenceError("INVALID_MEMBER", f"the batch has {len(state.members)} files", 404)
                expected = {n: state.members[member][n] for n in records.DIGEST_NAMES}
                report["member"] = {"index": member, **state.members[member],
                                    "path": records.BatchTree(state.members).path(member),
                                    "root": core["batch"]["root"], "tree_size": core["batch"]["size"]}
            else:
                expected = {}
        else:
            expected = dict(core["digests"])
        comparisons = {name: {"expected": expected.get(name), "given": given[name],
                              "match": expected.get(name) == given[name]}
                       for name in given if name in expected}
        report["digests"] = comparisons or {name: {"expected": value} for name, value in expected.items()}
        report["differs"] = [name for name, item in comparisons.items() if not item["match"]]
        if given and not comparisons:
            report["message"] = "the record holds none of the given digest algorithms"
        if report["matched_by"] is None:
            report["matched_by"] = "id"
        on_chain = not report["differs"] and (bool(comparisons) or not given)
        if core["kind"] == records.KIND_BATCH and given and member is None:
            on_chain = False
            report["message"] = "the file is not a member of this batch"
        report["on_chain"] = on_chain
        if report["differs"]:
            report["message"] = ("the file differs from the preserved one: "
                                 + ", ".join(f"{name.upper()} digest differs" for name in report["differs"]))
        report.update(self.describe(state))
        if with_proof and on_chain:
            report["proof"] = self.entry_proof(state.id)
        return report

    def describe(self, state: RecordState) -> dict[str, Any]:
        """The human facts of a record: title, status, parties and who signed, since when, tokens."""
        core = state.core
        signed = {item["public_key"]: item for item in state.record["signatures"]}
        parties = [{**party, "signed": party["public_key"] in signed,
                    "signature": signed.get(party["public_key"], {}).get("signature")} for party in core["parties"]]
        return {
            "id": state.id,
            "kind": core["kind"],
            "title": core["metadata"]["title"],
            "type": core["metadata"]["type"],
            "status": state.record["status"],
            "parties": parties,
            "signed_by": [p for p in parties if p["signed"]],
            "since": {"height": state.first_height, "time": state.first_time, "time_iso": iso_ms(state.first_time),
                      "tx_hash": state.first_tx_hash, "certified": state.first_certified},
            "latest": {"version": state.version, "height": state.height, "tx_hash": state.tx_hash},
            "timestamps": [self._token_summary(t) for t in state.record["timestamps"]],
            "ledger_hash": self.settings.ledger_hash,
            "account": self.account,
        }

    def record_view(self, record_id: str) -> dict[str, Any]:
        state = self.get_record(record_id)
        view = self.describe(state)
        view["record"] = state.record
        if state.members is not None:
            view["members"] = state.members
        return view

    def verify_url(self, record_id: str, member: int | None = None) -> str:
        url = f"{self.settings.public_url.rstrip('/')}/evidence/verify?id={record_id}"
        return url if member is None else f"{url}&member={member}"


def _check_id(record_id: str) -> str:
    text = record_id.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise EvidenceError("RECORD_NOT_FOUND", "a record id is 64 hex characters", 404)
    return text


def _merge_signatures(core: dict[str, Any], record_hash: bytes, existing: Sequence[dict[str, Any]],
                      new: Sequence[Any]) -> list[dict[str, Any]]:
    merged = list(existing)
    seen = {item["public_key"] for item in merged}
    for item in new:
        checked = records.check_signature(core, record_hash, item)
        if checked["public_key"] in seen:
            continue
        seen.add(checked["public_key"])
        merged.append(checked)
    order = {party["public_key"]: position for position, party in enumerate(core["parties"])}
    return sorted(merged, key=lambda s: order[s["public_key"]])


__all__ = ["EvidenceService", "EvidenceSettings", "RecordState", "iso_ms", "settings_from_mount"]
