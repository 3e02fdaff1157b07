"""SM4 and AES against vectors, and their failure modes."""

import os

import pytest

from ledger.crypto.registry import AES_GCM, SM4
from ledger.crypto.symmetric import (
    aead_decrypt,
    aead_encrypt,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from ledger.errors import CryptoError

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_standard_vector() -> None:
    # GB/T 32907 example 1: one block, so CBC with a zero IV is ECB
    ciphertext = sm4_cbc_encrypt(SM4_KEY, bytes(16), SM4_KEY, pad=False)
    assert ciphertext.hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4_cbc_decrypt(SM4_KEY, bytes(16), ciphertext, pad=False) == SM4_KEY


def test_sm4_cbc_padding_round_trip() -> None:
    iv = os.urandom(16)
    for size in (0, 1, 15, 16, 17, 100):
        plaintext = os.urandom(size)
        ciphertext = sm4_cbc_encrypt(SM4_KEY, iv, plaintext)
        assert len(ciphertext) == (size // 16 + 1) * 16
        assert sm4_cbc_decrypt(SM4_KEY, iv, ciphertext) == plaintext


def test_sm4_cbc_errors() -> None:
    with pytest.raises(CryptoError):
        sm4_cbc_encrypt(b"short", bytes(16), b"x")
    with pytest.raises(CryptoError):
        sm4_cbc_encrypt(SM4_KEY, bytes(8), b"x")
    with pytest.raises(CryptoError):
        sm4_cbc_encrypt(SM4_KEY, bytes(16), b"x", pad=False)
    with pytest.raises(CryptoError):
        sm4_cbc_decrypt(SM4_KEY, bytes(16), bytes(15))
    # a block that decrypts to bytes ending in 0x00 is never valid PKCS#7
    block = sm4_cbc_encrypt(SM4_KEY, bytes(16), bytes(16), pad=False)
    with pytest.raises(CryptoError, match="padding"):
        sm4_cbc_decrypt(SM4_KEY, bytes(16), block)


@pytest.mark.parametrize(
    ("encrypt", "decrypt", "key"),
    [
        (sm4_gcm_encrypt, sm4_gcm_decrypt, SM4_KEY),
        (aes_gcm_encrypt, aes_gcm_decrypt, bytes(range(32))),
    ],
    ids=["sm4-gcm", "aes-gcm"],
)
def test_gcm_round_trip_and_tamper(encrypt: object, decrypt: object, key: bytes) -> None:
    nonce = os.urandom(12)
    plaintext = b"private key material"
    ciphertext = encrypt(key, nonce, plaintext, b"bound")  # type: ignore[operator]
    assert len(ciphertext) == len(plaintext) + 16
    assert decrypt(key, nonce, ciphertext, b"bound") == plaintext  # type: ignore[operator]
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    for bad_args in (
        (key, nonce, tampered, b"bound"),
        (key, nonce, ciphertext, b"other"),
        (key, os.urandom(12), ciphertext, b"bound"),
        (bytes(len(key)), nonce, ciphertext, b"bound"),
        (key, nonce, ciphertext[:10], b"bound"),
    ):
        with pytest.raises(CryptoError):
            decrypt(*bad_args)  # type: ignore[operator]


def test_sm4_gcm_rfc8998_vector() -> None:
    # SM4-GCM test vector from RFC 8998 appendix A.1
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    expected = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert sm4_gcm_encrypt(key, nonce, plaintext, aad) == expected
    assert aead_decrypt(SM4, key, nonce, expected, aad) == plaintext


def test_aead_dispatch() -> None:
    nonce = os.urandom(12)
    ciphertext = aead_encrypt(AES_GCM, bytes(32), nonce, b"x")
    assert aead_decrypt(AES_GCM, bytes(32), nonce, ciphertext) == b"x"
    with pytest.raises(CryptoError):
        aes_gcm_encrypt(bytes(15), nonce, b"x")
