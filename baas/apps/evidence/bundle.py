"""The evidence bundle: one zip a court or any third party checks offline, with no node.

Layout::

    README.txt                  what is inside and how to check it by hand
    manifest.json               format, record id, member index, SHA-256 of every other file
    record.json                 the record as stored on chain (core, signatures, status, tokens)
    record-core.json            the canonical bytes of the core: record hash = SHA-256(this file)
    member.json                 (batch member only) the member, its leaf index and inclusion path
    proof/record.json           ledger.proofs entry bundle of the record's latest version (certified)
    proof/record-v0.json        entry bundle of version 0 (the preservation) when signatures came later
    proof/block-time.json       consistency bundle from the preservation block to the next: carries
                                the preservation block header and its commit certificate
    validators.json             the validator set the proofs were checked against
    timestamps/<n>-<source>.tsr RFC 3161 TimeStampResp files over the record hash
    tsa/ca.pem, tsa/tsa.pem     the network TSA's CA and TSA certificates (tsa/external-ca.pem too)

:func:`verify_evidence_zip` checks everything; ``jadechain verify proof/record.json`` checks the
ledger proof alone, and ``openssl ts -verify -data record-core.json -in timestamps/1-network.tsr
-CAfile tsa/ca.pem`` the network timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import algorithm_by_name, hasher
from ledger.errors import JadechainError
from ledger.proofs import validators_from_json, verify_bundle
from ledger.types import BlockHeader

from baas.apps.evidence import records
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.tsa import (
    TimestampError,
    load_certificates,
    response_from_token,
    token_from_file,
    verify_token,
)

BUNDLE_FORMAT = "jadechain-evidence-bundle/1"

README = """Jadechain evidence bundle
=========================

Record id (= record hash, SHA-256 of record-core.json): {id}
Title: {title}
{member_line}
What this proves
----------------
* record-core.json is the exact content the parties signed and the timestamp authority stamped:
  the file digests (SHA-256 and SM3) or the batch Merkle root, the metadata and the parties.
* proof/record.json proves that the record (record.json) is an entry of the ledger {ledger_hash},
  in the state certified by the validators' commit certificate (2f+1 signatures).
* proof/record-v0.json (when present) proves the first version: the preservation itself.
* proof/block-time.json carries the header of block {height}, where the record was first written, and
  its commit certificate: its time ({time}) is the certified time of the preservation.
* timestamps/*.tsr are RFC 3161 tokens over the record hash.

How to check it, with no node
-----------------------------
1. sha256sum record-core.json  -> must equal the record id above.
2. jadechain verify proof/record.json --ledger {ledger_hash}
   (pin the ledger hash your consortium published, not one read from this zip; or pin a validator
   set you trust: jadechain verify proof/record.json --validators validators.json)
3. openssl ts -verify -data record-core.json -in timestamps/1-network.tsr -CAfile tsa/ca.pem
4. The parties' signatures (record.json "signatures") are signatures of their keys over the 32 raw
   bytes of the record hash; member.json holds a batch member's RFC 6962 inclusion path (SHA-256,
   leaf = 0x00 || canonical JSON of the member) to the batch root in record-core.json.
5. Everything at once, in Python:
     from baas.apps.evidence import verify_evidence_zip
     print(verify_evidence_zip("this.zip"))
Trust the validator set only if it matches the one your consortium published (validators.json,
fingerprint {fingerprint}).
"""


def build_evidence_zip(service: Any, record_id: str, member: int | None = None) -> bytes:
    """Gather the record, its proofs, its tokens and the TSA chain into a zip (bytes)."""
    state = service.get_record(record_id)
    core = state.core
    files: dict[str, bytes] = {}
    files["record.json"] = json.dumps(state.record, indent=2, ensure_ascii=False).encode()
    files["record-core.json"] = records.canonical_json(core)
    if core["kind"] == records.KIND_BATCH:
        members = state.members or []
        if member is not None:
            if not 0 <= member < len(members):
                raise EvidenceError("INVALID_MEMBER", f"the batch has {len(members)} files", 404)
            files["member.json"] = json.dumps({
                "index": member, "member": members[member], "tree_size": len(members),
                "path": records.BatchTree(members).path(member), "root": core["batch"]["root"],
                "tree": records.BATCH_TREE,
            }, indent=2).encode()
        else:
            files["members.json"] = json.dumps(members, indent=2, ensure_ascii=False).encode()
    elif member is not None:
        raise EvidenceError("INVALID_MEMBER", "only a batch has members", 400)
    latest = service.entry_proof(state.id)
    files["proof/record.json"] = json.dumps(latest, indent=2).encode()
    if state.version > 0:
        files["proof/record-v0.json"] = json.dumps(service.entry_proof(state.id, 0), indent=2).encode()
    files["proof/block-time.json"] = json.dumps(service.block_time_proof(state.first_height), indent=2).encode()
    files["validators.json"] = json.dumps(latest["validators"], indent=2).encode()
    for position, token in enumerate(state.record["timestamps"], start=1):
        name = "network" if token["source"] == "network" else "external"
        files[f"timestamps/{position}-{name}.tsr"] = response_from_token(base64.b64decode(token["token"]))
    files["tsa/ca.pem"] = service.tsa.ca_pem
    files["tsa/tsa.pem"] = service.tsa.certificate_pem
    if service.external_ca_pem:  # parsed and re-encoded certificates, never a file's raw bytes
        files["tsa/external-ca.pem"] = service.external_ca_pem
    files["README.txt"] = README.format(
        id=state.id, title=core["metadata"]["title"], ledger_hash=service.settings.ledger_hash,
        height=state.first_height, time=_iso(state.first_time),
        member_line="" if member is None else f"Batch member: #{member} ({(state.members or [])[member].get('name', '')})\n",
        fingerprint=service.validator_fingerprint(latest["validators"]),
    ).encode()
    manifest = {"format": BUNDLE_FORMAT, "id": state.id, "member": member,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _iso(ms: int) -> str:
    from baas.apps.evidence.service import iso_ms

    return iso_ms(ms)


# --- offline verification ----------------------------------------------------------------------------------

@dataclass
class EvidenceReport:
    """The outcome of :func:`verify_evidence_zip`: ``valid`` only if every check passed."""

    valid: bool = False
    id: str = ""
    title: str = ""
    kind: str = ""
    status: str = ""
    member: int | None = None
    digests: dict[str, str] = field(default_factory=dict)
    ledger_hash: str = ""
    height: int | None = None
    """Block height of the preservation (version 0 of the record)."""
    certified_time: int | None = None
    """The preservation block's time (ms), as certified by the validators."""
    certified_time_iso: str = ""
    tx_hash: str = ""
    signers: list[dict[str, Any]] = field(default_factory=list)
    timestamps: list[dict[str, Any]] = field(default_factory=list)
    validator_fingerprint: str = ""
    checkpoint: dict[str, Any] = field(default_factory=dict)
    """The newest certified header in the bundle ``{height, header_hash}``: keep it, and later check a
    consistency proof (:func:`verify_consistency_from`) that the ledger only grew since."""
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_evidence_zip(
    path: str | Path | bytes, *, trusted_validators: ValidatorSet | None = None,
    trusted_tsa_cas: list[Any] | None = None, file: str | Path | None = None,
) -> EvidenceReport:
    """Check an evidence bundle with no node: proofs, certificates, signatures, batch path, tokens.

    ``trusted_validators`` pins the validator set (otherwise the bundle's own, with a warning);
    ``trusted_tsa_cas`` pins TSA CA certificates (otherwise the bundle's ``tsa/*.pem``, with a
    warning); ``file`` also checks that a file's digests are the preserved ones.
    """
    report = EvidenceReport()
    try:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        report.failures.append(f"bundle: cannot read the zip ({exc})")
        return report
    try:
        _verify(files, report, trusted_validators, trusted_tsa_cas, file)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        report.failures.append(f"bundle: malformed ({type(exc).__name__}: {exc})")
    report.valid = not report.failures
    return report


def _check(report: EvidenceReport, ok: bool, success: str, failure: str) -> bool:
    (report.checks if ok else report.failures).append(success if ok else failure)
    return ok


def _verify(files: dict[str, bytes], report: EvidenceReport, trusted: ValidatorSet | None,
            trusted_cas: list[Any] | None, file: str | Path | None) -> None:
    manifest = json.loads(files["manifest.json"])
    if manifest.get("format") != BUNDLE_FORMAT:
        report.failures.append("manifest: not a Jadechain evidence bundle")
        return
    for name, digest in manifest["files"].items():
        if name not in files or hashlib.sha256(files[name]).hexdigest() != digest:
            report.failures.append(f"manifest: {name} is missing or altered")
    record = json.loads(files["record.json"])
    core_bytes = files["record-core.json"]
    core = json.loads(core_bytes)
    record_hash = hashlib.sha256(core_bytes).digest()
    report.id, report.kind, report.status = record["id"], core["kind"], record["status"]
    report.title = core["metadata"]["title"]
    _check(report, records.canonical_json(core) == core_bytes and core == record["core"],
           "record-core.json is the canonical form of the record's core",
           "record-core.json differs from the record's core or is not canonical")
    _check(report, record_hash.hex() == record["id"] == manifest["id"],
           "record id = SHA-256 of the core", "record id is not the SHA-256 of the core")
    _check(report, hashlib.sha256(records.canonical_json(core["metadata"])).hexdigest() == core["metadata_hash"],
           "metadata hash matches the metadata", "metadata hash differs from the metadata")

    # Ledger proofs.
    if trusted is None:
        report.warnings.append("validator set taken from the bundle: compare its fingerprint with the published one")
        trusted = validators_from_json(json.loads(files["validators.json"]))
    hash_algorithm = None
    latest = json.loads(files["proof/record.json"])
    first = json.loads(files["proof/record-v0.json"]) if "proof/record-v0.json" in files else latest
    for label, bundle in (("latest version", latest), ("version 0", first)):
        try:
            verified = verify_bundle(bundle, trusted_validators=trusted, require_certificate=True)
        except JadechainError as exc:
            report.failures.append(f"ledger proof ({label}): {exc.message}")
            continue
        hash_algorithm = bundle["hash_algorithm"]
        claim = verified.claim
        stored = json.loads(claim["value"]["value"]) if claim["value"]["type"] in ("TEXT", "JSON") else None
        _check(report, claim["key"] == f"record/{record['id']}" and stored is not None and stored["core"] == core,
               f"ledger proof ({label}): entry {claim['key']} v{claim['version']} certified by "
               f"{verified.signers} validator(s) at height {verified.height}",
               f"ledger proof ({label}): the proven entry is not this record")
        if label == "version 0":
            _check(report, claim["version"] == 0, "the preservation (version 0) is proven",
                   "record-v0 does not prove version 0")
            report.height, report.tx_hash = claim["written_at_height"], claim["tx_hash"]
        elif stored is not None:
            _check(report, stored == record, "record.json is the proven latest version",
                   "record.json differs from the proven latest version")
    report.ledger_hash = latest["ledger_hash"]
    report.checkpoint = {"ledger_hash": latest["ledger_hash"], "height": latest["header"]["height"],
                         "header_hash": latest["header"]["hash"]}
    if hash_algorithm is not None:
        report.validator_fingerprint = trusted.fingerprint(hasher(algorithm_by_name(hash_algorithm))).hex()

    # Certified time of the preservation block.
    try:
        time_bundle = json.loads(files["proof/block-time.json"])
        verify_bundle(time_bundle, trusted_validators=trusted, require_certificate=True)
        header: BlockHeader = codec.decode(BlockHeader, bytes.fromhex(time_bundle["old_header"]["encoded"]))
        if _check(report, header.height == report.height,
                  f"block {header.height} header and commit certificate verified: certified time",
                  "block-time proof is for another block than the preservation"):
            report.certified_time = header.time
            report.certified_time_iso = _iso(header.time)
    except JadechainError as exc:
        report.failures.append(f"block time proof: {exc.message}")

    # Parties' signatures.
    signed = {s["public_key"]: s for s in record["signatures"]}
    for party in core["parties"]:
        item = signed.get(party["public_key"])
        if item is None:
            report.signers.append({**party, "signed": False})
            continue
        ok = records.signature_valid(core, record_hash, item)
        _check(report, ok, f"signature of {party['name']} ({party['algorithm']}) verifies over the record hash",
               f"signature of {party['name']} does not verify")
        report.signers.append({**party, "signed": ok, "signature": item["signature"]})
    unknown = set(signed) - {p["public_key"] for p in core["parties"]}
    _check(report, not unknown, "every signature is by a party", "a signature is by a key that is not a party")
    _check(report, record["status"] == records.record_status(core, record["signatures"]),
           f"status {record['status']} matches the signatures", "status does not match the signatures")

    # What was preserved: one file's digests, or a batch member and its inclusion path.
    if core["kind"] == records.KIND_BATCH:
        if "member.json" in files:
            member = json.loads(files["member.json"])
            report.member = member["index"]
            report.digests = {n: member["member"][n] for n in records.DIGEST_NAMES}
            try:
                root = records.member_root(member["member"], member["index"], core["batch"]["size"], member["path"])
                _check(report, root.hex() == core["batch"]["root"],
                       f"member #{member['index']} is in the batch Merkle tree (RFC 6962 inclusion path)",
                       "member inclusion path does not lead to the batch root")
            except JadechainError as exc:
                report.failures.append(f"member inclusion path: {exc.message}")
        elif "members.json" in files:
            members = json.loads(files["members.json"])
            _check(report, records.BatchTree(members).root.hex() == core["batch"]["root"],
                   f"the {len(members)} batch members hash to the batch root",
                   "the batch members do not hash to the batch root")
    else:
        report.digests = dict(core["digests"])
    if file is not None:
        given, _ = records.digest_file(file)
        differs = [name for name, value in report.digests.items() if given.get(name) != value]
        _check(report, not differs, "the given file has the preserved digests",
               "the given file differs: " + ", ".join(f"{n.upper()} digest differs" for n in differs))

    # Timestamp tokens.
    if trusted_cas is None:
        trusted_cas = []
        for name in ("tsa/ca.pem", "tsa/external-ca.pem"):
            if name in files:
                trusted_cas += load_certificates(files[name])
        report.warnings.append("TSA CA certificates taken from the bundle: compare them with the published ones")
    tokens = sorted(name for name in files if name.startswith("timestamps/"))
    _check(report, bool(tokens), f"{len(tokens)} timestamp token(s) present", "no timestamp token")
    stored_tokens = {base64.b64decode(t["token"]) for t in record["timestamps"]}
    for name in tokens:
        try:
            token = token_from_file(files[name])
            info = verify_token(token, imprint=record_hash, trusted_cas=trusted_cas)
            _check(report, token in stored_tokens, f"{name}: token over the record hash, genTime {info.gen_time}, "
                   f"serial {info.serial:x}, TSA {info.tsa_name}", f"{name}: not a token of the record")
            report.timestamps.append({"file": name, **info.to_json()})
        except (TimestampError, ValueError) as exc:
            report.failures.append(f"{name}: {exc}")


def verify_consistency_from(
    checkpoint: dict[str, Any], bundle: dict[str, Any], *, trusted_validators: ValidatorSet | None = None,
) -> dict[str, Any]:
    """Check a consistency bundle (``GET /evidence/consistency?old_height=``) against a checkpoint the
    verifier kept (``EvidenceReport.checkpoint``): the bundle's old header must be *that* header, and the
    RFC 9162 proof must show the log at the new height extends it. Returns the new checkpoint; raises
    :class:`EvidenceError` (code ``HISTORY_REWRITTEN`` or ``PROOF_INVALID``) naming the failed check."""
    try:
        verified = verify_bundle(bundle, trusted_validators=trusted_validators, require_certificate=True)
    except JadechainError as exc:
        raise EvidenceError("PROOF_INVALID", f"consistency proof: {exc.message}", 422) from exc
    if verified.kind != "consistency":
        raise EvidenceError("PROOF_INVALID", "not a consistency bundle", 422)
    old = bundle["old_header"]
    if bundle["ledger_hash"] != checkpoint.get("ledger_hash", bundle["ledger_hash"]):
        raise EvidenceError("PROOF_INVALID", "the proof is for another ledger", 422)
    if old["height"] != checkpoint["height"]:
        raise EvidenceError("PROOF_INVALID", f"the proof starts at height {old['height']}, the checkpoint is "
                            f"{checkpoint['height']}", 422)
    if old["hash"] != checkpoint["header_hash"]:
        raise EvidenceError("HISTORY_REWRITTEN", f"header {old['height']} differs from the checkpoint: the ledger's "
                            "history was rewritten", 409)
    return {"ledger_hash": bundle["ledger_hash"], "height": bundle["header"]["height"],
            "header_hash": bundle["header"]["hash"]}
