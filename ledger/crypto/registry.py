"""The registry of every cryptographic algorithm the ledger knows, by its 16-bit code.

Jadechain follows JD Chain's crypto agility: every hash, key and signature on the wire starts
with the 2-byte code of the algorithm that produced it, so a ledger can change or mix
algorithms without ambiguity. The code is built from flags, exactly as JD Chain's
``CryptoAlgorithmDefinition`` does, so identifiers stay interoperable:

* high nibble, the category: RANDOM ``0x1000``, HASH ``0x2000``, SIGNATURE ``0x4000``,
  ENCRYPTION ``0x8000`` (a signature algorithm that can also encrypt, like SM2, has both);
* next nibble, the key kind: ASYMMETRIC_KEY ``0x0100``, SYMMETRIC_KEY ``0x0200``;
* low byte, the algorithm's id (unique within the category).

The ids come from JD Chain's ``SMAlgorithm`` (SM2 = 2, SM3 = 3, SM4 = 4) and
``ClassicAlgorithm`` (ED25519 = 21, ECDSA = 22, SHA256 = 24, RIPEMD160 = 25, AES = 26).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ledger.errors import UnknownAlgorithm

__all__ = [
    "RANDOM",
    "HASH",
    "SIGNATURE",
    "ENCRYPTION",
    "ASYMMETRIC_KEY",
    "SYMMETRIC_KEY",
    "CryptoAlgorithm",
    "SM2",
    "SM3",
    "SM4",
    "ED25519",
    "ECDSA_P256",
    "SHA256",
    "RIPEMD160",
    "AES_GCM",
    "ALL_ALGORITHMS",
    "HASH_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "algorithm_by_code",
    "algorithm_by_name",
]

RANDOM: Final = 0x1000
"""Category flag of random number generators."""
HASH: Final = 0x2000
"""Category flag of hash functions."""
SIGNATURE: Final = 0x4000
"""Category flag of signature algorithms."""
ENCRYPTION: Final = 0x8000
"""Category flag of encryption algorithms (symmetric, or asymmetric that can encrypt)."""
ASYMMETRIC_KEY: Final = 0x0100
"""Key flag: the algorithm uses a public/private key pair."""
SYMMETRIC_KEY: Final = 0x0200
"""Key flag: the algorithm uses one secret key."""

_CATEGORY_MASK: Final = 0xF000
_KEY_MASK: Final = 0x0F00
_ID_MASK: Final = 0x00FF


@dataclass(frozen=True, slots=True)
class CryptoAlgorithm:
    """One algorithm: its 16-bit wire code and its canonical (JD Chain) name."""

    code: int
    """The 16-bit code written before every raw hash, key or signature."""
    name: str
    """Canonical upper-case name, as JD Chain spells it (``"SM2"``, ``"ECDSA"``, ``"AES"``)."""

    @property
    def id(self) -> int:
        """The low byte: the algorithm's id within its category."""
        return self.code & _ID_MASK

    @property
    def is_random(self) -> bool:
        return self.code & _CATEGORY_MASK == RANDOM

    @property
    def is_hash(self) -> bool:
        return self.code & _CATEGORY_MASK == HASH

    @property
    def is_signature(self) -> bool:
        """True for algorithms that sign; SM2 is one even though it can also encrypt."""
        return bool(self.code & SIGNATURE)

    @property
    def is_encryption(self) -> bool:
        return bool(self.code & ENCRYPTION)

    @property
    def has_asymmetric_key(self) -> bool:
        return self.code & _KEY_MASK == ASYMMETRIC_KEY

    @property
    def has_symmetric_key(self) -> bool:
        return self.code & _KEY_MASK == SYMMETRIC_KEY

    @property
    def is_symmetric(self) -> bool:
        """True for symmetric ciphers (SM4, AES); these never sign."""
        return self.is_encryption and self.has_symmetric_key

    def has_category(self, category: int) -> bool:
        """Whether the algorithm belongs to ``category`` (one of the category flags)."""
        if category == HASH:
            return self.is_hash
        if category == RANDOM:
            return self.is_random
        return bool(self.code & category)

    def __str__(self) -> str:
        return self.name


def _define_hash(name: str, algorithm_id: int) -> CryptoAlgorithm:
    return CryptoAlgorithm(HASH | algorithm_id, name)


def _define_signature(name: str, encryptable: bool, algorithm_id: int) -> CryptoAlgorithm:
    flags = SIGNATURE | ASYMMETRIC_KEY | (ENCRYPTION if encryptable else 0)
    return CryptoAlgorithm(flags | algorithm_id, name)


def _define_symmetric(name: str, algorithm_id: int) -> CryptoAlgorithm:
    return CryptoAlgorithm(ENCRYPTION | SYMMETRIC_KEY | algorithm_id, name)


SM2: Final = _define_signature("SM2", True, 2)
"""SM2 signatures (GB/T 32918) over SM3 with the standard Z value; code 0xC102."""
SM3: Final = _define_hash("SM3", 3)
"""SM3 hash (GB/T 32905), 32 bytes; code 0x2003."""
SM4: Final = _define_symmetric("SM4", 4)
"""SM4 block cipher (GB/T 32907), 128-bit key; code 0x8204."""
ED25519: Final = _define_signature("ED25519", False, 21)
"""Ed25519 signatures (RFC 8032); code 0x4115."""
ECDSA_P256: Final = _define_signature("ECDSA", False, 22)
"""ECDSA over NIST P-256 with SHA-256, low-s; code 0x4116."""
SHA256: Final = _define_hash("SHA256", 24)
"""SHA-256, 32 bytes; code 0x2018."""
RIPEMD160: Final = _define_hash("RIPEMD160", 25)
"""RIPEMD-160, 20 bytes (used inside addresses); code 0x2019."""
AES_GCM: Final = _define_symmetric("AES", 26)
"""AES in GCM mode; code 0x821A."""

ALL_ALGORITHMS: Final[tuple[CryptoAlgorithm, ...]] = (
    SM2, SM3, SM4, ED25519, ECDSA_P256, SHA256, RIPEMD160, AES_GCM,
)
HASH_ALGORITHMS: Final[tuple[CryptoAlgorithm, ...]] = (SM3, SHA256, RIPEMD160)
SIGNATURE_ALGORITHMS: Final[tuple[CryptoAlgorithm, ...]] = (ED25519, SM2, ECDSA_P256)

_BY_CODE: Final[dict[int, CryptoAlgorithm]] = {a.code: a for a in ALL_ALGORITHMS}

_BY_NAME: Final[dict[str, CryptoAlgorithm]] = {
    "SM2": SM2,
    "SM3": SM3,
    "SM4": SM4,
    "SM4GCM": SM4,
    "ED25519": ED25519,
    "EDDSA": ED25519,
    "ECDSA": ECDSA_P256,
    "ECDSAP256": ECDSA_P256,
    "P256": ECDSA_P256,
    "SECP256R1": ECDSA_P256,
    "SHA256": SHA256,
    "RIPEMD160": RIPEMD160,
    "AES": AES_GCM,
    "AESGCM": AES_GCM,
    "AES256GCM": AES_GCM,
}


def algorithm_by_code(code: int) -> CryptoAlgorithm:
    """The algorithm with this 16-bit code; raises UnknownAlgorithm for any other code."""
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise UnknownAlgorithm(
            f"unknown crypto algorithm code {code!r}", code=code
        ) from None


def algorithm_by_name(name: str) -> CryptoAlgorithm:
    """The algorithm called ``name``, case-insensitively, ignoring ``-`` and ``_``.

    Accepts the canonical names and the usual aliases ("ecdsa-p256", "aes-gcm", "sha-256")
    so configuration files can be written the way people naturally spell them.
    """
    key = name.upper().replace("-", "").replace("_", "").replace(" ", "") if isinstance(
        name, str
    ) else ""
    try:
        return _BY_NAME[key]
    except KeyError:
        raise UnknownAlgorithm(
            f"unknown crypto algorithm name {name!r}", name=str(name)
        ) from None
