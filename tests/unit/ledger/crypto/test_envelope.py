"""Envelopes (data keys wrapped per reader), checked against independent implementations.

SM2 encryption interoperates with gmssl in the GB/T 32918.4-2016 order C1‖C3‖C2 both ways
(gmssl's ``mode=1``; gmssl writes C1 as x‖y without the 04 prefix, the only difference);
the GM/T 0009 DER form is checked with pycryptodome's DER parser; the Ed25519 envelope is a
libsodium sealed box that PyNaCl's high-level ``SealedBox`` opens and produces.
"""

from __future__ import annotations

import pytest
from Cryptodome.Util.asn1 import DerOctetString, DerSequence
from gmssl import sm2 as gmssl_sm2
from nacl.public import SealedBox
from nacl.signing import SigningKey

from ledger.crypto import ECDSA_P256, ED25519, SM2, KeyPair, generate_keypair
from ledger.crypto.envelope import (
    ecies_p256_decrypt,
    ecies_p256_encrypt,
    sm2_ciphertext_from_der,
    sm2_ciphertext_to_der,
    sm2_decrypt,
    sm2_encrypt,
    unwrap_key,
    wrap_key,
)
from ledger.errors import CryptoError

ALGORITHMS = [SM2, ED25519, ECDSA_P256]


def gmssl_friendly_sm2_key() -> KeyPair:
    """gmssl strips leading '0'/'4' hex digits of a key that starts with "04" (``str.lstrip``):
    give it x‖y whose hex does not start with "04" so that quirk cannot garble the key."""
    while True:
        pair = generate_keypair(SM2)
        if not pair.public.raw[1:].hex().startswith("04"):
            return pair


def gmssl_cipher(pair: KeyPair) -> gmssl_sm2.CryptSM2:
    return gmssl_sm2.CryptSM2(private_key=pair.private.raw.hex(), public_key=pair.public.raw[1:].hex(), mode=1)


@pytest.mark.parametrize("size", [1, 16, 32, 100])
def test_sm2_ours_encrypts_and_gmssl_decrypts(size: int) -> None:
    pair = gmssl_friendly_sm2_key()
    message = bytes(range(size))
    ciphertext = sm2_encrypt(pair.public.raw, message)
    assert len(ciphertext) == 65 + 32 + size and ciphertext[0] == 0x04
    assert gmssl_cipher(pair).decrypt(ciphertext[1:]) == message


@pytest.mark.parametrize("size", [1, 16, 32, 100])
def test_gmssl_encrypts_and_ours_decrypts(size: int) -> None:
    pair = gmssl_friendly_sm2_key()
    message = bytes(reversed(range(size)))
    theirs = gmssl_cipher(pair).encrypt(message)
    assert sm2_decrypt(pair.private.raw, b"\x04" + theirs) == message


def test_the_old_c1c2c3_order_is_refused_not_misread() -> None:
    pair = gmssl_friendly_sm2_key()
    old_order = gmssl_sm2.CryptSM2(private_key=pair.private.raw.hex(), public_key=pair.public.raw[1:].hex(),
                                   mode=0).encrypt(b"sixteen byte key")
    with pytest.raises(CryptoError):
        sm2_decrypt(pair.private.raw, b"\x04" + old_order)


def test_sm2_der_form_is_gmt_0009_sm2cipher() -> None:
    pair = generate_keypair(SM2)
    raw = sm2_encrypt(pair.public.raw, b"k" * 16)
    der = sm2_ciphertext_to_der(raw)
    sequence = DerSequence()
    sequence.decode(der, strict=True)  # pycryptodome's parser, not ours
    assert len(sequence) == 4
    x, y = sequence[0], sequence[1]
    assert isinstance(x, int) and isinstance(y, int)
    c3, c2 = DerOctetString(), DerOctetString()
    c3.decode(sequence[2], strict=True)
    c2.decode(sequence[3], strict=True)
    assert raw == b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3.payload + c2.payload
    assert len(c3.payload) == 32 and len(c2.payload) == 16
    assert sm2_ciphertext_from_der(der) == raw
    # A DER built by the independent encoder converts back to the same raw ciphertext.
    rebuilt = DerSequence([x, y, DerOctetString(c3.payload), DerOctetString(c2.payload)]).encode()
    assert rebuilt == der and sm2_ciphertext_from_der(rebuilt) == raw


@pytest.mark.parametrize("bad", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"\x31\x00", b"\x30\x81\x05" + b"\x00" * 5])
def test_malformed_der_is_a_crypto_error(bad: bytes) -> None:
    with pytest.raises(CryptoError):
        sm2_ciphertext_from_der(bad)


def test_ed25519_envelope_is_a_libsodium_sealed_box_both_ways() -> None:
    pair = generate_keypair(ED25519)
    signing = SigningKey(pair.private.raw)
    ours = wrap_key(pair.public, b"data-key-0123456")
    assert SealedBox(signing.to_curve25519_private_key()).decrypt(ours) == b"data-key-0123456"
    theirs = SealedBox(signing.verify_key.to_curve25519_public_key()).encrypt(b"from pynacl side")
    assert unwrap_key(pair.private, theirs) == b"from pynacl side"


def test_ecies_p256_round_trip_and_fresh_ephemeral_each_time() -> None:
    pair = generate_keypair(ECDSA_P256)
    first, second = ecies_p256_encrypt(pair.public.raw, b"k" * 32), ecies_p256_encrypt(pair.public.raw, b"k" * 32)
    assert first != second and first[:65] != second[:65]
    assert ecies_p256_decrypt(pair.private.raw, first) == ecies_p256_decrypt(pair.private.raw, second) == b"k" * 32


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_only_the_reader_opens_and_any_tampering_is_refused(algorithm: object) -> None:
    pair, other = generate_keypair(algorithm), generate_keypair(algorithm)  # type: ignore[arg-type]
    wrapped = wrap_key(pair.public, b"0123456789abcdef")
    assert unwrap_key(pair.private, wrapped) == b"0123456789abcdef"
    with pytest.raises(CryptoError):
        unwrap_key(other.private, wrapped)
    for position in range(0, len(wrapped), 7):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(CryptoError):
            unwrap_key(pair.private, bytes(tampered))
    for cut in (0, 1, len(wrapped) - 1):
        with pytest.raises(CryptoError):
            unwrap_key(pair.private, wrapped[:cut])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_empty_or_oversized_secrets_are_refused(algorithm: object) -> None:
    pair = generate_keypair(algorithm)  # type: ignore[arg-type]
    for secret in (b"", b"x" * 1025):
        with pytest.raises(CryptoError):
            wrap_key(pair.public, secret)
