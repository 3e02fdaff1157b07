"""Light clients of other ledgers: ledger B checks ledger A's proof bundles with no relay to trust.

Ledger B holds, in its state, a *light client* of ledger A: A's ledger hash and the validator
sets of the epochs of A it has seen, each with the height from which it certifies A's headers.
It is created by a governed transaction on B (the members of B decide which ledger they follow
and from which validator set), and advanced by anyone who submits A's certified epoch changes —
each is signed by a quorum of the previous epoch's validators, so it needs no authority on B.

A transaction on B then carries a proof bundle from A (an entry, transaction or event) as the
evidence for what it does; :func:`verify_fact` checks it against the light client before the
transaction's other operations run, deterministically: no clock, no network, nothing but the
bundle, the light client's record and B's block time. Each refusal has a stable code.

Contracts (the engine of :mod:`contracts`) may call :func:`verified_fact` through their context
to require such a fact; it returns the proven claim or raises one of the errors below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ledger import codec
from ledger.certificate import EpochChangeCertificate, ValidatorSet, verify_epoch_chain
from ledger.crypto import PublicKey, algorithm_by_code, from_base58, hasher, to_base58
from ledger.errors import CodecError, CryptoError, InvalidOperation, JadechainError, ProofError
from ledger.proofs import BUNDLE_FORMAT, verify_bundle
from ledger.types import BlockHeader

MAX_BUNDLE_BYTES = 1 << 20
"""A proof bundle carried by a transaction: a genesis block, epoch changes and a path fit easily."""
FACT_KINDS = ("entry", "transaction", "event")


# --- stable refusals -----------------------------------------------------------------------------

class LightClientError(InvalidOperation):
    """A light-client operation or a foreign proof refused; ``code`` says which rule."""

    code = "FOREIGN_PROOF_INVALID"


class LightClientNotFound(LightClientError):
    code = "LIGHT_CLIENT_NOT_FOUND"


class LightClientExists(LightClientError):
    code = "LIGHT_CLIENT_EXISTS"


class EpochChangeReplayed(LightClientError):
    """An epoch change the light client already holds (or an older one) was submitted again."""

    code = "LIGHT_CLIENT_EPOCH_REPLAYED"


class EpochChangeInvalid(LightClientError):
    """An epoch change that does not follow: a gap, a signer outside the previous set, no quorum."""

    code = "LIGHT_CLIENT_EPOCH_INVALID"


class ForeignProofUncertified(LightClientError):
    code = "FOREIGN_PROOF_UNCERTIFIED"


class ForeignProofWrongLedger(LightClientError):
    code = "FOREIGN_PROOF_WRONG_LEDGER"


class ForeignProofUnknownEpoch(LightClientError):
    """The header is of an epoch the light client has not seen, or outside that epoch's heights."""

    code = "FOREIGN_PROOF_UNKNOWN_EPOCH"


class ForeignProofUnknownSigner(LightClientError):
    code = "FOREIGN_PROOF_UNKNOWN_SIGNER"


class ForeignProofDuplicateSignature(LightClientError):
    code = "FOREIGN_PROOF_DUPLICATE_SIGNATURE"


class ForeignProofStale(LightClientError):
    code = "FOREIGN_PROOF_STALE"


class ForeignFactMismatch(LightClientError):
    """The proof holds, but it proves something other than what the transaction relies on."""

    code = "FOREIGN_FACT_MISMATCH"


# --- the record B keeps ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ForeignEpoch:
    """One epoch of the followed ledger: its validators certify headers from ``since_height`` on."""

    epoch: int
    since_height: int
    public_keys: tuple[bytes, ...]
    """Encoded public keys, sorted."""


@dataclass(frozen=True, slots=True)
class LightClientRecord:
    """Ledger B's light client of ledger A (kept in B's state, so in B's state root)."""

    ledger_hash: bytes
    """A's ledger hash: the hash of A's genesis header, prefixed with its hash algorithm code."""
    name: str
    epochs: tuple[ForeignEpoch, ...]
    """Every epoch of A the light client has followed, ascending and contiguous."""

    @property
    def latest(self) -> ForeignEpoch:
        return self.epochs[-1]

    def epoch(self, number: int) -> ForeignEpoch | None:
        for item in self.epochs:
            if item.epoch == number:
                return item
        return None

    def next_since(self, number: int) -> int | None:
        """The height at which the epoch after ``number`` starts, if the light client knows it."""
        following = self.epoch(number + 1)
        return None if following is None else following.since_height


def new_light_client(ledger_hash: bytes, name: str, epoch: int, since_height: int,
                     public_keys: Sequence[bytes]) -> LightClientRecord:
    """The record a governed creation stores, after checking the starting validator set."""
    _hash_function(ledger_hash)
    keys = tuple(public_keys)
    if not keys or list(keys) != sorted(set(keys)):
        raise LightClientError("light client: validator keys must be non-empty, sorted and distinct")
    for key in keys:
        try:
            PublicKey.from_encoded(key)
        except CryptoError as exc:
            raise LightClientError(f"light client: not a public key ({exc.message})") from exc
    if epoch < 0 or since_height < 0:
        raise LightClientError("light client: epoch and height must not be negative")
    if not name or len(name.encode("utf-8")) > 64:
        raise LightClientError("light client: the name must be 1 to 64 bytes")
    return LightClientRecord(ledger_hash, name, (ForeignEpoch(epoch, since_height, keys),))


def advance_light_client(record: LightClientRecord, encoded_change: bytes) -> LightClientRecord:
    """The record after A's certified change to its next epoch (signed by the current epoch's quorum)."""
    try:
        change: EpochChangeCertificate = codec.decode(EpochChangeCertificate, encoded_change)
    except CodecError as exc:
        raise EpochChangeInvalid(f"epoch change: {exc.message}") from exc
    if change.ledger_hash != record.ledger_hash:
        raise ForeignProofWrongLedger("epoch change: for another ledger than this light client's")
    latest = record.latest
    if change.epoch <= latest.epoch:
        raise EpochChangeReplayed(f"epoch change {change.epoch}: the light client is already at epoch {latest.epoch}")
    if change.epoch != latest.epoch + 1:
        raise EpochChangeInvalid(f"epoch change {change.epoch}: the light client expects epoch {latest.epoch + 1} first")
    if change.since_height <= latest.since_height:
        raise EpochChangeInvalid("epoch change: starts before the current epoch")
    _check_epoch_change_signers([item.public_key for item in change.signatures], latest.public_keys)
    try:
        verify_epoch_chain(ValidatorSet(latest.epoch, latest.public_keys), [change], ledger_hash=record.ledger_hash)
    except ProofError as exc:
        raise EpochChangeInvalid(exc.message) from exc
    added = ForeignEpoch(change.epoch, change.since_height, tuple(change.public_keys))
    return LightClientRecord(record.ledger_hash, record.name, (*record.epochs, added))


# --- verifying a fact ---------------------------------------------------------------------------------

def parse_bundle(data: bytes) -> dict[str, Any]:
    """A bundle carried in a transaction: UTF-8 JSON, bounded in size."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise LightClientError(f"foreign proof: bundle larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        bundle = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LightClientError("foreign proof: the bundle is not UTF-8 JSON") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise LightClientError(f"foreign proof: not a {BUNDLE_FORMAT} document")
    return bundle


def verify_fact(
    record: LightClientRecord,
    bundle: dict[str, Any],
    *,
    block_time: int,
    expect: dict[str, Any] | None = None,
    max_age_ms: int = 0,
) -> dict[str, Any]:
    """Check a proof bundle of ledger A against B's light client of A; return the proven claim.

    Pure and deterministic: the result depends only on the arguments. ``block_time`` is B's
    block time (ms); with ``max_age_ms`` > 0 the certified header must be at most that old.
    ``expect`` lists claim fields the fact must have (e.g. ``{"key": "lot/L7", "value": ...}``).
    """
    try:
        return _verify_fact(record, bundle, block_time, expect or {}, max_age_ms)
    except LightClientError:
        raise
    except JadechainError as exc:
        raise LightClientError(f"foreign proof: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise LightClientError(f"foreign proof: malformed ({type(exc).__name__})") from exc


def read_light_client(read_raw: Callable[[bytes], bytes | None], ledger_hash: bytes) -> LightClientRecord:
    """The light client of ``ledger_hash`` through a state reader (``WorkingState.get_light_client_raw``)."""
    raw = read_raw(ledger_hash)
    if raw is None:
        raise LightClientNotFound(f"no light client of ledger {to_base58(ledger_hash)} on this ledger")
    try:
        record: LightClientRecord = codec.decode(LightClientRecord, raw)
    except CodecError as exc:
        raise LightClientError(f"light client: stored record unreadable ({exc.message})") from exc
    return record


def verified_fact(
    read_raw: Callable[[bytes], bytes | None],
    ledger_hash: bytes,
    bundle: dict[str, Any] | bytes,
    *,
    block_time: int,
    expect: dict[str, Any] | None = None,
    max_age_ms: int = 0,
) -> dict[str, Any]:
    """What a contract's ``ctx.verified_fact(ledger_a, bundle)`` runs: the proven claim, or a refusal.

    ``read_raw`` reads this ledger's state (``WorkingState.get_light_client_raw``), so the check
    sees the light client as of the executing transaction; ``bundle`` is a parsed bundle or its
    UTF-8 JSON. Deterministic like :func:`verify_fact`.
    """
    record = read_light_client(read_raw, ledger_hash)
    parsed = parse_bundle(bundle) if isinstance(bundle, bytes) else bundle
    return verify_fact(record, parsed, block_time=block_time, expect=expect, max_age_ms=max_age_ms)


def _verify_fact(
    record: LightClientRecord, bundle: dict[str, Any], block_time: int, expect: dict[str, Any], max_age_ms: int,
) -> dict[str, Any]:
    if bundle.get("kind") not in FACT_KINDS:
        raise LightClientError(f"foreign proof: kind must be one of {', '.join(FACT_KINDS)}")
    if from_base58(str(bundle["ledger_hash"])) != record.ledger_hash:
        raise ForeignProofWrongLedger(
            f"foreign proof: for ledger {bundle['ledger_hash']}, not {to_base58(record.ledger_hash)}")
    part = bundle["header"]
    encoded = bytes.fromhex(str(part["encoded"]))
    header: BlockHeader = codec.decode(BlockHeader, encoded)
    if header.ledger_hash != record.ledger_hash:
        raise ForeignProofWrongLedger("foreign proof: the header belongs to another ledger")
    certificate = part.get("certificate")
    if not isinstance(certificate, dict) or not certificate.get("signatures"):
        raise ForeignProofUncertified(f"foreign proof: header {header.height} carries no commit certificate")
    known = record.epoch(header.epoch)
    if known is None:
        raise ForeignProofUnknownEpoch(
            f"foreign proof: header {header.height} is of epoch {header.epoch}; the light client knows epochs "
            f"{record.epochs[0].epoch}..{record.latest.epoch} (submit A's epoch changes first)")
    following = record.next_since(header.epoch)
    if header.height < known.since_height or (following is not None and header.height >= following):
        raise ForeignProofUnknownEpoch(
            f"foreign proof: header {header.height} is outside the heights of epoch {header.epoch}")
    if int(certificate.get("epoch", -1)) != header.epoch:
        raise ForeignProofUnknownEpoch("foreign proof: the certificate is of another epoch than its header")
    signers = [from_base58(str(item["public_key"])) for item in certificate["signatures"]]
    _check_signer_keys(signers, known.public_keys)
    if max_age_ms > 0 and block_time - header.time > max_age_ms:
        raise ForeignProofStale(
            f"foreign proof: header {header.height} is {block_time - header.time} ms older than this block; "
            f"at most {max_age_ms} ms allowed")
    try:
        report = verify_bundle(bundle, ledger_hash=record.ledger_hash,
                               trusted_validators=ValidatorSet(known.epoch, known.public_keys))
    except ProofError as exc:
        raise LightClientError(f"foreign proof: {exc.message}") from exc
    claim = dict(report.claim)
    for name, wanted in sorted(expect.items()):
        if claim.get(name) != wanted:
            raise ForeignFactMismatch(f"foreign proof: the proven {name!r} is not the one this transaction relies on")
    return claim


def _check_signer_keys(signers: list[bytes], members: Sequence[bytes]) -> None:
    allowed = set(members)
    if len(set(signers)) != len(signers):
        raise ForeignProofDuplicateSignature("foreign proof: a validator's signature appears twice in the certificate")
    for key in signers:
        if key not in allowed:
            raise ForeignProofUnknownSigner("foreign proof: a certificate signer is outside A's validator set for that epoch")


def _check_epoch_change_signers(keys: list[bytes], members: Sequence[bytes]) -> None:
    if len(set(keys)) != len(keys):
        raise ForeignProofDuplicateSignature("epoch change: a validator's signature appears twice")
    allowed = set(members)
    if any(key not in allowed for key in keys):
        raise ForeignProofUnknownSigner("epoch change: a signer is outside the light client's current validator set")


def _hash_function(ledger_hash: bytes) -> Callable[[bytes], bytes]:
    if len(ledger_hash) < 3:
        raise LightClientError("light client: not a ledger hash")
    code = int.from_bytes(ledger_hash[:2], "big")
    try:
        algorithm = algorithm_by_code(code)
    except JadechainError as exc:
        raise LightClientError(f"light client: unknown hash algorithm {code:#06x}") from exc
    if algorithm.is_signature:
        raise LightClientError("light client: the ledger hash names a signature algorithm")
    return hasher(algorithm)


def parse_expectation(data: bytes) -> dict[str, Any]:
    """The claim fields a transaction relies on: a canonical JSON object (empty bytes: none)."""
    if not data:
        return {}
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LightClientError("foreign fact: the expectation is not UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise LightClientError("foreign fact: the expectation must be a JSON object")
    return value
