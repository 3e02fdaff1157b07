"""Public-key encryption of short secrets (data keys) for one reader: the "envelopes".

A private record's data key is wrapped once per authorised reader, with that reader's ledger
key, so that the key holders and nobody else can open the record. Which scheme is used
follows from the reader key's algorithm:

* **SM2** — SM2 public-key encryption, GB/T 32918.4-2016. On the ledger the ciphertext is the
  standard's raw order ``C1 ‖ C3 ‖ C2``: ``C1 = 04 ‖ x1 ‖ y1`` (65 bytes, the uncompressed
  ephemeral point), ``C3 = SM3(x2 ‖ M ‖ y2)`` (32 bytes), ``C2 = M ⊕ KDF(x2 ‖ y2)``. The work is
  done by Tongsuo (``EVP_PKEY_encrypt`` on an SM2 key), whose native form is the GM/T 0009-2012
  ASN.1 ``SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET
  STRING }``; :func:`sm2_ciphertext_to_der` / :func:`sm2_ciphertext_from_der` convert between
  the two. (The older 2010 draft order ``C1 ‖ C2 ‖ C3`` is *not* accepted: it would be a second
  meaning for the same bytes.)
* **Ed25519** — the Ed25519 key is converted to its X25519 twin (RFC 7748 birational map, as
  libsodium's ``crypto_sign_ed25519_pk_to_curve25519``) and the secret sealed with libsodium's
  sealed box: ``ephemeral X25519 public key (32) ‖ XSalsa20-Poly1305 box``.
* **ECDSA P-256** — ECIES in the SEC 1 shape: an ephemeral P-256 key, ECDH, HKDF-SHA256 over
  the shared x-coordinate (info binds both public keys), AES-256-GCM with a zero nonce (the key
  is used once): ``ephemeral point (65) ‖ ciphertext ‖ tag``.

Every failure — a wrong key, a truncated or tampered envelope — is a :class:`CryptoError`, and
the SM2 and P-256 paths authenticate (C3 / GCM tag) so a corrupted envelope never yields a
wrong key silently.
"""

from __future__ import annotations

from typing import Any, Final

import nacl.bindings as sodium
from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives import serialization as _serialization
from cryptography.hazmat.primitives.asymmetric import ec as _ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.crypto._schemes import _p256_private, _p256_public, _sm2_private, _sm2_public
from ledger.crypto.keys import PrivateKey, PublicKey
from ledger.crypto.registry import ECDSA_P256, ED25519, SM2
from ledger.errors import CryptoError

__all__ = [
    "MAX_SECRET_SIZE",
    "SM2_C1_SIZE",
    "SM2_C3_SIZE",
    "sm2_encrypt",
    "sm2_decrypt",
    "sm2_ciphertext_to_der",
    "sm2_ciphertext_from_der",
    "seal_ed25519",
    "open_ed25519",
    "ecies_p256_encrypt",
    "ecies_p256_decrypt",
    "wrap_key",
    "unwrap_key",
]

MAX_SECRET_SIZE: Final = 1024
"""Envelopes carry keys, not documents: anything longer is refused."""
SM2_C1_SIZE: Final = 65
SM2_C3_SIZE: Final = 32
_ECIES_INFO: Final = b"jadechain/ecies-p256-hkdf-sha256-aes256gcm/v1"


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise CryptoError("the secret to wrap must be bytes")
    secret = bytes(secret)
    if not 1 <= len(secret) <= MAX_SECRET_SIZE:
        raise CryptoError(f"the secret to wrap must be 1..{MAX_SECRET_SIZE} bytes, got {len(secret)}")
    return secret


# --- SM2 (GB/T 32918.4) ------------------------------------------------------------------------------


def _tongsuo() -> tuple[Any, Any]:
    from tongsuopy.backends.tongsuo.backend import backend

    return backend._lib, backend._ffi


def _evp_crypt(evp_pkey: Any, data: bytes, *, encrypt: bool) -> bytes:
    """One EVP_PKEY_encrypt/decrypt call on an SM2 key (Tongsuo picks SM2 encryption for it)."""
    lib, ffi = _tongsuo()
    context = lib.EVP_PKEY_CTX_new(evp_pkey, ffi.NULL)
    if context == ffi.NULL:
        raise CryptoError("SM2: cannot create an encryption context")
    context = ffi.gc(context, lib.EVP_PKEY_CTX_free)
    init = lib.EVP_PKEY_encrypt_init if encrypt else lib.EVP_PKEY_decrypt_init
    run = lib.EVP_PKEY_encrypt if encrypt else lib.EVP_PKEY_decrypt
    try:
        if init(context) != 1:
            raise CryptoError("SM2: the key cannot be used for encryption")
        size = ffi.new("size_t *")
        if run(context, ffi.NULL, size, data, len(data)) != 1:
            raise CryptoError("SM2: decryption failed" if not encrypt else "SM2: encryption failed")
        buffer = ffi.new("unsigned char[]", max(size[0], 1))
        if run(context, buffer, size, data, len(data)) != 1:
            raise CryptoError("SM2: decryption failed (wrong key or tampered ciphertext)"
                              if not encrypt else "SM2: encryption failed")
        return bytes(ffi.buffer(buffer, size[0]))
    finally:
        lib.ERR_clear_error()


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return b"\x02" + _der_length(len(body)) + body


def _der_octets(value: bytes) -> bytes:
    return b"\x04" + _der_length(len(value)) + value


def _der_read(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """Read one DER TLV with ``tag`` at ``offset`` (minimal lengths only); return value and end."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise CryptoError("SM2 ciphertext: not the GM/T 0009 ASN.1 structure")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + count > len(data) or data[offset] == 0:
            raise CryptoError("SM2 ciphertext: bad DER length")
        size = int.from_bytes(data[offset:offset + count], "big")
        if size < 0x80:
            raise CryptoError("SM2 ciphertext: non-minimal DER length")
        offset += count
    end = offset + size
    if end > len(data):
        raise CryptoError("SM2 ciphertext: truncated DER")
    return data[offset:end], end


def _der_read_integer(data: bytes, offset: int) -> tuple[int, int]:
    body, end = _der_read(data, offset, 0x02)
    if not body or body[0] & 0x80 or (len(body) > 1 and body[0] == 0 and not body[1] & 0x80):
        raise CryptoError("SM2 ciphertext: bad DER integer")
    return int.from_bytes(body, "big"), end


def sm2_ciphertext_to_der(ciphertext: bytes) -> bytes:
    """GB/T 32918.4 ``C1 ‖ C3 ‖ C2`` (C1 = 04‖x‖y) → GM/T 0009 ASN.1 DER ``SM2Cipher``."""
    if len(ciphertext) <= SM2_C1_SIZE + SM2_C3_SIZE or ciphertext[0] != 0x04:
        raise CryptoError("SM2 ciphertext: expected 04‖x‖y ‖ C3 ‖ C2 (GB/T 32918.4, C1C3C2)")
    x = int.from_bytes(ciphertext[1:33], "big")
    y = int.from_bytes(ciphertext[33:65], "big")
    c3 = ciphertext[SM2_C1_SIZE:SM2_C1_SIZE + SM2_C3_SIZE]
    c2 = ciphertext[SM2_C1_SIZE + SM2_C3_SIZE:]
    body = _der_integer(x) + _der_integer(y) + _der_octets(c3) + _der_octets(c2)
    return b"\x30" + _der_length(len(body)) + body


def sm2_ciphertext_from_der(der: bytes) -> bytes:
    """GM/T 0009 ASN.1 DER ``SM2Cipher`` → GB/T 32918.4 ``C1 ‖ C3 ‖ C2`` (C1 = 04‖x‖y)."""
    body, end = _der_read(der, 0, 0x30)
    if end != len(der):
        raise CryptoError("SM2 ciphertext: trailing bytes after the DER structure")
    x, offset = _der_read_integer(body, 0)
    y, offset = _der_read_integer(body, offset)
    c3, offset = _der_read(body, offset, 0x04)
    c2, offset = _der_read(body, offset, 0x04)
    if offset != len(body) or len(c3) != SM2_C3_SIZE or not c2 or x >= 2**256 or y >= 2**256:
        raise CryptoError("SM2 ciphertext: bad SM2Cipher fields")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2


def sm2_encrypt(public_raw: bytes, plaintext: bytes) -> bytes:
    """SM2 encryption (GB/T 32918.4-2016) to ``04‖x‖y``; returns ``C1 ‖ C3 ‖ C2``."""
    plaintext = _check_secret(plaintext)
    if len(public_raw) != 65:
        raise CryptoError("SM2 public key must be 65 bytes (04‖X‖Y)")
    key = _sm2_public(bytes(public_raw))
    return sm2_ciphertext_from_der(_evp_crypt(key._evp_pkey, plaintext, encrypt=True))


def sm2_decrypt(private_raw: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm2_encrypt`; CryptoError if C1 is off the curve or C3 does not match."""
    der = sm2_ciphertext_to_der(bytes(ciphertext))
    key = _sm2_private(bytes(private_raw))
    return _evp_crypt(key._evp_pkey, der, encrypt=False)


# --- Ed25519 → X25519 sealed box ---------------------------------------------------------------------


def seal_ed25519(public_raw: bytes, plaintext: bytes) -> bytes:
    """libsodium sealed box to the X25519 twin of an Ed25519 public key."""
    plaintext = _check_secret(plaintext)
    try:
        curve_public = sodium.crypto_sign_ed25519_pk_to_curve25519(bytes(public_raw))
        return bytes(sodium.crypto_box_seal(plaintext, curve_public))
    except Exception:
        raise CryptoError("ED25519 public key cannot be converted to X25519") from None


def open_ed25519(seed: bytes, sealed: bytes) -> bytes:
    """Open a sealed box with the X25519 twin of an Ed25519 private key (its 32-byte seed)."""
    public, secret = sodium.crypto_sign_seed_keypair(bytes(seed))
    curve_public = sodium.crypto_sign_ed25519_pk_to_curve25519(public)
    curve_secret = sodium.crypto_sign_ed25519_sk_to_curve25519(secret)
    try:
        return bytes(sodium.crypto_box_seal_open(bytes(sealed), curve_public, curve_secret))
    except Exception:
        raise CryptoError("ED25519 envelope does not open (wrong key or tampered)") from None


# --- ECIES on P-256 -----------------------------------------------------------------------------------


def _ecies_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(_hashes.SHA256(), 32, None, _ECIES_INFO + ephemeral + recipient).derive(shared)


def ecies_p256_encrypt(public_raw: bytes, plaintext: bytes) -> bytes:
    """ECIES to a P-256 key: ``ephemeral 04‖x‖y ‖ AES-256-GCM(HKDF(ECDH)) ciphertext ‖ tag``."""
    plaintext = _check_secret(plaintext)
    recipient = _p256_public(bytes(public_raw))
    ephemeral = _ec.generate_private_key(_ec.SECP256R1())
    ephemeral_raw = ephemeral.public_key().public_bytes(
        _serialization.Encoding.X962, _serialization.PublicFormat.UncompressedPoint)
    key = _ecies_key(ephemeral.exchange(_ec.ECDH(), recipient), ephemeral_raw, bytes(public_raw))
    return ephemeral_raw + AESGCM(key).encrypt(bytes(12), plaintext, None)


def ecies_p256_decrypt(private_raw: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`ecies_p256_encrypt`; CryptoError for a wrong key or a tampered envelope."""
    ciphertext = bytes(ciphertext)
    if len(ciphertext) < 65 + 16 + 1:
        raise CryptoError("P-256 envelope is too short")
    private = _p256_private(bytes(private_raw))
    try:
        ephemeral = _ec.EllipticCurvePublicKey.from_encoded_point(_ec.SECP256R1(), ciphertext[:65])
        own = private.public_key().public_bytes(
            _serialization.Encoding.X962, _serialization.PublicFormat.UncompressedPoint)
        key = _ecies_key(private.exchange(_ec.ECDH(), ephemeral), ciphertext[:65], own)
        return AESGCM(key).decrypt(bytes(12), ciphertext[65:], None)
    except Exception:
        raise CryptoError("P-256 envelope does not open (wrong key or tampered)") from None


# --- by key algorithm ------------------------------------------------------------------------------------


def wrap_key(reader: PublicKey, secret: bytes) -> bytes:
    """Encrypt ``secret`` (a data key) so that only ``reader``'s private key opens it."""
    if reader.algorithm == SM2:
        return sm2_encrypt(reader.raw, secret)
    if reader.algorithm == ED25519:
        return seal_ed25519(reader.raw, secret)
    if reader.algorithm == ECDSA_P256:
        return ecies_p256_encrypt(reader.raw, secret)
    raise CryptoError(f"no envelope scheme for {reader.algorithm.name} keys", algorithm=reader.algorithm.name)


def unwrap_key(reader: PrivateKey, wrapped: bytes) -> bytes:
    """Open an envelope made by :func:`wrap_key` for ``reader``'s public key."""
    if reader.algorithm == SM2:
        return sm2_decrypt(reader.raw, wrapped)
    if reader.algorithm == ED25519:
        return open_ed25519(reader.raw, wrapped)
    if reader.algorithm == ECDSA_P256:
        return ecies_p256_decrypt(reader.raw, wrapped)
    raise CryptoError(f"no envelope scheme for {reader.algorithm.name} keys", algorithm=reader.algorithm.name)
