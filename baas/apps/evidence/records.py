"""Evidence records: what is hashed, what the parties sign, and the batch Merkle tree.

A record has an immutable *core* (digests or a batch root, metadata, parties, client time and a
nonce) and a mutable envelope (signatures collected so far, status, timestamp tokens). The
**record hash** is ``SHA-256(canonical_json(core))``; the record id is its hex form. Parties sign
the 32 raw bytes of the record hash with their ``ledger.crypto`` key (SM2, Ed25519 or ECDSA), and
the RFC 3161 tokens carry the same hash as their message imprint, so ``openssl ts -verify -data
record-core.json`` checks a token against the exact bytes of the core.

Canonical JSON: keys sorted, no insignificant whitespace, UTF-8, integers only (no floats).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ledger.crypto import KeyPair, PublicKey, address_from_public_key, from_base58, sign, to_base58, verify
from ledger.errors import CryptoError
from ledger.merkle.accumulator import MerkleAccumulator, leaf_hash, root_from_inclusion_proof

RECORD_FORMAT = "jadechain-evidence/1"
EVIDENCE_TYPES = ("contract", "invoice", "certificate", "logistics", "other")
KIND_FILE = "file"
KIND_BATCH = "batch"
STATUS_PENDING = "PENDING"
STATUS_COMPLETE = "COMPLETE"
BATCH_TREE = "rfc6962-sha256"
"""Batch leaves are ``SHA-256(0x00 ‖ canonical_json(member))``, nodes ``SHA-256(0x01 ‖ l ‖ r)``."""
MAX_BATCH = 1000
"""Files per batch: one transaction must stay under the ledger's max_tx_bytes (1 MiB by default)."""
MAX_PARTIES = 32
DIGEST_NAMES = ("sha256", "sm3")


class EvidenceError(Exception):
    """An error of the evidence app with a stable ``code`` and the HTTP status it maps to."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class StreamingDigests:
    """SM3 and SHA-256 of a stream, computed chunk by chunk (the file itself is never held)."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sm3 = hashlib.new("sm3")
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._sm3.update(chunk)
        self.size += len(chunk)

    def digests(self) -> dict[str, str]:
        return {"sha256": self._sha256.hexdigest(), "sm3": self._sm3.hexdigest()}


def digest_bytes(data: bytes) -> dict[str, str]:
    digests = StreamingDigests()
    digests.update(data)
    return digests.digests()


def digest_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> tuple[dict[str, str], int]:
    digests = StreamingDigests()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digests.update(chunk)
    return digests.digests(), digests.size


def normalize_digest(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise EvidenceError("INVALID_DIGEST", f"{name}: expected a hex string")
    text = value.strip().lower()
    if len(text) != 64:
        raise EvidenceError("INVALID_DIGEST", f"{name}: expected 64 hex characters, got {len(text)}")
    try:
        bytes.fromhex(text)
    except ValueError as exc:
        raise EvidenceError("INVALID_DIGEST", f"{name}: not hex") from exc
    return text


def normalize_digests(value: Any, *, require_both: bool = False) -> dict[str, str]:
    if not isinstance(value, dict):
        raise EvidenceError("INVALID_DIGEST", "digests: expected an object {sha256, sm3}")
    unknown = set(value) - set(DIGEST_NAMES)
    if unknown:
        raise EvidenceError("INVALID_DIGEST", f"digests: unknown algorithm(s) {sorted(unknown)}")
    digests = {name: normalize_digest(name, value[name]) for name in DIGEST_NAMES if value.get(name) is not None}
    if not digests or (require_both and len(digests) != 2):
        raise EvidenceError("INVALID_DIGEST", "digests: give sha256 and sm3" if require_both else
                            "digests: give at least one of sha256, sm3")
    return digests


# --- parties and signatures -------------------------------------------------------------------

def make_party(name: str, public_key: str) -> dict[str, str]:
    """A party of a record: display name, base58 encoded public key and its ledger address."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise EvidenceError("INVALID_PARTY", "party: a name of 1-200 characters is needed")
    try:
        key = PublicKey.from_encoded(from_base58(public_key))
    except (CryptoError, ValueError, TypeError) as exc:
        raise EvidenceError("INVALID_PARTY", f"party {name!r}: bad public key ({exc})") from exc
    return {"name": name.strip(), "public_key": to_base58(key.encoded), "address": address_from_public_key(key),
            "algorithm": key.algorithm.name}


def normalize_parties(parties: Any) -> list[dict[str, str]]:
    if not isinstance(parties, list) or not parties:
        raise EvidenceError("INVALID_PARTY", "parties: a non-empty list of {name, public_key} is needed")
    if len(parties) > MAX_PARTIES:
        raise EvidenceError("INVALID_PARTY", f"parties: at most {MAX_PARTIES}")
    result: list[dict[str, str]] = []
    for item in parties:
        if not isinstance(item, dict):
            raise EvidenceError("INVALID_PARTY", "party: expected {name, public_key}")
        result.append(make_party(item.get("name", ""), item.get("public_key", "")))
    keys = [party["public_key"] for party in result]
    if len(set(keys)) != len(keys):
        raise EvidenceError("INVALID_PARTY", "parties: the same key is listed twice")
    return result


def sign_record(record_hash: bytes, keypair: KeyPair) -> dict[str, str]:
    """A party's signature over the record hash, in the form the API takes."""
    return {"public_key": to_base58(keypair.public.encoded), "signature": to_base58(sign(keypair.private, record_hash))}


def check_signature(core: dict[str, Any], record_hash: bytes, item: Any) -> dict[str, str]:
    """Check one ``{public_key, signature}`` against the record's parties; return it normalised."""
    if not isinstance(item, dict):
        raise EvidenceError("INVALID_SIGNATURE", "signature: expected {public_key, signature}")
    party = next((p for p in core["parties"] if p["public_key"] == item.get("public_key")), None)
    if party is None:
        raise EvidenceError("NOT_A_PARTY", "signature: the key is not one of the record's parties", 403)
    try:
        key = PublicKey.from_encoded(from_base58(party["public_key"]))
        signature = from_base58(str(item.get("signature", "")))
        valid = verify(key, record_hash, signature)
    except (CryptoError, ValueError, TypeError):
        valid = False
    if not valid:
        raise EvidenceError("INVALID_SIGNATURE", f"signature of {party['name']!r} does not verify over the record hash")
    return {"public_key": party["public_key"], "signature": to_base58(signature), "party": party["name"]}


def signature_valid(core: dict[str, Any], record_hash: bytes, item: dict[str, Any]) -> bool:
    try:
        check_signature(core, record_hash, item)
    except EvidenceError:
        return False
    return True


def record_status(core: dict[str, Any], signatures: Sequence[dict[str, Any]]) -> str:
    signed = {item["public_key"] for item in signatures}
    required = {party["public_key"] for party in core["parties"]}
    return STATUS_COMPLETE if required <= signed else STATUS_PENDING


# --- cores ----------------------------------------------------------------------------------------

def normalize_metadata(title: Any, evidence_type: Any, description: Any = None, file_name: Any = None) -> dict[str, Any]:
    if not isinstance(title, str) or not title.strip() or len(title) > 500:
        raise EvidenceError("INVALID_METADATA", "title: 1-500 characters are needed")
    if evidence_type not in EVIDENCE_TYPES:
        raise EvidenceError("INVALID_METADATA", f"type: one of {', '.join(EVIDENCE_TYPES)}")
    metadata: dict[str, Any] = {"title": title.strip(), "type": evidence_type}
    if description:
        metadata["description"] = str(description)[:4000]
    if file_name:
        metadata["file_name"] = os.path.basename(str(file_name))[:500]
    return metadata


def _base_core(kind: str, metadata: dict[str, Any], parties: list[dict[str, str]], created_at: int | None,
               nonce: str | None) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "metadata": metadata,
        "metadata_hash": sha256(canonical_json(metadata)).hex(),
        "parties": parties,
        "created_at": int(created_at) if created_at is not None else _now_ms(),
        "nonce": nonce if nonce else os.urandom(16).hex(),
    }


def build_file_core(
    *, digests: dict[str, str], metadata: dict[str, Any], parties: Any, size: int | None = None,
    created_at: int | None = None, nonce: str | None = None,
) -> dict[str, Any]:
    """The core of a one-file record (``digests``: sha256 and/or sm3 hex)."""
    core = _base_core(KIND_FILE, metadata, normalize_parties(parties), created_at, nonce)
    core["digests"] = normalize_digests(digests)
    if size is not None:
        core["size"] = int(size)
    return core


def normalize_member(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise EvidenceError("INVALID_BATCH", "batch item: expected {name, sha256, sm3, size}")
    member: dict[str, Any] = normalize_digests({k: item.get(k) for k in DIGEST_NAMES}, require_both=True)  # type: ignore[assignment]
    member["name"] = os.path.basename(str(item.get("name") or ""))[:200]
    if item.get("size") is not None:
        member["size"] = int(item["size"])
    return member


def build_batch_core(
    *, members: Sequence[dict[str, Any]], metadata: dict[str, Any], parties: Any,
    created_at: int | None = None, nonce: str | None = None,
) -> dict[str, Any]:
    """The core of a batch: the Merkle root over its members (each member keeps its own path)."""
    if not members:
        raise EvidenceError("INVALID_BATCH", "batch: at least one file is needed")
    if len(members) > MAX_BATCH:
        raise EvidenceError("INVALID_BATCH", f"batch: at most {MAX_BATCH} files")
    normalized = [normalize_member(m) for m in members]
    core = _base_core(KIND_BATCH, metadata, normalize_parties(parties), created_at, nonce)
    core["batch"] = {"tree": BATCH_TREE, "size": len(normalized), "root": BatchTree(normalized).root.hex()}
    return core


def record_hash(core: dict[str, Any]) -> bytes:
    return sha256(canonical_json(core))


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


# --- batch tree --------------------------------------------------------------------------------------

def member_leaf(member: dict[str, Any]) -> bytes:
    """The leaf data of a batch member (its leaf hash is ``SHA-256(0x00 ‖ leaf data)``)."""
    return canonical_json(member)


class BatchTree:
    """The RFC 6962 Merkle tree over a batch's members (reusing the ledger's accumulator)."""

    def __init__(self, members: Iterable[dict[str, Any]]) -> None:
        self.members = list(members)
        nodes: dict[tuple[int, int], bytes] = {}
        self.root, self.size, new_nodes = MerkleAccumulator(sha256, 0, lambda level, index: nodes.get((level, index))).append(
            [member_leaf(m) for m in self.members]
        )
        nodes.update(new_nodes)
        self._view = MerkleAccumulator(sha256, self.size, lambda level, index: nodes.get((level, index)))

    def path(self, index: int) -> list[str]:
        return [node.hex() for node in self._view.inclusion_proof(index, self.size)]


def member_root(member: dict[str, Any], index: int, size: int, path: Sequence[str]) -> bytes:
    """The batch root that a member and its inclusion path imply (ProofError if malformed)."""
    return root_from_inclusion_proof(sha256, index, size, leaf_hash(sha256, member_leaf(member)),
                                     [bytes.fromhex(node) for node in path])


@dataclass(frozen=True)
class Prepared:
    """A core ready to be signed: its id (the record hash, hex) and the hash itself."""

    core: dict[str, Any]

    @property
    def record_hash(self) -> bytes:
        return record_hash(self.core)

    @property
    def id(self) -> str:
        return self.record_hash.hex()
