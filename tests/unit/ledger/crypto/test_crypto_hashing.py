"""Hash functions against the standard test vectors."""

import pytest

from ledger.crypto.hashing import hash_digest, hash_raw, hasher, sm3_implementation
from ledger.crypto.registry import ED25519, RIPEMD160, SHA256, SM3, CryptoAlgorithm
from ledger.errors import CryptoError


@pytest.mark.parametrize(
    ("algorithm", "message", "digest"),
    [
        # GB/T 32905-2016 examples 1 and 2
        (SM3, b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (SM3, b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
        # FIPS 180-2 examples
        (SHA256, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (SHA256, b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            SHA256,
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (RIPEMD160, b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
        (RIPEMD160, b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
    ],
)
def test_vectors(algorithm: CryptoAlgorithm, message: bytes, digest: str) -> None:
    assert hash_raw(algorithm, message).hex() == digest
    assert hasher(algorithm)(message).hex() == digest


def test_fast_sm3_matches_reference_implementations() -> None:
    from gmssl import func, sm3
    from tongsuopy.crypto import hashes

    sm3_fast = hasher(SM3)
    for size in (0, 1, 55, 56, 63, 64, 65, 1000):
        data = bytes((i * 7 + size) % 256 for i in range(size))
        context = hashes.Hash(hashes.SM3())
        context.update(data)
        assert sm3_fast(data) == context.finalize()
        assert sm3_fast(data).hex() == sm3.sm3_hash(func.bytes_to_list(data))
    assert sm3_implementation() in ("hashlib-openssl", "tongsuopy")


def test_hasher_is_reusable_and_stateless() -> None:
    sm3_fast = hasher(SM3)
    first = sm3_fast(b"a")
    sm3_fast(b"something else")
    assert sm3_fast(b"a") == first


def test_digest_carries_code() -> None:
    assert hash_digest(SM3, b"abc") == b"\x20\x03" + hash_raw(SM3, b"abc")
    assert hash_digest(SHA256, b"abc")[:2] == b"\x20\x18"


def test_non_hash_algorithm_rejected() -> None:
    with pytest.raises(CryptoError):
        hash_raw(ED25519, b"abc")
