"""The three signature schemes behind ``keys.sign``/``keys.verify``, on raw bytes only.

Each scheme fixes one raw format so that keys and signatures are the same bytes whichever
library produced them:

* Ed25519 (PyNaCl/libsodium): public key 32 B, private key = 32 B seed, signature 64 B.
  libsodium rejects non-canonical ``s`` and small-order keys, so signatures are not malleable.
* SM2 (tongsuopy/Tongsuo): public key 65 B uncompressed ``04‖X‖Y``, private key 32 B scalar,
  signature 64 B ``r‖s``; the message digest is SM3(Z ‖ M) with the standard default user id
  ``1234567812345678``, which is what gmssl and every GM/T 0009 implementation produce.
* ECDSA P-256 (cryptography): same sizes as SM2, SHA-256 digest, and ``s`` always in the low
  half of the group order (signing normalises it, verifying rejects the high twin), so a
  relayed signature cannot be rewritten into a second valid one.

Parsed key objects are kept in LRU caches keyed by their raw bytes: parsing an EC point costs
tens of microseconds, as much as a hash of a whole transaction, and the same few thousand keys
sign nearly every transaction. Verification functions never raise; any failure is False.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Final

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives.asymmetric import ec as _ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from tongsuopy.crypto import hashes as _sm_hashes
from tongsuopy.crypto import serialization as _sm_serialization
from tongsuopy.crypto.asymciphers import ec as _sm_ec

from ledger.crypto.registry import ECDSA_P256, ED25519, SM2, CryptoAlgorithm
from ledger.errors import CryptoError, InvalidKey

__all__ = ["SignatureScheme", "scheme_for"]

_KEY_CACHE_SIZE: Final = 8192
_PRIVATE_CACHE_SIZE: Final = 256

SM2_ORDER: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
P256_ORDER: Final = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
_P256_HALF_ORDER: Final = P256_ORDER // 2


class SignatureScheme:
    """Raw-byte operations of one signature algorithm."""

    algorithm: CryptoAlgorithm
    public_size: int
    private_size: int = 32
    signature_size: int = 64

    def check_public(self, raw: bytes) -> None:
        """Raise InvalidKey unless ``raw`` is a usable public key (on the curve, not identity)."""
        raise NotImplementedError

    def check_private(self, raw: bytes) -> None:
        """Raise InvalidKey unless ``raw`` is a usable private key."""
        raise NotImplementedError

    def generate_private(self) -> bytes:
        raise NotImplementedError

    def public_from_private(self, raw: bytes) -> bytes:
        raise NotImplementedError

    def sign(self, private_raw: bytes, message: bytes) -> bytes:
        raise NotImplementedError

    def verify(self, public_raw: bytes, message: bytes, signature_raw: bytes) -> bool:
        raise NotImplementedError

    def _check_size(self, raw: bytes, expected: int, what: str) -> None:
        if len(raw) != expected:
            raise InvalidKey(
                f"{self.algorithm.name} {what} must be {expected} bytes, got {len(raw)}",
                algorithm=self.algorithm.name,
            )


# --- Ed25519 ---------------------------------------------------------------------


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _ed25519_public_ok(raw: bytes) -> bool:
    try:
        # libsodium refuses points that do not decode, have small order or lie outside the
        # prime-order subgroup: exactly the keys a verifier must not accept.
        sodium.crypto_sign_ed25519_pk_to_curve25519(raw)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


@lru_cache(maxsize=_PRIVATE_CACHE_SIZE)
def _ed25519_secret(seed: bytes) -> tuple[bytes, bytes]:
    public, secret = sodium.crypto_sign_seed_keypair(seed)
    return bytes(public), bytes(secret)


class _Ed25519(SignatureScheme):
    algorithm = ED25519
    public_size = 32

    def check_public(self, raw: bytes) -> None:
        self._check_size(raw, 32, "public key")
        if not _ed25519_public_ok(raw):
            raise InvalidKey("ED25519 public key is not a valid curve point", algorithm="ED25519")

    def check_private(self, raw: bytes) -> None:
        self._check_size(raw, 32, "private key")

    def generate_private(self) -> bytes:
        return os.urandom(32)

    def public_from_private(self, raw: bytes) -> bytes:
        return _ed25519_secret(raw)[0]

    def sign(self, private_raw: bytes, message: bytes) -> bytes:
        signed = sodium.crypto_sign(message, _ed25519_secret(private_raw)[1])
        return bytes(signed[:64])

    def verify(self, public_raw: bytes, message: bytes, signature_raw: bytes) -> bool:
        if len(public_raw) != 32 or len(signature_raw) != 64:
            return False
        try:
            sodium.crypto_sign_open(signature_raw + message, public_raw)
        except Exception:
            return False
        return True


# --- SM2 -------------------------------------------------------------------------

_SM2_CURVE: Final = _sm_ec.SM2()
_SM2_SIGNATURE: Final = _sm_ec.ECDSA(_sm_hashes.SM3())


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _sm2_public(raw: bytes) -> Any:
    if raw[:1] != b"\x04":
        raise InvalidKey(
            "SM2 public key must be an uncompressed point (04‖X‖Y)", algorithm="SM2"
        )
    try:
        return _sm_ec.EllipticCurvePublicKey.from_encoded_point(_SM2_CURVE, raw)
    except Exception:
        raise InvalidKey("SM2 public key is not a point on the curve", algorithm="SM2") from None


@lru_cache(maxsize=_PRIVATE_CACHE_SIZE)
def _sm2_private(raw: bytes) -> Any:
    return _sm_ec.derive_private_key(int.from_bytes(raw, "big"), _SM2_CURVE)


class _SM2(SignatureScheme):
    algorithm = SM2
    public_size = 65

    def check_public(self, raw: bytes) -> None:
        self._check_size(raw, 65, "public key")
        _sm2_public(raw)

    def check_private(self, raw: bytes) -> None:
        self._check_size(raw, 32, "private key")
        # GB/T 32918 requires d in [1, n-2]: d = n-1 makes (1+d) non-invertible.
        if not 1 <= int.from_bytes(raw, "big") <= SM2_ORDER - 2:
            raise InvalidKey("SM2 private key is out of range", algorithm="SM2")

    def generate_private(self) -> bytes:
        key = _sm_ec.generate_private_key(_SM2_CURVE)
        value: int = key.private_numbers().private_value
        return value.to_bytes(32, "big")

    def public_from_private(self, raw: bytes) -> bytes:
        public = _sm2_private(raw).public_key()
        return bytes(
            public.public_bytes(
                _sm_serialization.Encoding.X962, _sm_serialization.PublicFormat.UncompressedPoint
            )
        )

    def sign(self, private_raw: bytes, message: bytes) -> bytes:
        der = _sm2_private(private_raw).sign(message, _SM2_SIGNATURE)
        r, s = decode_dss_signature(bytes(der))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_raw: bytes, message: bytes, signature_raw: bytes) -> bool:
        if len(public_raw) != 65 or len(signature_raw) != 64:
            return False
        r = int.from_bytes(signature_raw[:32], "big")
        s = int.from_bytes(signature_raw[32:], "big")
        if not (0 < r < SM2_ORDER and 0 < s < SM2_ORDER):
            return False
        try:
            _sm2_public(public_raw).verify(encode_dss_signature(r, s), message, _SM2_SIGNATURE)
        except Exception:
            return False
        return True


# --- ECDSA P-256 -------------------------------------------------------------------

_P256_CURVE: Final = _ec.SECP256R1()
_P256_SIGNATURE: Final = _ec.ECDSA(_hashes.SHA256())


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _p256_public(raw: bytes) -> _ec.EllipticCurvePublicKey:
    if raw[:1] != b"\x04":
        raise InvalidKey(
            "ECDSA public key must be an uncompressed point (04‖X‖Y)", algorithm="ECDSA"
        )
    try:
        return _ec.EllipticCurvePublicKey.from_encoded_point(_P256_CURVE, raw)
    except Exception:
        raise InvalidKey("ECDSA public key is not a point on P-256", algorithm="ECDSA") from None


@lru_cache(maxsize=_PRIVATE_CACHE_SIZE)
def _p256_private(raw: bytes) -> _ec.EllipticCurvePrivateKey:
    return _ec.derive_private_key(int.from_bytes(raw, "big"), _P256_CURVE)


class _EcdsaP256(SignatureScheme):
    algorithm = ECDSA_P256
    public_size = 65

    def check_public(self, raw: bytes) -> None:
        self._check_size(raw, 65, "public key")
        _p256_public(raw)

    def check_private(self, raw: bytes) -> None:
        self._check_size(raw, 32, "private key")
        if not 1 <= int.from_bytes(raw, "big") < P256_ORDER:
            raise InvalidKey("ECDSA private key is out of range", algorithm="ECDSA")

    def generate_private(self) -> bytes:
        value = _ec.generate_private_key(_P256_CURVE).private_numbers().private_value
        return value.to_bytes(32, "big")

    def public_from_private(self, raw: bytes) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return _p256_private(raw).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def sign(self, private_raw: bytes, message: bytes) -> bytes:
        r, s = decode_dss_signature(_p256_private(private_raw).sign(message, _P256_SIGNATURE))
        if s > _P256_HALF_ORDER:
            s = P256_ORDER - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_raw: bytes, message: bytes, signature_raw: bytes) -> bool:
        if len(public_raw) != 65 or len(signature_raw) != 64:
            return False
        r = int.from_bytes(signature_raw[:32], "big")
        s = int.from_bytes(signature_raw[32:], "big")
        if not (0 < r < P256_ORDER and 0 < s <= _P256_HALF_ORDER):
            return False
        try:
            _p256_public(public_raw).verify(encode_dss_signature(r, s), message, _P256_SIGNATURE)
        except Exception:  # InvalidSignature, or an unusable key that slipped past the cache
            return False
        return True


_SCHEMES: Final[dict[int, SignatureScheme]] = {
    scheme.algorithm.code: scheme for scheme in (_Ed25519(), _SM2(), _EcdsaP256())
}


def scheme_for(algorithm: CryptoAlgorithm) -> SignatureScheme:
    """The scheme of a signature algorithm; CryptoError for hashes and ciphers."""
    try:
        return _SCHEMES[algorithm.code]
    except (KeyError, AttributeError):
        name = getattr(algorithm, "name", repr(algorithm))
        raise CryptoError(f"{name} is not a signature algorithm", algorithm=name) from None
