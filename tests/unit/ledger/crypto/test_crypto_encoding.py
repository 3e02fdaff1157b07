"""code ‖ raw encoding and base58."""

import pytest

from ledger.crypto.encoding import (
    decode_crypto_bytes,
    encode_crypto_bytes,
    from_base58,
    to_base58,
)
from ledger.crypto.registry import ED25519, HASH, SHA256, SIGNATURE, SM2, SM3
from ledger.errors import CryptoError, InvalidKey, UnknownAlgorithm


def test_encode_prefixes_big_endian_code() -> None:
    assert encode_crypto_bytes(SM3, b"\x01" * 32) == b"\x20\x03" + b"\x01" * 32
    assert encode_crypto_bytes(SM2, b"\x04" * 65)[:2] == b"\xc1\x02"


def test_decode_round_trip_and_checks() -> None:
    encoded = encode_crypto_bytes(SHA256, bytes(range(32)))
    assert decode_crypto_bytes(encoded) == (SHA256, bytes(range(32)))
    assert decode_crypto_bytes(encoded, HASH) == (SHA256, bytes(range(32)))
    with pytest.raises(CryptoError, match="not a signature"):
        decode_crypto_bytes(encoded, SIGNATURE)
    with pytest.raises(CryptoError, match="must be 32 bytes"):
        decode_crypto_bytes(encoded[:-1])
    with pytest.raises(CryptoError, match="too short"):
        decode_crypto_bytes(b"\x20")
    with pytest.raises(UnknownAlgorithm):
        decode_crypto_bytes(b"\x12\x34" + bytes(32))


def test_decode_by_kind() -> None:
    signature = encode_crypto_bytes(ED25519, bytes(64))
    assert decode_crypto_bytes(signature, SIGNATURE, kind="signature")[1] == bytes(64)
    with pytest.raises(CryptoError, match="public key must be 32 bytes"):
        decode_crypto_bytes(signature, SIGNATURE, kind="public_key")
    # without a kind, any size the algorithm produces is accepted, others are not
    assert decode_crypto_bytes(encode_crypto_bytes(ED25519, bytes(32)))[1] == bytes(32)
    with pytest.raises(CryptoError):
        decode_crypto_bytes(encode_crypto_bytes(ED25519, bytes(33)))


def test_base58() -> None:
    assert to_base58(b"hello world") == "StV1DL6CwTryKyV"
    assert from_base58("StV1DL6CwTryKyV") == b"hello world"
    assert from_base58(to_base58(b"\x00\x00\x01")) == b"\x00\x00\x01"
    for bad in ("0abc", "abcO", "abIc", "abl", "ab c", ""):
        with pytest.raises(InvalidKey):
            from_base58(bad)
