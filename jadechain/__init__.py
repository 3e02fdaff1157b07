"""Jadechain for Python: one import for clients, keys, offline proof checks and errors.

    import jadechain

    key = jadechain.generate_key("SM2")
    jadechain.save_key("alice.json", key, password)
    with jadechain.Client(["http://127.0.0.1:8100"]) as client:
        ledger = client.ledger()
        result = ledger.submit(ledger.builder().kv_set(account, "greeting", "hello").sign(key))
        report = jadechain.verify(ledger.entry_proof(account, "greeting"), ledger_hash=EXPECTED_HASH)

The names below are re-exported from private modules (the SDK in :mod:`jadechain.sdk`, keys and
errors from :mod:`ledger`); ``__all__`` is the public surface. Every error is a
:class:`JadechainError` with a stable ``code``. The ``jadechain`` command line lives in
:mod:`jadechain.cli`, local dev networks in :mod:`jadechain.devnet`, the benchmark harness in
:mod:`jadechain.bench`.

Contract authors import ``contract``, ``callable``, ``event``, ``reentrant`` and ``Context`` from here,
the same names a contract imports inside the chain's VM (:mod:`jadechain.contract`, docs/contracts.md).
"""

from __future__ import annotations

from jadechain._keys import generate_key
from jadechain.contract import Context, callable, contract, event, reentrant
from jadechain.sdk import (
    ApiError,
    AsyncJadechainClient as AsyncClient,
    AsyncLedgerClient,
    CallResult,
    JadechainClient as Client,
    LedgerClient,
    StreamMessage,
    TxResult,
)
from jadechain.sdk._models import GatewaysUnavailable, verify_pinned as verify
from ledger.crypto import KeyPair, load_keypair as load_key, save_keypair as save_key
from ledger.errors import (
    AccountExists,
    AccountFrozen,
    AccountNotFound,
    AccountRevoked,
    AlgorithmNotAccepted,
    AlreadyVoted,
    ArchiveInvalid,
    ArchiveRefused,
    Archived,
    CodecError,
    ConfigError,
    ContractError,
    ContractFault,
    ContractLimitExceeded,
    ContractNotFound,
    ContractRejected,
    ContractReverted,
    CryptoError,
    DuplicateTransaction,
    HistoryNotAvailable,
    IncompatibleStorageFormat,
    InvalidAddress,
    InvalidBlock,
    InvalidKey,
    InvalidOperation,
    InvalidSignature,
    InvalidTransaction,
    JadechainError,
    KeystoreError,
    LedgerCorrupted,
    LedgerMismatch,
    MempoolFull,
    NotFound,
    NotOwner,
    OutOfGas,
    PermissionDenied,
    ProofError,
    ProofPending,
    ProposalDecided,
    ProposalExpired,
    ProposalNotFound,
    ProposalRequired,
    RateLimited,
    RootMismatch,
    StorageError,
    ThresholdNotMet,
    TransactionExpired,
    TrustAnchorRequired,
    Unauthenticated,
    UnknownAlgorithm,
    VersionConflict,
    WrongPassword,
)
from ledger.proofs import VerificationReport

__all__ = [
    "AccountExists",
    "AccountFrozen",
    "AccountNotFound",
    "AccountRevoked",
    "AlgorithmNotAccepted",
    "AlreadyVoted",
    "ApiError",
    "ArchiveInvalid",
    "ArchiveRefused",
    "Archived",
    "AsyncClient",
    "AsyncLedgerClient",
    "CallResult",
    "Client",
    "CodecError",
    "ConfigError",
    "Context",
    "ContractError",
    "ContractFault",
    "ContractLimitExceeded",
    "ContractNotFound",
    "ContractRejected",
    "ContractReverted",
    "CryptoError",
    "DuplicateTransaction",
    "GatewaysUnavailable",
    "HistoryNotAvailable",
    "IncompatibleStorageFormat",
    "InvalidAddress",
    "InvalidBlock",
    "InvalidKey",
    "InvalidOperation",
    "InvalidSignature",
    "InvalidTransaction",
    "JadechainError",
    "KeyPair",
    "KeystoreError",
    "LedgerClient",
    "LedgerCorrupted",
    "LedgerMismatch",
    "MempoolFull",
    "NotFound",
    "NotOwner",
    "OutOfGas",
    "PermissionDenied",
    "ProofError",
    "ProofPending",
    "ProposalDecided",
    "ProposalExpired",
    "ProposalNotFound",
    "ProposalRequired",
    "RateLimited",
    "RootMismatch",
    "StorageError",
    "StreamMessage",
    "ThresholdNotMet",
    "TransactionExpired",
    "TrustAnchorRequired",
    "TxResult",
    "Unauthenticated",
    "UnknownAlgorithm",
    "VerificationReport",
    "VersionConflict",
    "WrongPassword",
    "callable",
    "contract",
    "event",
    "generate_key",
    "load_key",
    "reentrant",
    "save_key",
    "verify",
]
