"""Key custody: private keys sealed with SM4-GCM under a master key that never enters the database.

The master key (16 bytes) comes from ``JADECHAIN_MASTER_KEY`` (hex) or a 0600 file under the data
dir, created on first start. Each sealed key is ``nonce ‖ SM4-GCM(master, encoded private key)`` with
the row's public key as associated data, so a sealed blob copied onto another row does not open.
Signing happens here, on request; export is the router's decision (owning organisation's admins).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from baas.errors import InvalidRequest
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
