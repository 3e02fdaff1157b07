"""Key custody: private keys sealed with SM4-GCM under a master key that never enters the database.

The master key (16 bytes) comes from ``JADECHAIN_MASTER_KEY`` (hex) or a 0600 file under the data
dir, created on first start. Each sealed key is ``nonce ‖ SM4-GCM(master, encoded private key)`` with
the row's public key as associated data, so a sealed blob copied onto another row does not open.
Signing happens here, on request; export is the router's decision (owning organisation's admins).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from baas.errors import Forbidden, InvalidRequest
from ledger.crypto import (
    KeyPair,
    PrivateKey,
    address_from_public_key,
    algorithm_by_name,
    generate_keypair,
    keypair_from_private,
    sign,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
    to_base58,
)
from ledger.errors import JadechainError

MASTER_KEY_ENV = "JADECHAIN_MASTER_KEY"
MASTER_KEY_BYTES = 16
NONCE_BYTES = 12


def load_master_key(path: Path) -> bytes:
    """The master key from the environment, else from ``path`` (created 0600 if missing)."""
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env:
        key = bytes.fromhex(from_env.strip())
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"{MASTER_KEY_ENV} must be {MASTER_KEY_BYTES} bytes in hex")
        return key
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"master key file {path} must not be readable by group or others (chmod 600)")
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"master key file {path} must hold {MASTER_KEY_BYTES} bytes in hex")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


class Custody:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise ValueError("the master key is 16 bytes (SM4)")
        self._master = master_key

    def seal(self, secret: bytes, associated: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + sm4_gcm_encrypt(self._master, nonce, secret, associated)

    def unseal(self, sealed: bytes, associated: bytes) -> bytes:
        return sm4_gcm_decrypt(self._master, sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)

    # --- keys ---------------------------------------------------------------------------------

    def new_key(self, session: Session, organization_id: int, purpose: str, label: str,
                algorithm: str = "ED25519", private_encoded: bytes | None = None):  # type: ignore[no-untyped-def]
        """Generate (or import) a key pair and store it sealed; returns the CustodyKey row."""
        from baas.models import CustodyKey

        if private_encoded is not None:
            try:
                pair = keypair_from_private(PrivateKey.from_encoded(private_encoded))
            except JadechainError as error:
                raise InvalidRequest(f"cannot import key: {error.message}") from None
        else:
            try:
                pair = generate_keypair(algorithm_by_name(algorithm))
            except JadechainError as error:
                raise InvalidRequest(f"cannot generate key: {error.message}") from None
        public = pair.public.base58
        row = CustodyKey(
            organization_id=organization_id, purpose=purpose, label=label, algorithm=pair.public.algorithm.name,
            public_key=public, address=str(address_from_public_key(pair.public)),
            sealed_private_key=self.seal(pair.private.encoded, public.encode()), imported=private_encoded is not None,
        )
        session.add(row)
        session.flush()
        return row

    def keypair(self, row) -> KeyPair:  # type: ignore[no-untyped-def]
        private = PrivateKey.from_encoded(self.unseal(row.sealed_private_key, row.public_key.encode()))
        return keypair_from_private(private)

    def sign(self, row, message: bytes) -> bytes:  # type: ignore[no-untyped-def]
        return sign(self.keypair(row).private, message)


def algorithm_for_suite(crypto: str) -> str:
    """The signature algorithm of a crypto suite: ``sm`` → SM2, ``classic`` → Ed25519."""
    return "SM2" if crypto == "sm" else "ED25519"


# --- signing intents, not bytes ---------------------------------------------------------------
#
# Custody never signs bytes it cannot read. A request names what it wants signed (a transaction,
# a vote, an invitation decision); custody decodes it strictly, checks it against the
# organisation's rules for the requesting role, and writes what it signed, in words, to the
# audit log. Bytes it cannot decode are refused (and the refusal is audited too). Raw signing
# exists only for an organisation admin, and only when the operator of the control plane turned
# it on (``JADECHAIN_CUSTODY_RAW_SIGNING=1``); it is off by default.

RAW_SIGNING_ENV = "JADECHAIN_CUSTODY_RAW_SIGNING"
INTENT_KINDS = ("transaction", "vote", "invitation", "raw")

OPERATOR_OPERATIONS = frozenset({
    "RegisterDataAccount", "RegisterEventAccount", "KVSet", "PublishEvents", "DeployContract", "InvokeContract",
})
"""What an operator may have the organisation sign: its own data and contracts. Everything else
(users, roles, freezing, upgrades, participants, settings, proposals and votes) needs the
organisation's admin."""


class UndecodableIntent(InvalidRequest):
    code = "UNDECODABLE_INTENT"


class IntentNotAllowed(Forbidden):
    code = "INTENT_NOT_ALLOWED"


class RawSigningDisabled(Forbidden):
    code = "RAW_SIGNING_DISABLED"


@dataclass(frozen=True)
class SigningIntent:
    """What custody was asked to sign, decoded: the exact bytes signed and the words audited."""

    kind: str
    message: bytes
    """The bytes the signature covers (a transaction's hash, an invitation statement)."""
    summary: tuple[str, ...]
    operations: tuple[str, ...] = ()
    ledger_hash: str = ""
    tx_hash: str = ""


def raw_signing_enabled() -> bool:
    return os.environ.get(RAW_SIGNING_ENV, "").strip().lower() in ("1", "true", "yes")


def decode_intent(kind: str, data: bytes, role: str) -> SigningIntent:
    """Decode a signing request and check it against the rules for ``role``; raise a stable error if not."""
    if kind in ("transaction", "vote"):
        return _transaction_intent(kind, data, role)
    if kind == "invitation":
        return _invitation_intent(data)
    if kind == "raw":
        if not raw_signing_enabled():
            raise RawSigningDisabled(
                "raw signing is off: ask for a transaction, a vote or an invitation decision "
                f"(the control plane's operator may enable it with {RAW_SIGNING_ENV}=1)")
        if role != "org_admin":
            raise IntentNotAllowed("raw signing needs the organisation's admin")
        return SigningIntent("raw", data, (f"raw bytes ({len(data)}), sha256 {hashlib.sha256(data).hexdigest()}",))
    raise UndecodableIntent(f"unknown intent {kind!r}; one of {', '.join(INTENT_KINDS)}")


def _transaction_intent(kind: str, data: bytes, role: str) -> SigningIntent:
    from ledger import codec
    from ledger.transactions import hash_transaction_content
    from ledger.types import Propose, ProposedOperations, TransactionContent, Vote
    from jadechain.cli.tx import describe_operation

    try:
        content = codec.decode(TransactionContent, data)
        tx_hash = hash_transaction_content(content)
    except JadechainError as error:
        raise UndecodableIntent(f"not a transaction this custody can read: {error.message}") from None
    if not content.operations:
        raise UndecodableIntent("a transaction with no operations")
    kinds = [type(op).__name__ for op in content.operations]
    for op in content.operations:
        if isinstance(op, Propose):
            try:
                inner = codec.decode(ProposedOperations, op.operations).operations
            except JadechainError:
                raise UndecodableIntent("a proposal whose operations cannot be decoded") from None
            kinds += [f"Propose/{type(item).__name__}" for item in inner]
    if kind == "vote" and not all(isinstance(op, Vote) for op in content.operations):
        raise IntentNotAllowed("a vote intent may hold only votes", operations=kinds)
    if role != "org_admin":
        refused = sorted({k for k in kinds if k not in OPERATOR_OPERATIONS})
        if refused:
            raise IntentNotAllowed(f"the {role} role may not have the organisation sign {', '.join(refused)}",
                                   operations=refused)
    try:
        summary = tuple(line for op in content.operations for line in describe_operation(op))
    except (JadechainError, ValueError) as error:
        raise UndecodableIntent(f"an operation custody cannot show in words: {error}") from None
    return SigningIntent(kind, tx_hash, summary, tuple(kinds), to_base58(content.ledger_hash), to_base58(tx_hash))


def _invitation_intent(data: bytes) -> SigningIntent:
    from baas.governance import INVITATION_DOMAIN

    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UndecodableIntent("an invitation decision must be its canonical JSON statement") from None
    expected = {"domain", "invitation", "consortium", "organization", "organization_public_key", "expires_at",
                "decision"}
    if not isinstance(body, dict) or set(body) != expected or body.get("domain") != INVITATION_DOMAIN:
        raise UndecodableIntent(f"not an invitation statement ({INVITATION_DOMAIN})")
    if json.dumps(body, sort_keys=True, separators=(",", ":")).encode() != data:
        raise UndecodableIntent("the invitation statement is not in its canonical form")
    if body["decision"] not in ("approve", "reject", "accept", "decline"):
        raise UndecodableIntent(f"unknown invitation decision {body['decision']!r}")
    summary = (f"{body['decision']} invitation {body['invitation']} of {body['organization']!r} "
               f"to consortium {body['consortium']!r} (expires {body['expires_at']})",)
    return SigningIntent("invitation", data, summary)
