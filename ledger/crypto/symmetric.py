"""Symmetric encryption: SM4-CBC (PKCS#7), SM4-GCM and AES-GCM.

SM4 comes from tongsuopy (Tongsuo, the OpenSSL fork with the Chinese national algorithms) and
AES from cryptography; both run in native code. The AEAD modes are what the ledger uses for
secrets at rest (keystores); SM4-CBC exists for interoperability with systems that still
exchange CBC ciphertexts. Every failure (bad key size, bad padding, failed authentication)
is a CryptoError, never a library-specific exception.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.hazmat.primitives import padding as _padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tongsuopy.crypto.ciphers import Cipher as _SmCipher
from tongsuopy.crypto.ciphers import algorithms as _sm_algorithms
from tongsuopy.crypto.ciphers import modes as _sm_modes
from tongsuopy.crypto.ciphers.aead import SM4GCM

from ledger.crypto.registry import AES_GCM, SM4, CryptoAlgorithm
from ledger.errors import CryptoError

__all__ = [
    "SM4_KEY_SIZE",
    "SM4_BLOCK_SIZE",
    "GCM_NONCE_SIZE",
    "GCM_TAG_SIZE",
    "random_bytes",
    "sm4_cbc_encrypt",
    "sm4_cbc_decrypt",
    "sm4_gcm_encrypt",
    "sm4_gcm_decrypt",
    "aes_gcm_encrypt",
    "aes_gcm_decrypt",
    "aead_key_size",
    "aead_encrypt",
    "aead_decrypt",
]

SM4_KEY_SIZE: Final = 16
SM4_BLOCK_SIZE: Final = 16
GCM_NONCE_SIZE: Final = 12
"""The 96-bit nonce GCM is designed for (other sizes go through an extra GHASH)."""
GCM_TAG_SIZE: Final = 16


def random_bytes(size: int) -> bytes:
    """Key, IV or nonce material from the operating system's CSPRNG."""
    return os.urandom(size)


def _check_sm4_key(key: bytes) -> None:
    if len(key) != SM4_KEY_SIZE:
        raise CryptoError(f"SM4 key must be {SM4_KEY_SIZE} bytes, got {len(key)}")


def _check_nonce(nonce: bytes) -> None:
    if not 8 <= len(nonce) <= 128:
        raise CryptoError(f"GCM nonce must be 8..128 bytes (12 recommended), got {len(nonce)}")


def sm4_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes, *, pad: bool = True) -> bytes:
    """SM4-CBC; PKCS#7 padding unless ``pad`` is False (then the input must be whole blocks).

    The IV must be unpredictable and never reused with the same key; it is not prepended.
    """
    _check_sm4_key(key)
    if len(iv) != SM4_BLOCK_SIZE:
        raise CryptoError(f"SM4-CBC IV must be {SM4_BLOCK_SIZE} bytes, got {len(iv)}")
    if pad:
        padder = _padding.PKCS7(SM4_BLOCK_SIZE * 8).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    elif len(plaintext) % SM4_BLOCK_SIZE:
        raise CryptoError("SM4-CBC without padding needs whole 16-byte blocks")
    encryptor = _SmCipher(_sm_algorithms.SM4(key), _sm_modes.CBC(iv)).encryptor()
    return bytes(encryptor.update(plaintext) + encryptor.finalize())


def sm4_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes, *, pad: bool = True) -> bytes:
    """Inverse of ``sm4_cbc_encrypt``; CryptoError on a bad length or bad padding.

    CBC is not authenticated: use it only where the ciphertext is authenticated otherwise.
    """
    _check_sm4_key(key)
    if len(iv) != SM4_BLOCK_SIZE:
        raise CryptoError(f"SM4-CBC IV must be {SM4_BLOCK_SIZE} bytes, got {len(iv)}")
    if not ciphertext or len(ciphertext) % SM4_BLOCK_SIZE:
        raise CryptoError("SM4-CBC ciphertext must be a non-empty multiple of 16 bytes")
    decryptor = _SmCipher(_sm_algorithms.SM4(key), _sm_modes.CBC(iv)).decryptor()
    plaintext = bytes(decryptor.update(ciphertext) + decryptor.finalize())
    if not pad:
        return plaintext
    try:
        unpadder = _padding.PKCS7(SM4_BLOCK_SIZE * 8).unpadder()
        return unpadder.update(plaintext) + unpadder.finalize()
    except ValueError:
        raise CryptoError("SM4-CBC padding is invalid (wrong key or corrupted data)") from None


def sm4_gcm_encrypt(
    key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b""
) -> bytes:
    """SM4-GCM: ``ciphertext ‖ 16-byte tag``, authenticating ``associated_data`` too."""
    _check_sm4_key(key)
    _check_nonce(nonce)
    return bytes(SM4GCM(key).encrypt(nonce, bytes(plaintext), bytes(associated_data)))


def sm4_gcm_decrypt(
    key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b""
) -> bytes:
    """Inverse of ``sm4_gcm_encrypt``; CryptoError when authentication fails."""
    _check_sm4_key(key)
    _check_nonce(nonce)
    if len(ciphertext) < GCM_TAG_SIZE:
        raise CryptoError("SM4-GCM ciphertext is shorter than its tag")
    try:
        return bytes(SM4GCM(key).decrypt(nonce, bytes(ciphertext), bytes(associated_data)))
    except Exception:
        raise CryptoError("SM4-GCM authentication failed") from None


def _check_aes_key(key: bytes) -> None:
    if len(key) not in (16, 24, 32):
        raise CryptoError(f"AES key must be 16, 24 or 32 bytes, got {len(key)}")


def aes_gcm_encrypt(
    key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b""
) -> bytes:
    """AES-GCM (AES-256 with a 32-byte key): ``ciphertext ‖ 16-byte tag``."""
    _check_aes_key(key)
    _check_nonce(nonce)
    return AESGCM(key).encrypt(nonce, bytes(plaintext), bytes(associated_data))


def aes_gcm_decrypt(
    key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b""
) -> bytes:
    """Inverse of ``aes_gcm_encrypt``; CryptoError when authentication fails."""
    _check_aes_key(key)
    _check_nonce(nonce)
    try:
        return AESGCM(key).decrypt(nonce, bytes(ciphertext), bytes(associated_data))
    except Exception:
        raise CryptoError("AES-GCM authentication failed") from None


def aead_key_size(algorithm: CryptoAlgorithm) -> int:
    """Key size the ledger uses for an AEAD algorithm: SM4 16 B, AES 32 B (AES-256)."""
    if algorithm == SM4:
        return SM4_KEY_SIZE
    if algorithm == AES_GCM:
        return 32
    raise CryptoError(f"{algorithm.name} is not a symmetric cipher", algorithm=algorithm.name)


def aead_encrypt(
    algorithm: CryptoAlgorithm,
    key: bytes,
    nonce: bytes,
    plaintext: bytes,
    associated_data: bytes = b"",
) -> bytes:
    """GCM encryption with SM4 or AES, chosen by algorithm."""
    if algorithm == SM4:
        return sm4_gcm_encrypt(key, nonce, plaintext, associated_data)
    if algorithm == AES_GCM:
        return aes_gcm_encrypt(key, nonce, plaintext, associated_data)
    raise CryptoError(f"{algorithm.name} is not a symmetric cipher", algorithm=algorithm.name)


def aead_decrypt(
    algorithm: CryptoAlgorithm,
    key: bytes,
    nonce: bytes,
    ciphertext: bytes,
    associated_data: bytes = b"",
) -> bytes:
    """GCM decryption with SM4 or AES; CryptoError when authentication fails."""
    if algorithm == SM4:
        return sm4_gcm_decrypt(key, nonce, ciphertext, associated_data)
    if algorithm == AES_GCM:
        return aes_gcm_decrypt(key, nonce, ciphertext, associated_data)
    raise CryptoError(f"{algorithm.name} is not a symmetric cipher", algorithm=algorithm.name)
