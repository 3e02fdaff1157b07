"""``import jadechain``: the flat public surface a user reads (httpx style), and that each name works."""

from __future__ import annotations

import copy
import inspect
import json
import os
import stat
import types
from pathlib import Path

import pytest

import jadechain
import ledger.errors
from ledger.crypto import ECDSA_P256, ED25519, SM2, sign, verify
from ledger.proofs import build_entry_bundle
from tests.unit.ledger.ledger_testkit import make_chain
from tests.unit.ledger.test_ledger_proofs import certify


def test_the_package_exposes_exactly_its_all() -> None:
    public = {name for name, value in vars(jadechain).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert public == set(jadechain.__all__)
    assert len(jadechain.__all__) == len(set(jadechain.__all__))
    assert list(jadechain.__all__) == sorted(jadechain.__all__)  # one name per line: merges stay clean
    for name in jadechain.__all__:
        assert getattr(jadechain, name) is not None, name


def test_every_error_of_the_tree_is_importable_from_jadechain_with_its_code() -> None:
    defined = {cls for _, cls in inspect.getmembers(ledger.errors, inspect.isclass)
               if issubclass(cls, ledger.errors.JadechainError) and cls.__module__ == "ledger.errors"}
    assert len(defined) > 40
    for cls in defined:
        assert getattr(jadechain, cls.__name__) is cls
        assert isinstance(cls.code, str) and cls.code.isupper()
    assert issubclass(jadechain.ApiError, jadechain.JadechainError)
    assert issubclass(jadechain.GatewaysUnavailable, jadechain.ApiError)
    error = jadechain.VersionConflict("expected version 3")
    assert (error.code, error.message) == ("VERSION_CONFLICT", "expected version 3")


def test_the_clients_are_the_sdk_clients() -> None:
    from jadechain.sdk import AsyncJadechainClient, JadechainClient

    assert jadechain.Client is JadechainClient and jadechain.AsyncClient is AsyncJadechainClient
    with jadechain.Client(["http://127.0.0.1:9"]) as client:  # no request is sent until one is made
        assert client is not None


@pytest.mark.parametrize("name, algorithm", [("ED25519", ED25519), ("SM2", SM2), ("ECDSA", ECDSA_P256)])
def test_generate_a_key_sign_save_and_load_it_back(tmp_path: Path, name: str, algorithm) -> None:
    key = jadechain.generate_key(name)
    assert isinstance(key, jadechain.KeyPair) and key.algorithm == algorithm
    signature = sign(key.private, b"hello")
    path = tmp_path / "alice.json"
    jadechain.save_key(path, key, "correct horse")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "correct horse" not in path.read_text() and key.private.raw.hex() not in path.read_text()
    loaded = jadechain.load_key(path, "correct horse")
    assert loaded.public == key.public
    assert verify(loaded.public, b"hello", signature)
    assert verify(key.public, b"hello", sign(loaded.private, b"hello"))
    assert not verify(loaded.public, b"hello!", signature)


def test_load_key_fails_with_stable_codes(tmp_path: Path) -> None:
    path = tmp_path / "bob.json"
    jadechain.save_key(path, jadechain.generate_key(), "right")
    with pytest.raises(jadechain.WrongPassword) as wrong:
        jadechain.load_key(path, "wrong")
    assert wrong.value.code == "WRONG_PASSWORD"
    with pytest.raises(jadechain.KeystoreError):
        jadechain.load_key(tmp_path / "missing.json", "right")
    assert jadechain.generate_key(ED25519).algorithm == ED25519
    with pytest.raises(jadechain.CryptoError):
        jadechain.generate_key("NO-SUCH-ALGORITHM")


def test_verify_checks_a_bundle_offline_and_refuses_without_a_pin() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v0", -1)))
    chain.commit()  # certifies the roots of the previous block
    certify(chain)
    bundle = json.loads(json.dumps(build_entry_bundle(chain.ledger, account, "k")))

    report = jadechain.verify(bundle, ledger_hash=chain.ledger.ledger_hash)
    assert isinstance(report, jadechain.VerificationReport)
    assert report.claim["value"]["value"] == "v0" and report.certified
    assert jadechain.verify(bundle, trusted_validators=chain.ledger.validator_set()).certified

    with pytest.raises(jadechain.TrustAnchorRequired) as unpinned:
        jadechain.verify(bundle)
    assert unpinned.value.code == "TRUST_ANCHOR_REQUIRED"
    tampered = copy.deepcopy(bundle)
    tampered["claim"]["value"]["value"] = "v9"
    with pytest.raises(jadechain.ProofError):
        jadechain.verify(tampered, ledger_hash=chain.ledger.ledger_hash)
    other_ledger = bytearray(chain.ledger.ledger_hash)
    other_ledger[-1] ^= 1
    with pytest.raises(jadechain.ProofError, match="ledger"):
        jadechain.verify(bundle, ledger_hash=bytes(other_ledger))
