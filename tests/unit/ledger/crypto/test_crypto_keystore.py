"""Password-encrypted keystores: round trips, wrong passwords and tampering."""

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ledger.crypto.address import address_from_public_key
from ledger.crypto.keys import KeyPair, generate_keypair
from ledger.crypto.keystore import (
    decrypt_private_key,
    encrypt_private_key,
    load_keystore,
    save_keystore,
)
from ledger.crypto.registry import ECDSA_P256, ED25519, SIGNATURE_ALGORITHMS, SM2, CryptoAlgorithm
from ledger.errors import KeystoreError, WrongPassword

FAST = {"scrypt_n": 2**10}  # tests only: the default n=2**15 is what makes guessing slow
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return generate_keypair(SM2)


@pytest.fixture(scope="module")
def document(pair: KeyPair) -> dict[str, Any]:
    return encrypt_private_key(pair.private, PASSWORD, **FAST)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS, ids=lambda a: a.name)
@pytest.mark.parametrize("cipher", ["SM4-GCM", "AES-256-GCM"])
def test_round_trip(algorithm: CryptoAlgorithm, cipher: str) -> None:
    keys = generate_keypair(algorithm)
    doc = encrypt_private_key(
        keys.private, PASSWORD, cipher=cipher, **FAST  # type: ignore[arg-type]
    )
    assert decrypt_private_key(doc, PASSWORD) == keys.private
    assert doc["algorithm"] == algorithm.name
    assert doc["public_key"] == keys.public.base58
    assert doc["address"] == address_from_public_key(keys.public)
    assert doc["cipher"]["name"] == cipher
    assert keys.private.raw.hex() not in json.dumps(doc)


def test_document_layout_and_defaults(pair: KeyPair) -> None:
    doc = encrypt_private_key(pair.private, PASSWORD)  # default scrypt n=2**15, SM4-GCM
    assert doc["version"] == 1
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["n"] == 2**15
    assert doc["kdf"]["r"] == 8 and doc["kdf"]["p"] == 1 and len(doc["kdf"]["salt"]) == 32
    assert doc["cipher"]["name"] == "SM4-GCM" and len(doc["cipher"]["nonce"]) == 24
    assert decrypt_private_key(doc, PASSWORD) == pair.private


def test_pbkdf2(pair: KeyPair) -> None:
    doc = encrypt_private_key(pair.private, PASSWORD, kdf="pbkdf2-sha256", pbkdf2_iterations=1000)
    assert doc["kdf"]["name"] == "pbkdf2-sha256" and doc["kdf"]["iterations"] == 1000
    assert decrypt_private_key(doc, PASSWORD) == pair.private
    with pytest.raises(WrongPassword):
        decrypt_private_key(doc, "nope")


def test_password_normalisation(pair: KeyPair) -> None:
    doc = encrypt_private_key(pair.private, "caf\u00e9", **FAST)  # type: ignore[arg-type]
    assert decrypt_private_key(doc, "cafe\u0301") == pair.private
    assert decrypt_private_key(doc, "caf\u00e9".encode()) == pair.private


def test_wrong_password(document: dict[str, Any]) -> None:
    with pytest.raises(WrongPassword) as raised:
        decrypt_private_key(document, PASSWORD + "!")
    assert raised.value.code == "WRONG_PASSWORD"
    with pytest.raises(WrongPassword):
        decrypt_private_key(document, "")


def _tampered(document: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def test_tampered_documents(document: dict[str, Any]) -> None:
    ciphertext = bytes.fromhex(document["ciphertext"])
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    nonce = bytes.fromhex(document["cipher"]["nonce"])
    other = generate_keypair(SM2)
    other_ed = generate_keypair(ED25519)
    cases: list[tuple[tuple[str, ...], object]] = [
        (("ciphertext",), flipped.hex()),
        (("ciphertext",), ciphertext[:-1].hex()),
        (("ciphertext",), "zz"),
        (("cipher", "nonce"), bytes([nonce[0] ^ 1]).hex() + nonce[1:].hex()),
        (("cipher", "name"), "DES"),
        (("public_key",), other.public.base58),
        (("public_key",), "garbage!"),
        (("algorithm",), "ED25519"),
        (("algorithm",), "RSA"),
        (("address",), address_from_public_key(other_ed.public)),
        (("version",), 2),
        (("kdf", "name"), "argon2"),
        (("kdf", "n"), 2**40),
        (("kdf", "n"), 1000),
        (("kdf", "n"), 2**20),  # with r=8 that is 1 GiB: refused before running
        (("kdf", "salt"), "not hex"),
    ]
    for path, value in cases:
        with pytest.raises(KeystoreError) as raised:
            decrypt_private_key(_tampered(document, path, value), PASSWORD)
        assert not isinstance(raised.value, WrongPassword), path
    broken_documents: list[object] = [{}, [], "text", {"version": 1}]
    for broken in broken_documents:
        with pytest.raises(KeystoreError):
            decrypt_private_key(broken, PASSWORD)  # type: ignore[arg-type]


def test_save_and_load(tmp_path: Path, pair: KeyPair, document: dict[str, Any]) -> None:
    path = tmp_path / "node.keystore.json"
    save_keystore(path, document)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keystore(path) == document
    assert decrypt_private_key(load_keystore(path), PASSWORD) == pair.private
    # overwriting is atomic and leaves no temporary files behind
    other_key = generate_keypair(ECDSA_P256).private
    other = encrypt_private_key(other_key, PASSWORD, **FAST)  # type: ignore[arg-type]
    save_keystore(path, other)
    assert load_keystore(path) == other
    assert os.listdir(tmp_path) == ["node.keystore.json"]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="does not exist"):
        load_keystore(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(KeystoreError):
        load_keystore(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(KeystoreError, match="not a JSON object"):
        load_keystore(tmp_path / "list.json")
