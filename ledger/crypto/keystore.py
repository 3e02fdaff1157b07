"""Private keys encrypted at rest under a password.

A keystore is a small JSON document (version 1)::

    {"version": 1, "algorithm": "ED25519", "public_key": <base58>, "address": <address>,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": <hex>},
     "cipher": {"name": "SM4-GCM", "nonce": <hex>},
     "password_check": <hex>, "ciphertext": <hex>}

The password goes through a memory-hard KDF (scrypt by default, PBKDF2-SHA256 where scrypt
is not allowed) and the derived key encrypts the raw private key with SM4-GCM (default, for
national-crypto deployments) or AES-256-GCM. The encoded public key is the AEAD associated
data, so a document whose public key was swapped does not decrypt. The KDF output is longer
than the cipher key; the hash of its tail is stored as ``password_check`` so a wrong password
(WrongPassword) can be told apart from a tampered document (KeystoreError) — it reveals
nothing a trial decryption would not, and costs an attacker the same KDF per guess.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Final, Literal

from ledger.crypto.address import address_from_public_key
from ledger.crypto.keys import KeyPair, PrivateKey, PublicKey, keypair_from_private
from ledger.crypto.registry import AES_GCM, SM4, CryptoAlgorithm, algorithm_by_name
from ledger.crypto.symmetric import (
    GCM_NONCE_SIZE,
    aead_decrypt,
    aead_encrypt,
    aead_key_size,
    random_bytes,
)
from ledger.errors import CryptoError, JadechainError, KeystoreError, WrongPassword

__all__ = [
    "KEYSTORE_VERSION",
    "KdfName",
    "CipherName",
    "encrypt_private_key",
    "decrypt_private_key",
    "save_keystore",
    "load_keystore",
]

KEYSTORE_VERSION: Final = 1
KdfName = Literal["scrypt", "pbkdf2-sha256"]
CipherName = Literal["SM4-GCM", "AES-256-GCM"]

_CIPHERS: Final[dict[str, CryptoAlgorithm]] = {"SM4-GCM": SM4, "AES-256-GCM": AES_GCM}
_SALT_SIZE: Final = 16
_CHECK_SIZE: Final = 16
_DEFAULT_SCRYPT_N: Final = 2**15
_DEFAULT_PBKDF2_ITERATIONS: Final = 600_000
# Bounds on KDF parameters read from a document, so a crafted keystore cannot make the node
# allocate gigabytes or spin for hours.
_MAX_SCRYPT_N: Final = 2**20
_MAX_SCRYPT_R: Final = 32
_MAX_SCRYPT_P: Final = 16
_MAX_PBKDF2_ITERATIONS: Final = 10_000_000
_MAX_SCRYPT_MEMORY: Final = 256 * 2**20


def _password_bytes(password: str | bytes) -> bytes:
    """UTF-8 of the NFKC-normalised password, so the same typed password always matches."""
    if isinstance(password, bytes):
        return password
    if isinstance(password, str):
        return unicodedata.normalize("NFKC", password).encode("utf-8")
    raise KeystoreError("password must be str or bytes")


def _derive(password: bytes, kdf: dict[str, Any], length: int) -> bytes:
    """Run the KDF a document describes, after checking its parameters are sane."""
    try:
        name = kdf["name"]
        salt = bytes.fromhex(kdf["salt"])
        if name == "scrypt":
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            if not (2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0):
                raise KeystoreError(f"scrypt n must be a power of two in [2, {_MAX_SCRYPT_N}]")
            if not (1 <= r <= _MAX_SCRYPT_R and 1 <= p <= _MAX_SCRYPT_P):
                raise KeystoreError("scrypt r or p out of range")
            if 128 * r * n > _MAX_SCRYPT_MEMORY:
                raise KeystoreError("scrypt parameters need more than 256 MiB")
            return hashlib.scrypt(
                password, salt=salt, n=n, r=r, p=p, dklen=length,
                maxmem=129 * r * (n + p) + (1 << 20),
            )
        if name == "pbkdf2-sha256":
            iterations = int(kdf["iterations"])
            if not 1 <= iterations <= _MAX_PBKDF2_ITERATIONS:
                raise KeystoreError("pbkdf2 iterations out of range")
            return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, dklen=length)
    except KeystoreError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, MemoryError) as error:
        raise KeystoreError(f"keystore kdf section is malformed: {error}") from None
    raise KeystoreError(f"unsupported keystore kdf {name!r}")


def encrypt_private_key(
    private: PrivateKey,
    password: str | bytes,
    *,
    kdf: KdfName = "scrypt",
    cipher: CipherName = "SM4-GCM",
    scrypt_n: int = _DEFAULT_SCRYPT_N,
    scrypt_r: int = 8,
    scrypt_p: int = 1,
    pbkdf2_iterations: int = _DEFAULT_PBKDF2_ITERATIONS,
) -> dict[str, Any]:
    """Encrypt ``private`` under ``password`` into a keystore document (a JSON-able dict).

    Lower ``scrypt_n``/``pbkdf2_iterations`` only in tests: they are what make guessing slow.
    """
    if cipher not in _CIPHERS:
        raise KeystoreError(f"unsupported keystore cipher {cipher!r}")
    cipher_algorithm = _CIPHERS[cipher]
    kdf_params: dict[str, Any]
    salt = random_bytes(_SALT_SIZE)
    if kdf == "scrypt":
        kdf_params = {"name": "scrypt", "n": scrypt_n, "r": scrypt_r, "p": scrypt_p,
                      "salt": salt.hex()}
    elif kdf == "pbkdf2-sha256":
        kdf_params = {"name": "pbkdf2-sha256", "iterations": pbkdf2_iterations,
                      "salt": salt.hex()}
    else:
        raise KeystoreError(f"unsupported keystore kdf {kdf!r}")
    key_size = aead_key_size(cipher_algorithm)
    derived = _derive(_password_bytes(password), kdf_params, key_size + _CHECK_SIZE)
    public = private.public_key()
    nonce = random_bytes(GCM_NONCE_SIZE)
    ciphertext = aead_encrypt(
        cipher_algorithm, derived[:key_size], nonce, private.raw, public.encoded
    )
    return {
        "version": KEYSTORE_VERSION,
        "algorithm": private.algorithm.name,
        "public_key": public.base58,
        "address": address_from_public_key(public),
        "kdf": kdf_params,
        "cipher": {"name": cipher, "nonce": nonce.hex()},
        "password_check": hashlib.sha256(derived[key_size:]).hexdigest(),
        "ciphertext": ciphertext.hex(),
    }


def decrypt_private_key(document: dict[str, Any], password: str | bytes) -> PrivateKey:
    """Recover the private key; WrongPassword for a wrong password, KeystoreError otherwise.

    Beyond authentication, the decrypted key must derive the document's public key and
    address, so a document assembled from pieces of two keystores is refused too.
    """
    if not isinstance(document, dict):
        raise KeystoreError("keystore must be a JSON object")
    try:
        if document["version"] != KEYSTORE_VERSION:
            raise KeystoreError(f"unsupported keystore version {document['version']!r}")
        algorithm = algorithm_by_name(document["algorithm"])
        public = PublicKey.from_base58(document["public_key"])
        cipher_name = document["cipher"]["name"]
        nonce = bytes.fromhex(document["cipher"]["nonce"])
        ciphertext = bytes.fromhex(document["ciphertext"])
        check = bytes.fromhex(document["password_check"])
        kdf = document["kdf"]
        address = document["address"]
    except KeystoreError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, CryptoError) as error:
        raise KeystoreError(f"keystore is malformed: {error}") from None
    if public.algorithm != algorithm:
        raise KeystoreError("keystore algorithm does not match its public key")
    if cipher_name not in _CIPHERS:
        raise KeystoreError(f"unsupported keystore cipher {cipher_name!r}")
    if not isinstance(kdf, dict):
        raise KeystoreError("keystore kdf section is malformed")
    cipher_algorithm = _CIPHERS[cipher_name]
    key_size = aead_key_size(cipher_algorithm)
    derived = _derive(_password_bytes(password), kdf, key_size + _CHECK_SIZE)
    if not hmac.compare_digest(hashlib.sha256(derived[key_size:]).digest(), check):
        raise WrongPassword("wrong keystore password")
    try:
        raw = aead_decrypt(cipher_algorithm, derived[:key_size], nonce, ciphertext, public.encoded)
        private = PrivateKey(algorithm, raw)
        derived_public = private.public_key()
    except JadechainError:
        raise KeystoreError("keystore ciphertext has been tampered with") from None
    if derived_public != public or address_from_public_key(public) != address:
        raise KeystoreError("keystore private key does not match its public key or address")
    return private


def save_keystore(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write a keystore atomically with mode 0600: readers see the old file or the new one."""
    target = Path(path)
    data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    directory = target.parent if str(target.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=directory
    )
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    directory_descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)


def load_keystore(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a keystore document; KeystoreError if it is missing or not a JSON object."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"keystore {os.fspath(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KeystoreError(f"keystore {os.fspath(path)!r} is unreadable: {error}") from None
    if not isinstance(document, dict):
        raise KeystoreError(f"keystore {os.fspath(path)!r} is not a JSON object")
    return document


def load_keypair(path: str | os.PathLike[str], password: str | bytes) -> KeyPair:
    """The key pair of the keystore file at ``path``; WrongPassword or KeystoreError if it cannot be opened."""
    return keypair_from_private(decrypt_private_key(load_keystore(path), password))


def save_keypair(path: str | os.PathLike[str], pair: KeyPair, password: str | bytes) -> None:
    """Encrypt ``pair``'s private key under ``password`` into a keystore file (mode 0600, written atomically)."""
    save_keystore(path, encrypt_private_key(pair.private, password))
