"""The algorithm registry: JD Chain's codes, categories and name lookup."""

import pytest

from ledger.crypto.registry import (
    AES_GCM,
    ECDSA_P256,
    ED25519,
    ENCRYPTION,
    HASH,
    RIPEMD160,
    SHA256,
    SIGNATURE,
    SM2,
    SM3,
    SM4,
    CryptoAlgorithm,
    algorithm_by_code,
    algorithm_by_name,
)
from ledger.errors import CryptoError, UnknownAlgorithm


@pytest.mark.parametrize(
    ("algorithm", "code", "name"),
    [
        (SM2, 0xC102, "SM2"),
        (SM3, 0x2003, "SM3"),
        (SM4, 0x8204, "SM4"),
        (ED25519, 0x4115, "ED25519"),
        (ECDSA_P256, 0x4116, "ECDSA"),
        (SHA256, 0x2018, "SHA256"),
        (RIPEMD160, 0x2019, "RIPEMD160"),
        (AES_GCM, 0x821A, "AES"),
    ],
)
def test_codes_match_jd_chain(algorithm: CryptoAlgorithm, code: int, name: str) -> None:
    assert algorithm.code == code
    assert algorithm.name == name
    assert algorithm_by_code(code) is algorithm


def test_categories() -> None:
    assert [a.is_hash for a in (SM3, SHA256, RIPEMD160)] == [True, True, True]
    assert [a.is_signature for a in (SM2, ED25519, ECDSA_P256)] == [True, True, True]
    assert [a.is_symmetric for a in (SM4, AES_GCM)] == [True, True]
    assert SM2.is_encryption and not SM2.is_symmetric and not SM2.is_hash
    assert not ED25519.is_encryption
    assert not SM3.is_signature and not SM4.is_signature and not SM4.is_hash
    assert SM2.has_category(SIGNATURE) and SM2.has_category(ENCRYPTION)
    assert SHA256.has_category(HASH) and not ED25519.has_category(HASH)
    assert ED25519.id == 21 and SM2.id == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sm2", SM2), ("SM3", SM3), ("sm4", SM4), ("ed25519", ED25519), ("Ed25519", ED25519),
        ("ecdsa", ECDSA_P256), ("ECDSA-P256", ECDSA_P256), ("sha256", SHA256),
        ("SHA-256", SHA256), ("ripemd160", RIPEMD160), ("aes", AES_GCM), ("aes_gcm", AES_GCM),
    ],
)
def test_lookup_by_name_is_case_insensitive(text: str, expected: CryptoAlgorithm) -> None:
    assert algorithm_by_name(text) is expected


def test_unknown_algorithms_raise() -> None:
    with pytest.raises(UnknownAlgorithm):
        algorithm_by_code(0x4117)
    with pytest.raises(UnknownAlgorithm):
        algorithm_by_name("rsa")
    with pytest.raises(CryptoError) as raised:
        algorithm_by_name("md5")
    assert raised.value.code == "UNKNOWN_ALGORITHM"
