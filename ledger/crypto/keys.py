"""Key pairs, signing and verification for SM2, Ed25519 and ECDSA P-256.

Keys and signatures are plain frozen values holding their algorithm and raw bytes, so they
can be hashed, compared, put in sets and encoded canonically (``code ‖ raw``). A public key
is validated once, when it is built (the point must be on the curve), so code that holds a
``PublicKey`` never has to ask again. ``verify`` is the ledger's gatekeeper: it answers
True or False for anything, including garbage, and never raises, because a malformed
signature from the network is an expected input, not an error in the node.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from ledger.crypto._schemes import scheme_for
from ledger.crypto.encoding import (
    CODE_SIZE,
    decode_crypto_bytes,
    encode_crypto_bytes,
    from_base58,
    to_base58,
)
from ledger.crypto.registry import ED25519, SIGNATURE, CryptoAlgorithm
from ledger.errors import CryptoError, InvalidKey

__all__ = [
    "PublicKey",
    "PrivateKey",
    "KeyPair",
    "generate_keypair",
    "keypair_from_private",
    "sign",
    "verify",
    "decode_signature",
]


def _check_signature_algorithm(algorithm: object) -> CryptoAlgorithm:
    if not isinstance(algorithm, CryptoAlgorithm) or not algorithm.is_signature:
        name = getattr(algorithm, "name", repr(algorithm))
        raise InvalidKey(f"{name} is not a signature algorithm", algorithm=str(name))
    return algorithm


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A validated public key: its algorithm and raw bytes (Ed25519 32 B, SM2/P-256 65 B)."""

    algorithm: CryptoAlgorithm
    """The signature algorithm the key belongs to."""
    raw: bytes
    """Raw key bytes without the algorithm code."""

    def __post_init__(self) -> None:
        algorithm = _check_signature_algorithm(self.algorithm)
        if not isinstance(self.raw, bytes):
            if isinstance(self.raw, (bytearray, memoryview)):
                object.__setattr__(self, "raw", bytes(self.raw))
            else:
                raise InvalidKey("public key must be bytes", type=type(self.raw).__name__)
        scheme_for(algorithm).check_public(self.raw)

    @property
    def encoded(self) -> bytes:
        """``code ‖ raw``, the form stored on the ledger and carried in transactions."""
        return encode_crypto_bytes(self.algorithm, self.raw)

    @property
    def base58(self) -> str:
        """Base58 of ``encoded``, the text form users paste into configuration."""
        return to_base58(self.encoded)

    @classmethod
    def from_encoded(cls, data: bytes) -> PublicKey:
        """Parse ``code ‖ raw``; InvalidKey for a wrong algorithm, length or curve point."""
        try:
            algorithm, raw = decode_crypto_bytes(data, SIGNATURE, kind="public_key")
        except InvalidKey:
            raise
        except CryptoError as error:
            raise InvalidKey(f"not an encoded public key: {error.message}") from None
        return cls(algorithm, raw)

    @classmethod
    def from_base58(cls, text: str) -> PublicKey:
        return cls.from_encoded(from_base58(text))

    def __str__(self) -> str:
        return self.base58

    def __repr__(self) -> str:
        return f"PublicKey({self.algorithm.name}, {self.base58})"


@dataclass(frozen=True, slots=True, eq=False)
class PrivateKey:
    """A private key: algorithm and raw 32 bytes (Ed25519 seed, or SM2/P-256 scalar).

    Its repr and str never show the secret, so a key that ends up in a log line or a traceback
    leaks nothing; equality is constant-time.
    """

    algorithm: CryptoAlgorithm
    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        algorithm = _check_signature_algorithm(self.algorithm)
        if not isinstance(self.raw, bytes):
            if isinstance(self.raw, (bytearray, memoryview)):
                object.__setattr__(self, "raw", bytes(self.raw))
            else:
                raise InvalidKey("private key must be bytes", type=type(self.raw).__name__)
        scheme_for(algorithm).check_private(self.raw)

    @property
    def encoded(self) -> bytes:
        """``code ‖ raw``; secret, only for the keystore."""
        return encode_crypto_bytes(self.algorithm, self.raw)

    @classmethod
    def from_encoded(cls, data: bytes) -> PrivateKey:
        try:
            algorithm, raw = decode_crypto_bytes(data, SIGNATURE, kind="private_key")
        except InvalidKey:
            raise
        except CryptoError as error:
            raise InvalidKey(f"not an encoded private key: {error.message}") from None
        return cls(algorithm, raw)

    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self.algorithm, scheme_for(self.algorithm).public_from_private(self.raw))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return self.algorithm == other.algorithm and hmac.compare_digest(self.raw, other.raw)

    def __hash__(self) -> int:
        return hash((PrivateKey, self.algorithm, self.raw))

    def __repr__(self) -> str:
        return f"PrivateKey({self.algorithm.name}, <secret>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A public key and the private key it belongs to.

    The pair is not re-checked on construction (that costs a scalar multiplication); build it
    with ``generate_keypair`` or ``keypair_from_private`` to get a consistent one.
    """

    public: PublicKey
    private: PrivateKey

    @property
    def algorithm(self) -> CryptoAlgorithm:
        return self.public.algorithm


def generate_keypair(algorithm: CryptoAlgorithm = ED25519) -> KeyPair:
    """A fresh key pair from the operating system's CSPRNG."""
    scheme = scheme_for(_check_signature_algorithm(algorithm))
    return keypair_from_private(PrivateKey(algorithm, scheme.generate_private()))


def keypair_from_private(private: PrivateKey) -> KeyPair:
    """Rebuild the key pair of a private key (e.g. one loaded from a keystore)."""
    return KeyPair(private.public_key(), private)


def sign(private: PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` and return the encoded signature ``code ‖ raw`` (raw = 64 bytes)."""
    raw = scheme_for(private.algorithm).sign(private.raw, bytes(message))
    return encode_crypto_bytes(private.algorithm, raw)


def decode_signature(signature: bytes) -> tuple[CryptoAlgorithm, bytes]:
    """Split an encoded signature; CryptoError when it is not one."""
    return decode_crypto_bytes(signature, SIGNATURE, kind="signature")


def verify(public: PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (``code ‖ raw``) is ``public``'s signature of ``message``.

    Never raises: a signature of another algorithm, of the wrong length, garbled, or of a
    different key or message is simply False.
    """
    try:
        code = public.algorithm.code
        if (
            len(signature) <= CODE_SIZE
            or int.from_bytes(signature[:CODE_SIZE], "big") != code
        ):
            return False
        return scheme_for(public.algorithm).verify(
            public.raw, bytes(message), bytes(signature[CODE_SIZE:])
        )
    except Exception:
        return False
