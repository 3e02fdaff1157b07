"""Properties of the crypto codecs, addresses and signatures over generated inputs."""

import pytest
from base58 import BITCOIN_ALPHABET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto.address import address_from_public_key, validate_address
from ledger.crypto.encoding import (
    decode_crypto_bytes,
    encode_crypto_bytes,
    from_base58,
    to_base58,
)
from ledger.crypto.keys import PrivateKey, generate_keypair, keypair_from_private, sign, verify
from ledger.crypto.registry import (
    ED25519,
    HASH_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    CryptoAlgorithm,
)
from ledger.errors import InvalidAddress

ALPHABET = BITCOIN_ALPHABET.decode("ascii")
_DIGEST_SIZES = {"SM3": 32, "SHA256": 32, "RIPEMD160": 20}
_PAIRS = {algorithm: generate_keypair(algorithm) for algorithm in SIGNATURE_ALGORITHMS}


@st.composite
def hash_values(draw: st.DrawFn) -> tuple[CryptoAlgorithm, bytes]:
    algorithm = draw(st.sampled_from(HASH_ALGORITHMS))
    size = _DIGEST_SIZES[algorithm.name]
    return algorithm, draw(st.binary(min_size=size, max_size=size))


@given(hash_values())
def test_encode_decode_round_trip(value: tuple[CryptoAlgorithm, bytes]) -> None:
    algorithm, raw = value
    encoded = encode_crypto_bytes(algorithm, raw)
    assert decode_crypto_bytes(encoded) == (algorithm, raw)
    assert from_base58(to_base58(encoded)) == encoded


@given(st.sampled_from(SIGNATURE_ALGORITHMS), st.binary(min_size=64, max_size=64))
def test_signature_encoding_round_trip(algorithm: CryptoAlgorithm, raw: bytes) -> None:
    assert decode_crypto_bytes(encode_crypto_bytes(algorithm, raw), kind="signature") == (
        algorithm,
        raw,
    )


@given(st.binary(min_size=1, max_size=100))
def test_base58_round_trip(data: bytes) -> None:
    assert from_base58(to_base58(data)) == data


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=32, max_size=32))
def test_address_checksum_catches_every_single_character_substitution(seed: bytes) -> None:
    public = keypair_from_private(PrivateKey(ED25519, seed)).public
    address = address_from_public_key(public)
    assert validate_address(address) == address
    for position, original in enumerate(address):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            mistyped = address[:position] + replacement + address[position + 1 :]
            with pytest.raises(InvalidAddress):
                validate_address(mistyped)


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS, ids=lambda a: a.name)
@settings(max_examples=30, deadline=None)
@given(message=st.binary(max_size=512), other=st.binary(max_size=512))
def test_sign_verify_random_messages(
    algorithm: CryptoAlgorithm, message: bytes, other: bytes
) -> None:
    pair = _PAIRS[algorithm]
    signature = sign(pair.private, message)
    assert verify(pair.public, message, signature)
    assert verify(pair.public, other, signature) == (other == message)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(SIGNATURE_ALGORITHMS), st.binary(max_size=80))
def test_verify_never_raises_on_garbage(algorithm: CryptoAlgorithm, garbage: bytes) -> None:
    assert verify(_PAIRS[algorithm].public, b"message", garbage) is False


@given(st.integers(min_value=0, max_value=40), st.binary(max_size=80))
def test_base58_text_is_the_reference_encoders(zeros: int, data: bytes) -> None:
    """The node's fast base58 gives the text the base58 package gives (leading zero bytes too)."""
    import base58

    raw = b"\0" * zeros + data
    assert to_base58(raw) == base58.b58encode(raw).decode("ascii")
