"""Proof bundles: self-describing JSON that proves a value, transaction or event offline.

A bundle carries everything needed to check it with no node: the record in its
canonical bytes, the Merkle path, the block header whose roots the path ends in,
that header's commit certificate (a quorum of validator signatures), the validator
set, the genesis block and the certified epoch changes. :func:`verify_bundle`
recomputes every hash from the bytes; the human-readable ``claim`` is compared with
the decoded record, so a bundle cannot say one thing and prove another.

Trust: a bundle is self-consistent for whatever ledger it names, so the verifier
needs an anchor from the user — the expected ledger hash, or a validator set — and
every header but genesis must carry a valid commit certificate. Builders prove
against the latest *certified* header (:class:`ProofPending` until one covers the record).

Execution is pipelined (a header carries the roots of the block *before* it),
so data written in block ``h`` is proven against the header of a later block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ledger import codec
from ledger.certificate import (
    CommitCertificate,
    EpochChangeCertificate,
    ValidatorSet,
    ValidatorSignature,
    verify_certificate,
    verify_epoch_chain,
)
from ledger.crypto import (
    PublicKey,
    address_from_public_key,
    algorithm_by_code,
    algorithm_by_name,
    from_base58,
    hasher,
    to_base58,
    verify,
)
from ledger.errors import (
    CodecError,
    CryptoError,
    JadechainError,
    NotFound,
    ProofError,
    ProofPending,
    TrustAnchorRequired,
)
from ledger.merkle.accumulator import leaf_hash, verify_consistency, verify_inclusion
from ledger.merkle.state_tree import SparseMerkleProof, verify_sparse_merkle_proof
from ledger.state import NS_ENTRY, make_state_key
from ledger.types import Block, BlockHeader, EntryRecord, Event, RegisterParticipant, Transaction, TransactionInfo
from ledger.values import TypedValue, ValueType

BUNDLE_FORMAT = "jadechain-proof-bundle/1"


# --- building ------------------------------------------------------------------------

def _header_part(ledger: Any, height: int) -> dict[str, Any]:
    header: BlockHeader = ledger.get_header(height)
    certificate: CommitCertificate | None = ledger.get_certificate(height)
    return {
        "height": height,
        "hash": to_base58(ledger.hash_header(header)),
        "encoded": codec.encode(header).hex(),
        "certificate": None if certificate is None else certificate_to_json(certificate),
    }


def certificate_to_json(certificate: CommitCertificate) -> dict[str, Any]:
    return {
        "epoch": certificate.epoch,
        "height": certificate.height,
        "header_hash": to_base58(certificate.header_hash),
        "ledger_hash": to_base58(certificate.ledger_hash),
        "signatures": [
            {"public_key": to_base58(s.public_key), "signature": to_base58(s.signature)}
            for s in certificate.signatures
        ],
    }


def certificate_from_json(data: Any) -> CommitCertificate:
    try:
        return CommitCertificate(
            ledger_hash=from_base58(data["ledger_hash"]),
            height=int(data["height"]),
            header_hash=from_base58(data["header_hash"]),
            epoch=int(data["epoch"]),
            signatures=tuple(
                ValidatorSignature(from_base58(s["public_key"]), from_base58(s["signature"]))
                for s in data["signatures"]
            ),
        )
    except (KeyError, TypeError, ValueError, CryptoError) as exc:
        raise ProofError(f"certificate: malformed ({exc})") from exc


def validators_to_json(validators: ValidatorSet) -> dict[str, Any]:
    return {"epoch": validators.epoch, "public_keys": [to_base58(k) for k in validators.public_keys]}


def validators_from_json(data: Any) -> ValidatorSet:
    try:
        return ValidatorSet(int(data["epoch"]), tuple(from_base58(k) for k in data["public_keys"]))
    except (KeyError, TypeError, ValueError, CryptoError) as exc:
        raise ProofError(f"validators: malformed ({exc})") from exc


def _base(ledger: Any, kind: str, proof_height: int) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "kind": kind,
        "ledger_hash": to_base58(ledger.ledger_hash),
        "hash_algorithm": ledger.hash_algorithm.name,
        "header": _header_part(ledger, proof_height),
        "validators": validators_to_json(ledger.validator_set(ledger.get_header(proof_height).epoch)),
        # The genesis block binds the first validator set to the ledger hash itself, so an
        # offline verifier that trusts only the ledger hash can check the certificate; the
        # epoch changes carry it forward to the validators of the header's epoch.
        "genesis": codec.encode(ledger.get_block(0)).hex(),
        "epoch_changes": _epoch_changes(ledger, ledger.get_header(proof_height).epoch),
    }


def _epoch_changes(ledger: Any, epoch: int) -> list[str]:
    changes = []
    for number in range(1, epoch + 1):
        certificate = ledger.get_epoch_certificate(number)
        if certificate is None:
            raise ProofPending(f"the change to epoch {number} is not certified yet")
        changes.append(codec.encode(certificate).hex())
    return changes


CERTIFIED_SCAN_LIMIT = 1024
"""Headers looked at to find a certified one: certificates lag the tip by a block or two, so a
longer search means the node holds no certificates (a dev node without a quorum of keys)."""


def latest_certified_height(ledger: Any, lowest: int, highest: int | None = None) -> int:
    """The highest height in [lowest, highest] whose header carries a commit certificate.

    Proofs are built against certified headers only: a verifier refuses any other header
    but genesis, so proving against the newest (not yet certified) one would only fail.
    """
    top = ledger.height if highest is None else min(highest, ledger.height)
    for height in range(top, max(lowest, 1, top - CERTIFIED_SCAN_LIMIT) - 1, -1):
        if ledger.get_certificate(height) is not None:
            return height
    ledger.get_header(max(lowest, 1))  # Archived when the headers that could prove it were archived
    raise ProofPending(
        f"no certified header between heights {lowest} and {top} yet; retry once a later block is certified"
    )


def genesis_validator_set(genesis: Block, ledger_hash: bytes, hash_fn: Callable[[bytes], bytes]) -> ValidatorSet:
    """The epoch-0 validators named by a genesis block, after checking it is this ledger's."""
    hash_code = int.from_bytes(ledger_hash[:2], "big")
    if genesis.header.height != 0 or len(genesis.transactions) != 1:
        raise ProofError("genesis: not a genesis block")
    if hash_code.to_bytes(2, "big") + hash_fn(codec.encode(genesis.header)) != ledger_hash:
        raise ProofError("genesis: its hash is not the ledger hash")
    tx = genesis.transactions[0]
    tx_hash = hash_code.to_bytes(2, "big") + hash_fn(codec.encode(tx.content))
    if genesis.header.tx_root != hash_fn(codec.pack_canonical([tx_hash])):
        raise ProofError("genesis: its transaction is not the one the header commits to")
    keys = sorted(op.public_key for op in tx.content.operations if isinstance(op, RegisterParticipant))
    if not keys:
        raise ProofError("genesis: names no participants")
    return ValidatorSet(0, tuple(keys))


def typed_value_to_json(value: TypedValue) -> dict[str, Any]:
    shown: Any
    if value.type in (ValueType.BYTES,):
        shown = value.data.hex()
    else:
        shown = value.to_python()
    return {"type": value.type.name, "value": shown}


def build_entry_bundle(ledger: Any, account: str, key: str, version: int | None = None) -> dict[str, Any]:
    """Prove one version of an entry against the first header that certifies it."""
    record: EntryRecord = ledger.get_entry(account, key, version)
    next_height: int | None = None
    try:
        following: EntryRecord = ledger.get_entry(account, key, record.version + 1)
        next_height = following.height
    except NotFound:
        next_height = None
    if next_height is not None and next_height == record.height:
        raise ProofError(
            f"version {record.version} was overwritten in the same block; only block-final values are proven"
        )
    # The version is the state at every tree version from record.height to (next_height - 1),
    # so any certified header from record.height + 1 to next_height proves it.
    if ledger.height < record.height + 1:
        raise ProofPending(
            f"entry written at height {record.height}; its proof needs block {record.height + 1}"
        )
    proof_height = latest_certified_height(ledger, record.height + 1, next_height)
    tree_version = proof_height - 1
    state_key = ledger.entry_state_key(account, key)
    value_hash, proof = ledger.state_tree().get_with_proof(state_key, tree_version)
    if value_hash != ledger.hash_fn(codec.encode(record)):
        raise ProofError("internal: the state tree does not hold this entry version")
    bundle = _base(ledger, "entry", proof_height)
    bundle["claim"] = _entry_claim(record)
    bundle["record"] = codec.encode(record).hex()
    bundle["state_proof"] = {"key_hash": state_key.hex(), "tree_version": tree_version, "proof": proof.to_dict()}
    return bundle


def _entry_claim(record: EntryRecord) -> dict[str, Any]:
    """The human-readable statement of an entry bundle, derived from the record alone."""
    return {
        "account": record.account,
        "key": record.key,
        "version": record.version,
        "value": typed_value_to_json(record.value),
        "written_at_height": record.height,
        "tx_hash": to_base58(record.tx_hash),
    }


def _event_claim(event: Event) -> dict[str, Any]:
    return {
        "account": event.account,
        "topic": event.topic,
        "sequence": event.sequence,
        "content": typed_value_to_json(event.content),
        "height": event.height,
        "tx_hash": to_base58(event.tx_hash),
    }


def build_transaction_bundle(ledger: Any, tx_hash: bytes) -> dict[str, Any]:
    stored = ledger.get_transaction(tx_hash)
    height = stored.info.height
    if ledger.height < height + 1:
        raise ProofPending(f"transaction in block {height}; its proof needs block {height + 1}")
    proof_height = _first_certified_height(ledger, height + 1)
    header: BlockHeader = ledger.get_header(proof_height)
    path = ledger.accumulator(header.accumulator_size).inclusion_proof(
        stored.accumulator_index, header.accumulator_size
    )
    bundle = _base(ledger, "transaction", proof_height)
    bundle["claim"] = _transaction_claim(stored.transaction, stored.info)
    bundle["transaction"] = codec.encode(stored.transaction).hex()
    bundle["info"] = codec.encode(stored.info).hex()
    bundle["accumulator_proof"] = {
        "leaf_index": stored.accumulator_index,
        "tree_size": header.accumulator_size,
        "path": [node.hex() for node in path],
    }
    return bundle


def _first_certified_height(ledger: Any, lowest: int) -> int:
    """The first certified header at or above ``lowest`` (stable: the same bundle every time)."""
    for height in range(lowest, min(ledger.height, lowest + CERTIFIED_SCAN_LIMIT) + 1):
        if ledger.get_certificate(height) is not None:
            return height
    raise ProofPending(f"no certified header at or above height {lowest} yet; retry once one is certified")


def _transaction_claim(tx: Transaction, info: TransactionInfo) -> dict[str, Any]:
    claim = {
        "tx_hash": to_base58(info.tx_hash),
        "height": info.height,
        "index": info.index,
        "status": info.status,
        "gas_used": info.gas_used,
        "signers": [
            address_from_public_key(PublicKey.from_encoded(s.public_key)) for s in tx.signatures
        ],
        "operations": [type(op).__name__ for op in tx.content.operations],
    }
    if info.results:  # only then: a bundle issued before results were recorded keeps verifying
        claim["results"] = [typed_value_to_json(value) for value in info.results]
    return claim


def build_event_bundle(ledger: Any, account: str, topic: str, sequence: int) -> dict[str, Any]:
    events = ledger.get_events(account, topic, sequence, 1)
    if not events or events[0].sequence != sequence:
        raise NotFound(f"no event {sequence} on topic {topic!r} of {account}")
    event: Event = events[0]
    bundle = build_transaction_bundle(ledger, event.tx_hash)
    tx_events = ledger.get_tx_events(event.tx_hash)
    bundle["kind"] = "event"
    bundle["transaction_claim"] = bundle.pop("claim")
    bundle["claim"] = _event_claim(event)
    bundle["event"] = codec.encode(event).hex()
    bundle["tx_events"] = codec.encode_list(tx_events).hex()
    return bundle


def build_consistency_bundle(ledger: Any, old_height: int, new_height: int | None = None) -> dict[str, Any]:
    """Prove that the transaction log at ``new_height`` extends the one at ``old_height`` (RFC 9162)."""
    if not 0 <= old_height <= ledger.height or (new_height is not None and not old_height <= new_height <= ledger.height):
        raise ProofError("heights must satisfy 0 <= old <= new <= latest")
    new = latest_certified_height(ledger, old_height) if new_height is None else new_height
    for height in (old_height, new):
        if height > 0 and ledger.get_certificate(height) is None:
            raise ProofPending(f"header {height} is not certified yet")
    old_header: BlockHeader = ledger.get_header(old_height)
    new_header: BlockHeader = ledger.get_header(new)
    path = ledger.accumulator(new_header.accumulator_size).consistency_proof(
        old_header.accumulator_size, new_header.accumulator_size
    )
    bundle = _base(ledger, "consistency", new)
    bundle["old_header"] = _header_part(ledger, old_height)
    bundle["claim"] = {
        "old_height": old_height,
        "new_height": new,
        "old_size": old_header.accumulator_size,
        "new_size": new_header.accumulator_size,
    }
    bundle["consistency_proof"] = [node.hex() for node in path]
    return bundle


# --- verifying -------------------------------------------------------------------------------

@dataclass
class VerificationReport:
    kind: str
    ledger_hash: str
    height: int
    certified: bool
    signers: int
    checks: list[str] = field(default_factory=list)
    claim: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    anchor: str = ""
    """What the verifier trusted: the pinned ledger hash, the pinned validator set, or nothing."""


def _hex(value: Any, label: str) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{label}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise ProofError(f"{label}: not hex") from exc


def _decode(tp: Any, data: bytes, label: str) -> Any:
    try:
        return codec.decode(tp, data)
    except CodecError as exc:
        raise ProofError(f"{label}: {exc.message}") from exc


def parse_ledger_hash(value: bytes | str) -> bytes:
    """A pinned ledger hash given as base58 text or raw bytes."""
    if isinstance(value, bytes):
        return value
    try:
        return from_base58(value.strip())
    except (CryptoError, ValueError) as exc:
        raise TrustAnchorRequired(f"the pinned ledger hash {value!r} is not base58") from exc


def verify_bundle(
    bundle: Any,
    *,
    ledger_hash: bytes | str | None = None,
    trusted_validators: ValidatorSet | None = None,
    require_certificate: bool = True,
) -> VerificationReport:
    """Check a bundle completely; raise ProofError naming the first check that fails.

    Trust: every header but genesis must carry a commit certificate of 2f+1 validators of its
    epoch. Those validators come from ``trusted_validators`` when given; otherwise from the
    bundle's genesis block, which is bound to the ledger hash, and its certified epoch changes.
    So the ledger hash is the anchor: pin it with ``ledger_hash`` (the hash you expect) or the
    bundle only proves that *some* ledger holds the record. Without either anchor the report
    says ``anchor="none"`` and carries a warning; user-facing tools (CLI, SDK) refuse instead.

    ``require_certificate`` is accepted for older callers and has no effect: a header
    without a valid certificate is always refused.
    """
    del require_certificate
    pinned = None if ledger_hash is None else parse_ledger_hash(ledger_hash)
    try:
        return _verify(bundle, pinned, trusted_validators)
    except ProofError:
        raise
    except JadechainError as exc:
        raise ProofError(f"bundle: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ProofError(f"bundle: malformed ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class _Trust:
    """What one bundle is checked against: its ledger and the validators of each epoch it may use."""

    ledger_hash: bytes
    hash_fn: Callable[[bytes], bytes]
    hash_code: int
    validators: dict[int, ValidatorSet]
    source: str


def _verify(bundle: Any, pinned: bytes | None, trusted: ValidatorSet | None) -> VerificationReport:
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise ProofError(f"format: not a {BUNDLE_FORMAT} document")
    kind = bundle.get("kind")
    algorithm = algorithm_by_name(str(bundle["hash_algorithm"]))
    hash_fn = hasher(algorithm)
    ledger_hash = from_base58(bundle["ledger_hash"])
    if int.from_bytes(ledger_hash[:2], "big") != algorithm.code:
        raise ProofError("ledger hash: algorithm code differs from the bundle's hash algorithm")
    checks: list[str] = []
    warnings: list[str] = []
    if pinned is not None:
        if ledger_hash != pinned:
            raise ProofError(
                f"ledger: the bundle is for ledger {bundle['ledger_hash']}, not the pinned ledger {to_base58(pinned)}"
            )
        checks.append("ledger hash equals the pinned ledger hash")
        anchor = "pinned ledger hash"
    elif trusted is not None:
        anchor = "pinned validator set"
    else:
        anchor = "none"
        warnings.append(
            "nothing pinned: this proves the record is on *a* ledger with this hash; "
            "compare the ledger hash with the one you expect"
        )
    trust = _resolve_trust(bundle, ledger_hash, hash_fn, algorithm.code, trusted, checks)

    header, _ = _verify_header(bundle["header"], trust, checks)
    bundled = validators_from_json(bundle["validators"])
    expected = trust.validators.get(header.epoch)
    if expected is None or (bundled.epoch, set(bundled.public_keys)) != (expected.epoch, set(expected.public_keys)):
        raise ProofError("validators: the bundle's validator set is not the set of the header's epoch")
    certificate_json = bundle["header"].get("certificate")
    signers = 0 if certificate_json is None else len(certificate_json["signatures"])
    report = VerificationReport(
        kind=str(kind), ledger_hash=bundle["ledger_hash"], height=header.height,
        certified=True, signers=signers, checks=checks, warnings=warnings,
        claim=dict(bundle.get("claim") or {}), anchor=anchor,
    )
    if kind == "entry":
        _verify_entry(bundle, header, hash_fn, checks)
    elif kind == "transaction":
        _verify_transaction(bundle, header, hash_fn, algorithm.code, ledger_hash, bundle["claim"], checks)
    elif kind == "event":
        _verify_event(bundle, header, hash_fn, algorithm.code, ledger_hash, checks)
    elif kind == "consistency":
        _verify_consistency(bundle, header, trust, checks)
    else:
        raise ProofError(f"kind: unknown bundle kind {kind!r}")
    return report


def _resolve_trust(
    bundle: Any, ledger_hash: bytes, hash_fn: Callable[[bytes], bytes], hash_code: int,
    trusted: ValidatorSet | None, checks: list[str],
) -> _Trust:
    """The validator sets headers are checked against: the pinned set, or genesis + epoch changes."""
    if trusted is not None:
        for key in trusted.public_keys:
            try:
                PublicKey.from_encoded(key)
            except CryptoError as exc:
                raise ProofError(f"validators: the pinned set holds a bad key ({exc.message})") from exc
        return _Trust(ledger_hash, hash_fn, hash_code, {trusted.epoch: trusted}, f"pinned set of epoch {trusted.epoch}")
    if "genesis" not in bundle:
        raise ProofError("genesis: the bundle carries no genesis block; pin a validator set to check it")
    genesis = _decode(Block, _hex(bundle["genesis"], "genesis"), "genesis")
    current = genesis_validator_set(genesis, ledger_hash, hash_fn)
    sets = {0: current}
    raw_changes = bundle.get("epoch_changes", [])
    if not isinstance(raw_changes, list):
        raise ProofError("epoch changes: expected a list")
    for item in raw_changes:
        change = _decode(EpochChangeCertificate, _hex(item, "epoch change"), "epoch change")
        current = verify_epoch_chain(current, [change], ledger_hash=ledger_hash)
        sets[current.epoch] = current
    source = "derived from the genesis block (bound to the ledger hash)"
    if raw_changes:
        source += f" through {len(raw_changes)} certified epoch change(s)"
    checks.append("genesis block hashes to the ledger hash; it names the epoch-0 validators")
    return _Trust(ledger_hash, hash_fn, hash_code, sets, source)


def _verify_header(part: Any, trust: _Trust, checks: list[str]) -> tuple[BlockHeader, bytes]:
    """Check one header: its hash, its ledger, and (unless it is genesis) its commit certificate."""
    encoded = _hex(part["encoded"], "header")
    header: BlockHeader = _decode(BlockHeader, encoded, "header")
    header_hash = trust.hash_code.to_bytes(2, "big") + trust.hash_fn(encoded)
    if from_base58(part["hash"]) != header_hash:
        raise ProofError("header: stated hash differs from the hash of its bytes")
    if header.height != part["height"]:
        raise ProofError("header: stated height differs from the header's")
    if header.height == 0:
        # The genesis header needs no certificate: its hash *is* the ledger hash.
        if header_hash != trust.ledger_hash:
            raise ProofError("header: a height-0 header that is not this ledger's genesis header")
        checks.append("header 0 is the genesis header (its hash is the ledger hash)")
        return header, header_hash
    if header.ledger_hash != trust.ledger_hash:
        raise ProofError("header: belongs to another ledger")
    checks.append(f"header {header.height} hash recomputed and bound to the ledger")
    certificate_json = part.get("certificate")
    if certificate_json is None:
        raise ProofError(f"certificate: header {header.height} has no commit certificate")
    validators = trust.validators.get(header.epoch)
    if validators is None:
        raise ProofError(
            f"certificate: header {header.height} is of epoch {header.epoch}; no trusted validator set for it "
            f"(known: {', '.join(str(e) for e in sorted(trust.validators))})"
        )
    certificate = certificate_from_json(certificate_json)
    signers = verify_certificate(
        certificate, ledger_hash=trust.ledger_hash, height=header.height, header_hash=header_hash,
        validators=validators,
    )
    checks.append(
        f"commit certificate of header {header.height}: {signers} of {len(validators.public_keys)} "
        f"validators signed ({trust.source})"
    )
    return header, header_hash


def _verify_entry(bundle: Any, header: BlockHeader, hash_fn: Callable[[bytes], bytes], checks: list[str]) -> None:
    encoded = _hex(bundle["record"], "record")
    record: EntryRecord = _decode(EntryRecord, encoded, "record")
    if bundle["claim"] != _entry_claim(record):
        raise ProofError("claim: differs from the proven record (account, key, version, value, height or tx)")
    state = bundle["state_proof"]
    key_hash = make_state_key(hash_fn, NS_ENTRY, record.account, record.key)
    if _hex(state["key_hash"], "state key") != key_hash:
        raise ProofError("state proof: key hash is not H(entry, account, key)")
    if state["tree_version"] != header.height - 1:
        raise ProofError("state proof: tree version is not the one the header's roots belong to")
    if record.height > state["tree_version"]:
        raise ProofError("state proof: record written after the proven state")
    proof = SparseMerkleProof.from_dict(state["proof"])
    verify_sparse_merkle_proof(hash_fn, header.state_root, key_hash, hash_fn(encoded), proof)
    checks.append(f"entry {record.key!r} v{record.version} of {record.account} is in state root of header {header.height}")


def _verify_transaction(
    bundle: Any, header: BlockHeader, hash_fn: Callable[[bytes], bytes], hash_code: int,
    ledger_hash: bytes, claim: Any, checks: list[str],
) -> TransactionInfo:
    tx: Transaction = _decode(Transaction, _hex(bundle["transaction"], "transaction"), "transaction")
    info_bytes = _hex(bundle["info"], "info")
    info: TransactionInfo = _decode(TransactionInfo, info_bytes, "info")
    tx_hash = hash_code.to_bytes(2, "big") + hash_fn(codec.encode(tx.content))
    if info.tx_hash != tx_hash:
        raise ProofError("transaction: its hash differs from the one in its info")
    if tx.content.ledger_hash != ledger_hash and not _is_genesis_transaction(tx, info, bundle):
        raise ProofError("transaction: made for another ledger")
    for signature in tx.signatures:
        key = PublicKey.from_encoded(signature.public_key)
        if not verify(key, tx_hash, signature.signature):
            raise ProofError("transaction: an endpoint signature does not verify")
    checks.append(f"transaction hash recomputed; {len(tx.signatures)} endpoint signature(s) verified")
    if claim != _transaction_claim(tx, info):
        raise ProofError("claim: differs from the proven transaction and its info")
    accumulator = bundle["accumulator_proof"]
    if accumulator["tree_size"] != header.accumulator_size:
        raise ProofError("accumulator proof: tree size differs from the header's")
    path = [_hex(node, "accumulator path") for node in accumulator["path"]]
    verify_inclusion(
        hash_fn, int(accumulator["leaf_index"]), header.accumulator_size,
        leaf_hash(hash_fn, info_bytes), path, header.accumulator_root,
    )
    checks.append(
        f"transaction info is leaf {accumulator['leaf_index']} of the accumulator in header {header.height}"
    )
    return info


def _is_genesis_transaction(tx: Transaction, info: TransactionInfo, bundle: Any) -> bool:
    """The genesis transaction names no ledger (the ledger hash is the hash of its block)."""
    return (
        tx.content.ledger_hash == b""
        and info.height == 0
        and info.index == 0
        and bundle["accumulator_proof"]["leaf_index"] == 0
    )


def _verify_event(
    bundle: Any, header: BlockHeader, hash_fn: Callable[[bytes], bytes], hash_code: int,
    ledger_hash: bytes, checks: list[str],
) -> None:
    info = _verify_transaction(bundle, header, hash_fn, hash_code, ledger_hash, bundle["transaction_claim"], checks)
    events_bytes = _hex(bundle["tx_events"], "tx events")
    if hash_fn(events_bytes) != info.events_hash:
        raise ProofError("events: the transaction's events hash differs")
    try:
        events = codec.decode_list(Event, events_bytes)
    except CodecError as exc:
        raise ProofError(f"events: {exc.message}") from exc
    event_bytes = _hex(bundle["event"], "event")
    event: Event = _decode(Event, event_bytes, "event")
    if event not in events:
        raise ProofError("event: not among the transaction's events")
    if event.tx_hash != info.tx_hash:
        raise ProofError("event: belongs to another transaction")
    if bundle["claim"] != _event_claim(event):
        raise ProofError("claim: differs from the proven event")
    checks.append(f"event {event.topic!r}#{event.sequence} is among the transaction's events")


def _verify_consistency(bundle: Any, header: BlockHeader, trust: _Trust, checks: list[str]) -> None:
    hash_fn = trust.hash_fn
    old_header, _ = _verify_header(bundle["old_header"], trust, checks)
    expected_claim = {
        "old_height": old_header.height,
        "new_height": header.height,
        "old_size": old_header.accumulator_size,
        "new_size": header.accumulator_size,
    }
    if bundle["claim"] != expected_claim:
        raise ProofError("claim: differs from the proven headers")
    path = [_hex(node, "consistency path") for node in bundle["consistency_proof"]]
    verify_consistency(
        hash_fn, old_header.accumulator_size, header.accumulator_size,
        old_header.accumulator_root, header.accumulator_root, path,
    )
    checks.append(
        f"log of {header.accumulator_size} transactions extends the log of {old_header.accumulator_size}"
    )


def algorithm_name(code: int) -> str:
    return algorithm_by_code(code).name
