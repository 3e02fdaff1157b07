"""Commit certificates: what makes a block header a checkpoint for a light client.

Consensus collects 2f+1 validator signatures over the *commit statement* of a
header. Anyone holding the validator set can then trust that header (and so its
roots) without talking to a node: that is what a proof bundle relies on.
The statement names the ledger, height, header hash and epoch so a signature
can never be replayed for another ledger, block or validator set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ledger import codec
from ledger.crypto import PublicKey, verify
from ledger.errors import CryptoError, ProofError

COMMIT_STATEMENT_DOMAIN = "jadechain/commit/v1"
EPOCH_CHANGE_DOMAIN = "jadechain/epoch-change/v1"


@dataclass(frozen=True, slots=True)
class ValidatorSignature:
    public_key: bytes
    """Encoded public key of the validator."""
    signature: bytes
    """Encoded signature over the commit statement."""


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    ledger_hash: bytes
    height: int
    header_hash: bytes
    epoch: int
    signatures: tuple[ValidatorSignature, ...]


def max_faulty(validators: int) -> int:
    """f: the most Byzantine validators a set of ``validators`` tolerates (n >= 3f + 1).

    The one formula for it: certificates, consensus quorums and gossip's f + 1 vouchers use it."""
    return (validators - 1) // 3


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """The validators of one epoch: any 2f+1 of them certify a header."""

    epoch: int
    public_keys: tuple[bytes, ...]
    """Encoded public keys, in the order consensus uses (sorted by the genesis ceremony)."""

    @property
    def quorum(self) -> int:
        """n - f signatures: any two quorums then share at least f + 1 validators, one of them honest.

        (2f + 1 is the same number only when n = 3f + 1; for n = 5 it would be 3, and two
        certificates of 3 could overlap in a single, possibly faulty, validator.)
        """
        count = len(self.public_keys)
        return count - max_faulty(count)

    def fingerprint(self, hash_fn: Callable[[bytes], bytes]) -> bytes:
        return hash_fn(codec.encode(self))


def encode_commit_statement(ledger_hash: bytes, height: int, header_hash: bytes, epoch: int) -> bytes:
    """The bytes every validator signs to certify a header."""
    return codec.pack_canonical([COMMIT_STATEMENT_DOMAIN, ledger_hash, height, header_hash, epoch])


def verify_certificate(
    certificate: CommitCertificate,
    *,
    ledger_hash: bytes,
    height: int,
    header_hash: bytes,
    validators: ValidatorSet,
) -> int:
    """Check a certificate against a trusted validator set; return the number of valid signers.

    Raises ProofError naming the check that failed.
    """
    if certificate.ledger_hash != ledger_hash:
        raise ProofError("certificate: ledger hash differs from the header's ledger")
    if certificate.height != height:
        raise ProofError("certificate: height differs from the header's height")
    if certificate.header_hash != header_hash:
        raise ProofError("certificate: signs another header")
    if certificate.epoch != validators.epoch:
        raise ProofError(
            f"certificate: epoch {certificate.epoch} but validator set is for epoch {validators.epoch}"
        )
    statement = encode_commit_statement(ledger_hash, height, header_hash, certificate.epoch)
    members = set(validators.public_keys)
    counted: set[bytes] = set()
    for item in certificate.signatures:
        if item.public_key not in members:
            raise ProofError("certificate: signed by a key outside the validator set")
        if item.public_key in counted:
            raise ProofError("certificate: the same validator signed twice")
        try:
            key = PublicKey.from_encoded(item.public_key)
        except CryptoError as exc:
            raise ProofError(f"certificate: bad validator key: {exc.message}") from exc
        if not verify(key, statement, item.signature):
            raise ProofError("certificate: a validator signature does not verify")
        counted.add(item.public_key)
    if len(counted) < validators.quorum:
        raise ProofError(
            f"certificate: {len(counted)} valid signatures, quorum is {validators.quorum}"
        )
    return len(counted)


def sign_commit_statement(
    sign: Callable[[bytes], bytes], public_key: bytes, ledger_hash: bytes, height: int,
    header_hash: bytes, epoch: int,
) -> ValidatorSignature:
    return ValidatorSignature(public_key, sign(encode_commit_statement(ledger_hash, height, header_hash, epoch)))


def assemble_certificate(
    ledger_hash: bytes, height: int, header_hash: bytes, epoch: int, signatures: Sequence[ValidatorSignature]
) -> CommitCertificate:
    ordered = tuple(sorted(signatures, key=lambda s: s.public_key))
    return CommitCertificate(ledger_hash, height, header_hash, epoch, ordered)


# --- epoch changes: how a light client follows the validator set --------------------------

@dataclass(frozen=True, slots=True)
class EpochChangeCertificate:
    """The validators of epoch ``epoch - 1`` certify the set of epoch ``epoch``.

    Starting from the genesis validators (bound to the ledger hash), a chain of
    these lets an offline verifier learn the validators of any later epoch.
    """

    ledger_hash: bytes
    epoch: int
    """The new epoch."""
    public_keys: tuple[bytes, ...]
    """The new validators (sorted)."""
    since_height: int
    signatures: tuple[ValidatorSignature, ...]
    """Signatures of the previous epoch's validators over the epoch-change statement."""


def encode_epoch_change_statement(ledger_hash: bytes, epoch: int, public_keys: Sequence[bytes], since_height: int) -> bytes:
    return codec.pack_canonical([EPOCH_CHANGE_DOMAIN, ledger_hash, epoch, list(public_keys), since_height])


def verify_epoch_chain(
    genesis_set: ValidatorSet, changes: Sequence[EpochChangeCertificate], *, ledger_hash: bytes
) -> ValidatorSet:
    """Walk epoch changes from the genesis set; return the last set. ProofError on any break."""
    current = genesis_set
    for change in changes:
        if change.ledger_hash != ledger_hash:
            raise ProofError(f"epoch change {change.epoch}: for another ledger")
        if change.epoch != current.epoch + 1:
            raise ProofError(f"epoch change {change.epoch}: expected epoch {current.epoch + 1}")
        if list(change.public_keys) != sorted(set(change.public_keys)) or not change.public_keys:
            raise ProofError(f"epoch change {change.epoch}: validator keys not sorted and distinct")
        statement = encode_epoch_change_statement(ledger_hash, change.epoch, change.public_keys, change.since_height)
        members = set(current.public_keys)
        counted: set[bytes] = set()
        for item in change.signatures:
            if item.public_key not in members or item.public_key in counted:
                raise ProofError(f"epoch change {change.epoch}: signer outside the previous set or repeated")
            try:
                key = PublicKey.from_encoded(item.public_key)
            except CryptoError as exc:
                raise ProofError(f"epoch change {change.epoch}: bad key ({exc.message})") from exc
            if not verify(key, statement, item.signature):
                raise ProofError(f"epoch change {change.epoch}: a signature does not verify")
            counted.add(item.public_key)
        if len(counted) < current.quorum:
            raise ProofError(f"epoch change {change.epoch}: {len(counted)} signatures, quorum is {current.quorum}")
        current = ValidatorSet(change.epoch, change.public_keys)
    return current
