"""JD Chain addresses: derivation and every way a bad address is caught."""

import hashlib

import pytest

from ledger.crypto.address import (
    ADDRESS_VERSION,
    address_from_public_key,
    decode_address,
    validate_address,
)
from ledger.crypto.encoding import from_base58, to_base58
from ledger.crypto.keys import PrivateKey, generate_keypair, keypair_from_private
from ledger.crypto.registry import ED25519, SIGNATURE_ALGORITHMS, SM3, CryptoAlgorithm
from ledger.errors import InvalidAddress


def _with_checksum(payload: bytes) -> str:
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return to_base58(payload + checksum)


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS, ids=lambda a: a.name)
def test_round_trip(algorithm: CryptoAlgorithm) -> None:
    pair = generate_keypair(algorithm)
    address = address_from_public_key(pair.public)
    assert validate_address(address) == address
    decoded_algorithm, key_hash = decode_address(address)
    assert decoded_algorithm == algorithm
    expected_hash = hashlib.new("ripemd160", hashlib.sha256(pair.public.raw).digest()).digest()
    assert key_hash == expected_hash
    data = from_base58(address)
    assert len(data) == 27 and data[0] == ADDRESS_VERSION
    assert data[1:3] == algorithm.code.to_bytes(2, "big")


def test_known_ed25519_address_layout() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = keypair_from_private(PrivateKey(ED25519, seed)).public
    payload = (
        b"\x91\x41\x15"
        + hashlib.new("ripemd160", hashlib.sha256(public.raw).digest()).digest()
    )
    assert address_from_public_key(public) == _with_checksum(payload)
    # JD Chain Ed25519 addresses start with "Ld"
    assert address_from_public_key(public).startswith("Ld")


def test_rejections_say_why() -> None:
    address = address_from_public_key(generate_keypair(ED25519).public)
    data = from_base58(address)
    cases = {
        "not base58": address[:5] + "0" + address[6:],
        "decodes to 26 bytes": to_base58(data[:-1]),
        "decodes to 28 bytes": to_base58(data + b"\x00"),
        "version byte": _with_checksum(b"\x92" + data[1:-4]),
        "unknown algorithm": _with_checksum(data[:1] + b"\x41\x99" + data[3:-4]),
        "not a signature algorithm": _with_checksum(
            data[:1] + SM3.code.to_bytes(2, "big") + data[3:-4]
        ),
        "checksum": to_base58(data[:-1] + bytes([data[-1] ^ 1])),
        "empty": "",
    }
    for reason, bad in cases.items():
        with pytest.raises(InvalidAddress, match=reason.strip()):
            validate_address(bad)
    with pytest.raises(InvalidAddress):
        validate_address(None)  # type: ignore[arg-type]


def test_mistyped_characters_are_caught() -> None:
    address = address_from_public_key(generate_keypair(ED25519).public)
    swapped = address[:10] + address[11] + address[10] + address[12:]
    if swapped != address:
        with pytest.raises(InvalidAddress):
            validate_address(swapped)
    replacement = "2" if address[20] != "2" else "3"
    with pytest.raises(InvalidAddress):
        validate_address(address[:20] + replacement + address[21:])
