"""Keys, signing and verification for Ed25519, SM2 and ECDSA P-256."""

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gmssl import sm2 as gmssl_sm2

from ledger.crypto._schemes import P256_ORDER, SM2_ORDER
from ledger.crypto.encoding import encode_crypto_bytes
from ledger.crypto.keys import (
    KeyPair,
    PrivateKey,
    PublicKey,
    generate_keypair,
    keypair_from_private,
    sign,
    verify,
)
from ledger.crypto.registry import (
    ECDSA_P256,
    ED25519,
    SHA256,
    SIGNATURE_ALGORITHMS,
    SM2,
    SM3,
    CryptoAlgorithm,
)
from ledger.errors import CryptoError, InvalidKey

MESSAGE = b"transfer 100 from alice to bob"
RAW_SIZES = {ED25519: (32, 32), SM2: (65, 32), ECDSA_P256: (65, 32)}


@pytest.fixture(scope="module", params=SIGNATURE_ALGORITHMS, ids=lambda a: a.name)
def keypair(request: pytest.FixtureRequest) -> KeyPair:
    algorithm: CryptoAlgorithm = request.param
    return generate_keypair(algorithm)


def test_raw_formats(keypair: KeyPair) -> None:
    public_size, private_size = RAW_SIZES[keypair.algorithm]
    assert len(keypair.public.raw) == public_size
    assert len(keypair.private.raw) == private_size
    signature = sign(keypair.private, MESSAGE)
    assert len(signature) == 2 + 64
    assert signature[:2] == keypair.algorithm.code.to_bytes(2, "big")
    if keypair.algorithm != ED25519:
        assert keypair.public.raw[0] == 4


def test_sign_and_verify(keypair: KeyPair) -> None:
    signature = sign(keypair.private, MESSAGE)
    assert verify(keypair.public, MESSAGE, signature)
    assert verify(keypair.public, b"", sign(keypair.private, b""))


def test_tampered_message_signature_or_key_fails(keypair: KeyPair) -> None:
    signature = sign(keypair.private, MESSAGE)
    assert not verify(keypair.public, MESSAGE + b"!", signature)
    assert not verify(keypair.public, b"T" + MESSAGE[1:], signature)
    for position in (2, 20, 40, len(signature) - 1):
        flipped = bytearray(signature)
        flipped[position] ^= 0x01
        assert not verify(keypair.public, MESSAGE, bytes(flipped))
    other = generate_keypair(keypair.algorithm)
    assert not verify(other.public, MESSAGE, signature)


def test_wrong_algorithm_and_garbage_signatures_return_false(keypair: KeyPair) -> None:
    signature = sign(keypair.private, MESSAGE)
    for algorithm in SIGNATURE_ALGORITHMS:
        if algorithm != keypair.algorithm:
            relabelled = encode_crypto_bytes(algorithm, signature[2:])
            assert not verify(keypair.public, MESSAGE, relabelled)
            foreign = sign(generate_keypair(algorithm).private, MESSAGE)
            assert not verify(keypair.public, MESSAGE, foreign)
    garbage: list[object] = [
        b"", b"\x00", signature[:2], signature[:-1], signature + b"\x00", bytes(66),
        b"\xff" * 66, signature[:2] + bytes(64), signature[:2] + b"\xff" * 64,
        encode_crypto_bytes(SM3, bytes(32)), None, "text", 12345,
    ]
    for bad in garbage:
        assert verify(keypair.public, MESSAGE, bad) is False  # type: ignore[arg-type]
    assert verify(keypair.public, None, signature) is False  # type: ignore[arg-type]


def test_keypair_from_private_and_encodings(keypair: KeyPair) -> None:
    assert keypair_from_private(keypair.private) == keypair
    assert PublicKey.from_encoded(keypair.public.encoded) == keypair.public
    assert PublicKey.from_base58(keypair.public.base58) == keypair.public
    assert PrivateKey.from_encoded(keypair.private.encoded) == keypair.private
    assert hash(PrivateKey.from_encoded(keypair.private.encoded)) == hash(keypair.private)


def test_private_key_never_printed(keypair: KeyPair) -> None:
    secret_hex = keypair.private.raw.hex()
    for text in (repr(keypair.private), str(keypair.private), repr(keypair), str(keypair)):
        assert secret_hex not in text
        assert str(keypair.private.raw) not in text
        assert "secret" in text


def test_ed25519_rfc8032_vector() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pair = keypair_from_private(PrivateKey(ED25519, seed))
    assert pair.public.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    signature = sign(pair.private, b"")
    assert signature[2:].hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065"
        "224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert verify(pair.public, b"", signature)


def test_ecdsa_signatures_are_low_s_and_high_s_twin_rejected() -> None:
    pair = generate_keypair(ECDSA_P256)
    for index in range(16):
        message = MESSAGE + bytes([index])
        signature = sign(pair.private, message)
        r = int.from_bytes(signature[2:34], "big")
        s = int.from_bytes(signature[34:], "big")
        assert s <= P256_ORDER // 2
        twin = signature[:34] + (P256_ORDER - s).to_bytes(32, "big")
        assert verify(pair.public, message, signature)
        assert not verify(pair.public, message, twin)
        # the standard library accepts the same signature: plain ECDSA-SHA256 over P-256
        library_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pair.public.raw)
        library_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))


def _gmssl(pair: KeyPair) -> gmssl_sm2.CryptSM2:
    engine = gmssl_sm2.CryptSM2(private_key=pair.private.raw.hex(), public_key="")
    # set after construction: gmssl's constructor lstrip("04")s the key, mangling some X values
    engine.public_key = pair.public.raw[1:].hex()
    return engine


def test_sm2_interoperates_with_gmssl_both_ways() -> None:
    pair = generate_keypair(SM2)
    engine = _gmssl(pair)
    # ours -> gmssl
    for message in (MESSAGE, b"", b"x" * 1000):
        signature = sign(pair.private, message)
        assert engine.verify_with_sm3(signature[2:].hex(), message)
        assert not engine.verify_with_sm3(signature[2:].hex(), message + b"?")
    # gmssl -> ours
    for message in (MESSAGE, b"abc"):
        gm_signature = bytes.fromhex(engine.sign_with_sm3(message))
        assert len(gm_signature) == 64
        assert verify(pair.public, message, encode_crypto_bytes(SM2, gm_signature))
        assert not verify(pair.public, message + b"?", encode_crypto_bytes(SM2, gm_signature))


def test_sm2_public_key_derivation_matches_gmssl() -> None:
    pair = generate_keypair(SM2)
    engine = _gmssl(pair)
    point = engine._kg(int(pair.private.raw.hex(), 16), engine.ecc_table["g"])
    assert point == pair.public.raw[1:].hex()


def test_invalid_public_keys_rejected() -> None:
    pair = generate_keypair(SM2)
    x, y = pair.public.raw[1:33], pair.public.raw[33:]
    off_curve = b"\x04" + x + (int.from_bytes(y, "big") ^ 1).to_bytes(32, "big")
    with pytest.raises(InvalidKey):
        PublicKey(SM2, off_curve)
    with pytest.raises(InvalidKey):
        PublicKey(SM2, b"\x02" + x + y)
    with pytest.raises(InvalidKey):
        PublicKey(SM2, pair.public.raw[:-1])
    # a valid SM2 point is not a P-256 point
    with pytest.raises(InvalidKey):
        PublicKey(ECDSA_P256, pair.public.raw)
    with pytest.raises(InvalidKey):
        PublicKey(ECDSA_P256, bytes(65))
    # the Ed25519 identity (small order) and a non-decodable point
    with pytest.raises(InvalidKey):
        PublicKey(ED25519, b"\x01" + bytes(31))
    with pytest.raises(InvalidKey):
        PublicKey(ED25519, bytes(33))
    with pytest.raises(InvalidKey):
        PublicKey(SHA256, bytes(32))
    with pytest.raises(InvalidKey):
        PublicKey.from_encoded(encode_crypto_bytes(SHA256, bytes(32)))
    with pytest.raises(CryptoError):
        PublicKey.from_base58("not-base58!")


def test_invalid_private_keys_rejected() -> None:
    with pytest.raises(InvalidKey):
        PrivateKey(SM2, bytes(32))
    with pytest.raises(InvalidKey):
        PrivateKey(SM2, (SM2_ORDER - 1).to_bytes(32, "big"))
    with pytest.raises(InvalidKey):
        PrivateKey(ECDSA_P256, P256_ORDER.to_bytes(32, "big"))
    with pytest.raises(InvalidKey):
        PrivateKey(ED25519, bytes(31))
    with pytest.raises(InvalidKey):
        generate_keypair(SM3)
