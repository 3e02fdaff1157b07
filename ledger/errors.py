"""The one exception tree of Jadechain, with stable error codes.

Every error that can reach a user carries a ``code`` that never changes between
releases (clients and the gateway switch on it) and an HTTP status that the API
layer maps it to. Transaction status codes recorded on chain are the same
strings, so a failed transaction and a rejected request speak one language.
"""

from __future__ import annotations

from typing import ClassVar


class JadechainError(Exception):
    """Base of every error Jadechain raises on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = {k: v for k, v in self.details.items()}
        return body


# --- encoding and cryptography -------------------------------------------------

class CodecError(JadechainError):
    """Bytes that are not the one canonical encoding of a value."""

    code = "MALFORMED_ENCODING"
    http_status = 400


class CryptoError(JadechainError):
    """A key, hash or signature that cannot be used."""

    code = "CRYPTO_ERROR"
    http_status = 400


class UnknownAlgorithm(CryptoError):
    code = "UNKNOWN_ALGORITHM"


class AlgorithmNotAccepted(CryptoError):
    """A valid algorithm that this ledger's settings do not accept."""

    code = "ALGORITHM_NOT_ACCEPTED"


class InvalidKey(CryptoError):
    code = "INVALID_KEY"


class InvalidAddress(CryptoError):
    code = "INVALID_ADDRESS"


class KeystoreError(JadechainError):
    code = "KEYSTORE_ERROR"
    http_status = 400


class WrongPassword(KeystoreError):
    code = "WRONG_PASSWORD"
    http_status = 401


# --- transactions and blocks ---------------------------------------------------

class InvalidTransaction(JadechainError):
    """A transaction that can never be valid (rejected at ingress or recorded as failed)."""

    code = "INVALID_TRANSACTION"
    http_status = 400


class InvalidSignature(InvalidTransaction):
    code = "INVALID_SIGNATURE"


class LedgerMismatch(InvalidTransaction):
    """The transaction names another ledger than the one it was sent to."""

    code = "LEDGER_MISMATCH"


class TransactionExpired(InvalidTransaction):
    code = "TRANSACTION_EXPIRED"


class DuplicateTransaction(InvalidTransaction):
    code = "DUPLICATE_TRANSACTION"
    http_status = 409


class InvalidOperation(InvalidTransaction):
    code = "INVALID_OPERATION"


class PermissionDenied(JadechainError):
    code = "PERMISSION_DENIED"
    http_status = 403


class AccountNotFound(JadechainError):
    code = "ACCOUNT_NOT_FOUND"
    http_status = 404


class AccountExists(JadechainError):
    code = "ACCOUNT_EXISTS"
    http_status = 409


class NotOwner(PermissionDenied):
    """An organisation acted alone on an object another organisation owns (it needs a proposal)."""

    code = "NOT_OWNER"


class ProposalRequired(PermissionDenied):
    """A ledger-wide operation signed by one organisation: it must be proposed and approved."""

    code = "PROPOSAL_REQUIRED"


class ThresholdNotMet(PermissionDenied):
    """Several organisations signed a governed operation, but fewer than the policy needs."""

    code = "THRESHOLD_NOT_MET"


class ProposalNotFound(JadechainError):
    code = "PROPOSAL_NOT_FOUND"
    http_status = 404


class ProposalExpired(JadechainError):
    """A vote on a proposal whose expiry passed before it was decided."""

    code = "PROPOSAL_EXPIRED"
    http_status = 409


class ProposalDecided(JadechainError):
    """A vote on a proposal that was already executed, rejected or failed."""

    code = "PROPOSAL_DECIDED"
    http_status = 409


class AlreadyVoted(JadechainError):
    """The organisation's standing vote on the proposal is already this one."""

    code = "ALREADY_VOTED"
    http_status = 409


class AccountFrozen(PermissionDenied):
    code = "ACCOUNT_FROZEN"


class AccountRevoked(PermissionDenied):
    code = "ACCOUNT_REVOKED"


class VersionConflict(JadechainError):
    """A write named a version that is not the entry's current version."""

    code = "VERSION_CONFLICT"
    http_status = 409


class NotFound(JadechainError):
    code = "NOT_FOUND"
    http_status = 404


class Archived(NotFound):
    """The block, transaction or event exists but was moved out of this node's database into
    archive files (``jadechain ledger archive``); ``jadechain ledger import`` brings it back."""

    code = "ARCHIVED"
    http_status = 410


class ArchiveInvalid(JadechainError):
    """An archive file that does not verify (tampered, truncated, for another ledger or chain);
    nothing was changed."""

    code = "ARCHIVE_INVALID"
    http_status = 422


class ArchiveRefused(JadechainError):
    """An archive or import request that cannot be carried out as asked (range, anchor, gap);
    nothing was changed."""

    code = "ARCHIVE_REFUSED"
    http_status = 409


class HistoryNotAvailable(JadechainError):
    """Asked for history below the height this node's ledger was started from (a state snapshot):
    the node never had those blocks, transactions or events; a node with full history has them."""

    code = "HISTORY_NOT_AVAILABLE"
    http_status = 410


class InvalidBlock(JadechainError):
    code = "INVALID_BLOCK"
    http_status = 400


class RootMismatch(InvalidBlock):
    """A header's execution roots differ from the ones this replica computed."""

    code = "ROOT_MISMATCH"


class StorageError(JadechainError):
    code = "STORAGE_ERROR"
    http_status = 503


class LedgerCorrupted(StorageError):
    code = "LEDGER_CORRUPTED"


class IncompatibleStorageFormat(StorageError):
    """A ledger database written in another storage format than this version reads (an upgrade that
    changed what is stored); refused whole instead of misreading it."""

    code = "INCOMPATIBLE_STORAGE_FORMAT"


# --- proofs --------------------------------------------------------------------

class ProofError(JadechainError):
    """A proof that does not prove what it claims; the message names the failed check."""

    code = "PROOF_INVALID"
    http_status = 422


class ProofPending(ProofError):
    """The data is committed but no later header certifies its roots yet."""

    code = "PROOF_PENDING"
    http_status = 409


class TrustAnchorRequired(ProofError):
    """A proof was checked with nothing pinned: the ledger hash or validator set must come from the user."""

    code = "TRUST_ANCHOR_REQUIRED"
    http_status = 400


# --- contracts -----------------------------------------------------------------

class ContractError(JadechainError):
    code = "CONTRACT_ERROR"
    http_status = 400


class ContractRejected(ContractError):
    """Contract source that breaks the sandbox policy (found at deploy)."""

    code = "CONTRACT_REJECTED"


class ContractReverted(ContractError):
    """The contract called revert(); its writes are discarded."""

    code = "CONTRACT_REVERTED"


class ContractLimitExceeded(ContractError):
    """Call depth, memory, size or output limit hit at run time."""

    code = "CONTRACT_LIMIT_EXCEEDED"


class OutOfGas(ContractError):
    code = "OUT_OF_GAS"


class ContractNotFound(ContractError):
    code = "CONTRACT_NOT_FOUND"
    http_status = 404


class ContractFault(ContractError):
    """The contract raised an error that is its own bug, not a revert."""

    code = "CONTRACT_FAULT"


# --- service level -------------------------------------------------------------

class MempoolFull(JadechainError):
    code = "MEMPOOL_FULL"
    http_status = 503


class RateLimited(JadechainError):
    code = "RATE_LIMITED"
    http_status = 429


class Unauthenticated(JadechainError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ConfigError(JadechainError):
    code = "CONFIG_ERROR"
    http_status = 400
