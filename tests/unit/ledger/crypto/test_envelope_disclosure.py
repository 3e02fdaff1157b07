"""Disclosures checked offline against in-memory ledgers, as a forger would attack them.

The honest ledger holds a private record; the forger has a ledger of his own (his genesis, his
validators, his certificates) holding a record with the value he wants, and a perfectly valid
opening for it. Pinned to the honest ledger hash, only the honest disclosure passes. The CLI
(``jadechain verify --disclosure``) runs as a separate process and is judged by exit status.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.certificate import assemble_certificate, sign_commit_statement
from ledger.crypto import SM2, KeyPair, generate_keypair, sign, to_base58
from ledger.errors import ProofError
from ledger.ledger import Ledger
from ledger.private import GradeSpec, encode_private_record, make_disclosure, open_grade, seal_record, verify_disclosure
from ledger.proofs import build_entry_bundle, build_transaction_bundle
from ledger.store.memory import MemoryStore
from ledger.values import TypedValue
from tests.unit.ledger.ledger_testkit import Chain, make_chain, make_genesis, seeded_keypair

REPO = Path(__file__).resolve().parents[4]
READER = generate_keypair(SM2)


def certify(chain: Chain, signers: list[KeyPair]) -> None:
    for height in range(1, chain.ledger.height + 1):
        if chain.ledger.get_certificate(height) is not None:
            continue
        header_hash = chain.ledger.hash_header(chain.ledger.get_header(height))
        signatures = [sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                            chain.ledger.ledger_hash, height, header_hash, 0) for p in signers]
        chain.ledger.put_certificate(assemble_certificate(chain.ledger.ledger_hash, height, header_hash, 0, signatures))


def write_private(chain: Chain, diagnosis: str) -> tuple[str, dict[str, Any]]:
    """A private record and a plain entry on ``chain``; returns the account and a disclosure of the diagnosis."""
    account = chain.new_data_account("patient")
    record = seal_record(account=account, key="visit", hash_algorithm=chain.ledger.hash_algorithm, grades=[
        GradeSpec("partner", {"diagnosis": diagnosis, "cost": 320}, [READER.public]),
        GradeSpec("owner", {"notes": "private notes"}, [READER.public]),
    ])
    value = TypedValue.bytes_(encode_private_record(record))
    chain.commit(chain.tx(lambda b: b.kv_set(account, "visit", value, -1).kv_set(account, "plain", b"\x01\x02", -1)))
    chain.commit()
    chain.commit()
    opened = open_grade(record, "partner", READER.private, account=account, key="visit")
    return account, opened  # type: ignore[return-value]


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    honest = make_chain()
    account, opened = write_private(honest, "J45.901")
    certify(honest, honest.founders[:3])
    forgers = [seeded_keypair(f"forger-{i}") for i in range(4)]
    fake = Chain(Ledger.create(MemoryStore(), make_genesis(forgers)), forgers)
    fake_account, fake_opened = write_private(fake, "healthy")
    certify(fake, forgers)

    def disclosure(chain: Chain, account: str, opened: Any, key: str = "visit", field: str = "diagnosis") -> dict[str, Any]:
        bundle = json.loads(json.dumps(build_entry_bundle(chain.ledger, account, key)))
        return make_disclosure(bundle, opened, field)

    return {
        "ledger_hash": to_base58(honest.ledger.ledger_hash),
        "honest": disclosure(honest, account, opened),
        "forged_ledger": disclosure(fake, fake_account, fake_opened),
        "plain": {**disclosure(honest, account, opened), "bundle": json.loads(json.dumps(
            build_entry_bundle(honest.ledger, account, "plain")))},
        "tx_bundle": {**disclosure(honest, account, opened), "bundle": json.loads(json.dumps(build_transaction_bundle(
            honest.ledger, honest.ledger.get_entry(account, "visit").tx_hash)))},
    }


def test_the_honest_disclosure_verifies(world: dict[str, Any]) -> None:
    report = verify_disclosure(world["honest"], ledger_hash=world["ledger_hash"])
    assert (report.key, report.grade, report.field, report.value) == ("visit", "partner", "diagnosis", "J45.901")
    assert any("opens its commitment" in check for check in report.checks)
    assert "private notes" not in json.dumps(world["honest"]) and "320" not in json.dumps(world["honest"]["value"])


def flip_last_byte(hex_text: str) -> str:
    return hex_text[:-2] + f"{int(hex_text[-2:], 16) ^ 0x01:02x}"


def forgeries(world: dict[str, Any]) -> dict[str, Any]:
    honest = world["honest"]
    made: dict[str, Any] = {
        "a valid opening on the forger's own ledger": world["forged_ledger"],
        "a plain entry's bundle": world["plain"],
        "a transaction bundle": world["tx_bundle"],
        "not a disclosure": {"format": "something-else"},
        "a list": [],
    }
    for name, change in {
        "another value": lambda d: d.update(value="healthy"),
        "the value as a float": lambda d: d.update(value=1.0),
        "another salt": lambda d: d.update(salt="11" * 32),
        "a short salt": lambda d: d.update(salt="11"),
        "salt not hex": lambda d: d.update(salt="zz"),
        "another field": lambda d: d.update(field="cost"),
        "another grade": lambda d: d.update(grade="owner"),
        "no value": lambda d: d.pop("value"),
        "an edited record": lambda d: d["bundle"].update(record=flip_last_byte(d["bundle"]["record"])),
        "a dropped certificate": lambda d: d["bundle"]["header"].pop("certificate"),
        "another header": lambda d: d["bundle"]["header"].update(encoded=flip_last_byte(d["bundle"]["header"]["encoded"])),
    }.items():
        forged = copy.deepcopy(honest)
        change(forged)
        made[name] = forged
    return made


def test_every_forgery_is_refused(world: dict[str, Any]) -> None:
    for name, forged in forgeries(world).items():
        with pytest.raises(ProofError):
            verify_disclosure(forged, ledger_hash=world["ledger_hash"])
            pytest.fail(f"accepted: {name}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "jadechain.cli", "verify", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_the_cli_accepts_the_honest_disclosure_and_refuses_forgeries(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "disclosure.json"
    path.write_text(json.dumps(world["honest"]))
    ok = cli("--disclosure", str(path), "--ledger", world["ledger_hash"])
    assert ok.returncode == 0 and "VALID" in ok.stdout and "J45.901" in ok.stdout, ok.stdout + ok.stderr
    for name in ("a valid opening on the forger's own ledger", "another value", "an edited record"):
        path.write_text(json.dumps(forgeries(world)[name]))
        refused = cli("--disclosure", str(path), "--ledger", world["ledger_hash"], "--json")
        assert refused.returncode == 1, name
        assert json.loads(refused.stdout) == {"valid": False, "code": "PROOF_INVALID",
                                              "message": json.loads(refused.stdout)["message"]}


def test_the_cli_needs_a_pin_and_readable_input(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "disclosure.json"
    path.write_text(json.dumps(world["honest"]))
    unpinned = cli("--disclosure", str(path))
    assert unpinned.returncode == 2 and "TRUST_ANCHOR_REQUIRED" in unpinned.stderr
    missing = cli("--disclosure", str(tmp_path / "nope.json"), "--ledger", world["ledger_hash"])
    assert missing.returncode == 1 and "PROOF_INVALID" in missing.stderr
    path.write_text("{not json")
    garbled = cli("--disclosure", str(path), "--ledger", world["ledger_hash"])
    assert garbled.returncode == 1 and "PROOF_INVALID" in garbled.stderr
    nothing = cli()
    assert nothing.returncode == 2
