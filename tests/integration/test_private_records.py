"""Private records on a real network: readers decrypt, others see ciphertext, grant, revoke, disclose.

One validator process is brought up with ``net up`` (national crypto: SM2 keys, SM3, so the
records are SM4-GCM), used through the SDK as an application would; readers hold SM2, Ed25519
and P-256 keys. Disclosures are checked offline by ``jadechain verify --disclosure`` run as a
separate process after the fact, pinned to the ledger hash.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger.crypto import AES_GCM, ECDSA_P256, ED25519, SM2, SM4, KeyPair, address_from_public_key, generate_keypair
from ledger.errors import ProofError
from ledger.private import (
    GradeSpec,
    NotAReader,
    decode_private_record,
    encode_private_record,
    grants_key,
    verify_disclosure,
)
from jadechain.sdk import JadechainClient, LedgerClient
from node.solo import load_key

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def start_network(directory: Path, crypto: str) -> Iterator[dict[str, Any]]:
    up = run("jadechain.cli.net", "net", "up", "--nodes", "1", "--crypto", crypto, "--dir", str(directory), "--json",
             "--timeout", "150")
    assert up.returncode == 0, up.stdout + up.stderr
    info = json.loads(up.stdout.strip().splitlines()[-1])
    try:
        yield info
    finally:
        run("jadechain.cli.net", "net", "down", "--dir", str(directory), "--timeout", "30")


class World:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.ledger_hash: str = info["ledger_hash"]
        password = Path(info["password_file"]).read_text().strip()
        self.owner: KeyPair = load_key(str(Path(info["keys"]) / "node0.json"), password)
        self.client = JadechainClient([info["nodes"][0]["url"]], retry_timeout=60, timeout=60)
        self.ledger: LedgerClient = self.client.ledger()
        self.account_pair = generate_keypair(SM2)
        self.account = address_from_public_key(self.account_pair.public)
        registered = self.ledger.submit(
            self.ledger.builder().register_data_account(self.account_pair.public.encoded).sign(self.owner))
        assert registered.status == "SUCCESS", registered


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for info in start_network(tmp_path_factory.mktemp("private") / "net", "sm"):
        state = World(info)
        try:
            yield state
        finally:
            state.client.close()


def put(world: World, key: str, grades: list[GradeSpec]) -> None:
    result = world.ledger.put_private(world.account, key, grades, world.owner)
    assert result.status == "SUCCESS", result


def raw_value(world: World, key: str, version: int | None = None) -> bytes:
    entry = world.ledger.get_entry(world.account, key, version)
    assert entry.value_type == "BYTES" and isinstance(entry.value, bytes)
    return entry.value


def test_a_reader_decrypts_and_a_non_reader_sees_ciphertext_only(world: World) -> None:
    sm2_reader, ed_reader, p256_reader = generate_keypair(SM2), generate_keypair(ED25519), generate_keypair(ECDSA_P256)
    outsider = generate_keypair(SM2)
    put(world, "visit-1", [
        GradeSpec("public", {"clinic": "Jade Clinic", "year": 2026}, [sm2_reader.public, ed_reader.public, p256_reader.public]),
        GradeSpec("partner", {"diagnosis": "asthma-J45.901"}, [ed_reader.public]),
        GradeSpec("owner", {"notes": "patient-confidential-note"}, []),
    ])
    for reader in (sm2_reader, ed_reader, p256_reader):
        view = world.ledger.get_private(world.account, "visit-1", reader)
        assert view.grades["public"] == {"clinic": "Jade Clinic", "year": 2026}
    ed_view = world.ledger.get_private(world.account, "visit-1", ed_reader)
    assert ed_view.grades["partner"] == {"diagnosis": "asthma-J45.901"} and ed_view.sealed == ["owner"]
    sm2_view = world.ledger.get_private(world.account, "visit-1", sm2_reader)
    assert sorted(sm2_view.sealed) == ["owner", "partner"]
    owner_view = world.ledger.get_private(world.account, "visit-1", world.owner)
    assert owner_view.grades["owner"] == {"notes": "patient-confidential-note"} and owner_view.sealed == []

    # What every member (and validator) holds: ciphertext, envelopes and commitments, never the values.
    stored = raw_value(world, "visit-1")
    for secret in (b"Jade Clinic", b"asthma-J45.901", b"patient-confidential-note"):
        assert secret not in stored
    record = decode_private_record(stored)
    assert record.cipher == SM4.code  # national-crypto ledger: SM4-GCM
    assert encode_private_record(record) == stored  # the stored bytes are the canonical form
    outsider_view = world.ledger.get_private(world.account, "visit-1", outsider)
    assert outsider_view.grades == {} and sorted(outsider_view.sealed) == ["owner", "partner", "public"]
    with pytest.raises(NotAReader):
        world.ledger.disclose(world.account, "visit-1", "diagnosis", outsider)


def test_a_revoked_reader_cannot_read_new_versions_but_keeps_old_ones(world: World) -> None:
    keep, drop = generate_keypair(ED25519), generate_keypair(SM2)
    put(world, "prices", [GradeSpec("partner", {"unit_price": 1200}, [keep.public, drop.public])])
    assert world.ledger.get_private(world.account, "prices", drop).grades["partner"] == {"unit_price": 1200}

    result = world.ledger.revoke(world.account, "prices", drop.public, world.owner)
    assert result.status == "SUCCESS", result
    latest = world.ledger.get_private(world.account, "prices", drop)
    assert latest.version == 1 and latest.grades == {} and latest.sealed == ["partner"]
    assert world.ledger.get_private(world.account, "prices", keep).grades["partner"] == {"unit_price": 1200}
    # A fresh data key: the revoked reader's old key does not open the new ciphertext either.
    old, new = decode_private_record(raw_value(world, "prices", 0)), decode_private_record(raw_value(world, "prices", 1))
    assert old.grades[0].ciphertext != new.grades[0].ciphertext
    assert drop.public.encoded not in {e.reader for e in new.grades[0].readers}
    # What was readable stays readable: revocation cannot take back version 0.
    assert world.ledger.get_private(world.account, "prices", drop, version=0).grades["partner"] == {"unit_price": 1200}

    # Revoking someone who is no longer a reader is refused, not a silent re-encryption.
    with pytest.raises(NotAReader):
        world.ledger.revoke(world.account, "prices", drop.public, world.owner)
    assert world.ledger.get_entry(world.account, "prices").version == 1
    # Later versions written by the owner keep the revoked reader out too.
    put(world, "prices", [GradeSpec("partner", {"unit_price": 1100}, [keep.public])])
    assert world.ledger.get_private(world.account, "prices", drop).sealed == ["partner"]


def test_a_grant_adds_a_reader_to_an_old_version_without_re_encryption(world: World) -> None:
    auditor = generate_keypair(ECDSA_P256)
    put(world, "evidence-7", [GradeSpec("partner", {"sha256": "ab" * 32}, []),
                              GradeSpec("public", {"kind": "contract"}, [])])
    put(world, "evidence-7", [GradeSpec("partner", {"sha256": "cd" * 32}, []),
                              GradeSpec("public", {"kind": "contract-v2"}, [])])
    before = raw_value(world, "evidence-7", 0)
    assert world.ledger.get_private(world.account, "evidence-7", auditor, version=0).grades == {}

    result = world.ledger.grant(world.account, "evidence-7", auditor.public, world.owner, version=0, grades=["partner"])
    assert result.status == "SUCCESS", result
    view = world.ledger.get_private(world.account, "evidence-7", auditor, version=0)
    assert view.grades == {"partner": {"sha256": "ab" * 32}} and view.sealed == ["public"]
    # No re-encryption: version 0's stored bytes are untouched and no new version was written.
    assert raw_value(world, "evidence-7", 0) == before
    assert world.ledger.get_entry(world.account, "evidence-7").version == 1
    # The grant is for version 0 only.
    assert world.ledger.get_private(world.account, "evidence-7", auditor).grades == {}
    # A second grant to the same version keeps the first.
    other = generate_keypair(SM2)
    assert world.ledger.grant(world.account, "evidence-7", other.public, world.owner, version=0).status == "SUCCESS"
    assert world.ledger.get_private(world.account, "evidence-7", auditor, version=0).grades["partner"]
    assert set(world.ledger.get_private(world.account, "evidence-7", other, version=0).grades) == {"partner", "public"}
    # A garbled grant side entry does not stop anyone reading through the record's own envelopes.
    garbage = world.ledger.builder().kv_set(world.account, grants_key("evidence-7", 1), "not a grant record")
    assert world.ledger.submit(garbage.sign(world.owner)).status == "SUCCESS"
    assert world.ledger.get_private(world.account, "evidence-7", world.owner).grades["partner"] == {"sha256": "cd" * 32}
    # ...and the owner's next grant replaces it.
    assert world.ledger.grant(world.account, "evidence-7", other.public, world.owner, version=1).status == "SUCCESS"
    assert world.ledger.get_private(world.account, "evidence-7", other).grades["public"] == {"kind": "contract-v2"}
    # Someone who cannot open the grade cannot grant it.
    with pytest.raises(NotAReader):
        world.ledger.grant(world.account, "evidence-7", other.public, generate_keypair(SM2), version=1)


def verify_cli(path: Path, ledger_hash: str) -> subprocess.CompletedProcess[str]:
    return run("jadechain.cli", "verify", "--disclosure", str(path), "--ledger", ledger_hash, "--json")


def test_a_disclosure_verifies_offline_and_a_forged_one_fails(world: World, tmp_path: Path) -> None:
    insurer = generate_keypair(ED25519)
    put(world, "visit-2", [GradeSpec("partner", {"diagnosis": "J45.901", "cost": 320}, [insurer.public]),
                           GradeSpec("owner", {"notes": "do not share"}, [])])
    document = world.ledger.disclose(world.account, "visit-2", "diagnosis", insurer, wait=90)
    assert document["value"] == "J45.901"
    assert "do not share" not in json.dumps(document) and "320" not in json.dumps(document["value"])
    path = tmp_path / "disclosure.json"
    path.write_text(json.dumps(document))

    # The entry's own proof bundle is an ordinary one: it proves the ciphertext and envelopes.
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(document["bundle"]))
    plain = run("jadechain.cli", "verify", str(bundle_path), "--ledger", world.ledger_hash, "--json")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    claim = json.loads(plain.stdout)["claim"]
    assert claim["value"] == {"type": "BYTES", "value": raw_value(world, "visit-2").hex()}

    report = verify_disclosure(json.loads(path.read_text()), ledger_hash=world.ledger_hash)
    assert (report.account, report.key, report.field, report.value) == (world.account, "visit-2", "diagnosis", "J45.901")
    checked = verify_cli(path, world.ledger_hash)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = json.loads(checked.stdout)
    assert shown["valid"] is True and shown["value"] == "J45.901" and shown["key"] == "visit-2"

    forgeries: dict[str, dict[str, Any]] = {}
    lie = copy.deepcopy(document); lie["value"] = "healthy"; forgeries["other value"] = lie
    salt = copy.deepcopy(document); salt["salt"] = "00" * 32; forgeries["other salt"] = salt
    field = copy.deepcopy(document); field["field"] = "cost"; forgeries["value under another field"] = field
    record = copy.deepcopy(document)
    record["bundle"]["claim"]["key"] = "visit-3"; forgeries["edited claim"] = record
    for name, forged in forgeries.items():
        with pytest.raises(ProofError):
            verify_disclosure(forged, ledger_hash=world.ledger_hash)
        path.write_text(json.dumps(forged))
        refused = verify_cli(path, world.ledger_hash)
        assert refused.returncode == 1, (name, refused.stdout, refused.stderr)
        assert json.loads(refused.stdout)["valid"] is False, name
    # A genuine disclosure pinned to another ledger proves nothing.
    path.write_text(json.dumps(document))
    other_ledger = "j" + world.ledger_hash[1:] if world.ledger_hash[0] != "j" else "k" + world.ledger_hash[1:]
    assert verify_cli(path, other_ledger).returncode != 0


# --- docs/privacy.md, executed on a classic network (Ed25519 + SHA-256, so AES-256-GCM records) ---------

DOC = ROOT / "docs" / "privacy.md"


def doc_blocks(language: str) -> list[str]:
    text = DOC.read_text()
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if not inside and line.strip() == f"```{language}":
            inside, current = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


@pytest.fixture(scope="module")
def classic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for info in start_network(tmp_path_factory.mktemp("private-classic") / "net", "classic"):
        state = World(info)
        try:
            yield state
        finally:
            state.client.close()


def test_the_documented_health_record_example_runs(classic: World) -> None:
    (example,) = doc_blocks("python")
    namespace: dict[str, Any] = {"GATEWAY": classic.info["nodes"][0]["url"], "LEDGER_HASH": classic.ledger_hash,
                                 "ACCOUNT": classic.account, "patient": classic.owner}
    exec(compile(example, str(DOC), "exec"), namespace)  # the example's own asserts are the checks
    stored = raw_value(classic, "visit/2026-12-01", 0)
    assert decode_private_record(stored).cipher == AES_GCM.code
    assert b"J45.901" not in stored and b"follow-up" not in stored
    assert namespace["report"].key == "visit/2026-12-01"


def test_the_documented_commands_run(classic: World, tmp_path: Path) -> None:
    from ledger.crypto import encrypt_private_key, save_keystore

    password = Path(classic.info["password_file"]).read_text().strip()
    owner_file = tmp_path / "owner.json"
    owner_file.write_bytes((Path(classic.info["keys"]) / "node0.json").read_bytes())
    (tmp_path / "clinic.json").write_bytes(owner_file.read_bytes())
    reader = generate_keypair(ED25519)
    save_keystore(tmp_path / "reader.json", encrypt_private_key(reader.private, password))
    (record_example,) = doc_blocks("json")
    (tmp_path / "record.json").write_text(record_example.replace("<reader public key>", reader.public.base58))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "JADECHAIN_KEY_PASSWORD": password, "ACCOUNT": classic.account,
           "KEY": "cli-visit", "GATEWAY": classic.info["nodes"][0]["url"], "LEDGER_HASH": classic.ledger_hash,
           "NEW_READER": reader.public.base58}
    disclosure_block, commands_block = doc_blocks("bash")
    outputs = []
    for line in commands_block.splitlines() + disclosure_block.splitlines():
        done = subprocess.run(["bash", "-euc", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        outputs.append(done.stdout)
    first_read, old_read = json.loads(outputs[1]), json.loads(outputs[4])
    assert first_read["grades"] == {"public": {"clinic": "Jade Clinic"}} and first_read["sealed"] == ["partner"]
    # Granted partner on version 0, then revoked: version 0 stays readable, version 1 is sealed.
    assert old_read["grades"]["partner"] == {"diagnosis": "J45.901"} and old_read["version"] == 0
    latest = classic.ledger.get_private(classic.account, "cli-visit", reader)
    assert latest.version == 1 and latest.grades == {}
    assert "VALID" in outputs[-1] and "J45.901" in outputs[-1]
    assert json.loads((tmp_path / "diagnosis.json").read_text())["value"] == "J45.901"


def test_a_private_event_for_traceability_reads_and_discloses_like_an_entry(world: World, tmp_path: Path) -> None:
    events = generate_keypair(SM2)
    registered = world.ledger.submit(world.ledger.builder().register_event_account(events.public.encoded).sign(world.owner))
    assert registered.status == "SUCCESS", registered
    account = address_from_public_key(events.public)
    buyer, stranger = generate_keypair(ED25519), generate_keypair(SM2)
    published = world.ledger.publish_private(account, "epcis", [
        GradeSpec("public", {"bizStep": "shipping", "epc": "urn:epc:id:sgtin:0614141.107346.2017"}, [buyer.public, stranger.public]),
        GradeSpec("partner", {"unit_price_cents": 1234, "currency": "CNY"}, [buyer.public]),
    ], world.owner)
    assert published.status == "SUCCESS", published
    assert world.ledger.get_private_event(account, "epcis", 0, buyer).grades["partner"] == {
        "currency": "CNY", "unit_price_cents": 1234}
    seen = world.ledger.get_private_event(account, "epcis", 0, stranger)
    assert seen.sealed == ["partner"] and seen.grades["public"]["bizStep"] == "shipping"
    content = world.ledger.get_events(account, "epcis", 0, 1)[0].content
    assert b"1234" not in content and b"CNY" not in content

    document = world.ledger.disclose_event(account, "epcis", 0, "unit_price_cents", buyer, wait=90)
    assert document["bundle"]["kind"] == "event"
    report = verify_disclosure(document, ledger_hash=world.ledger_hash)
    assert (report.kind, report.key, report.version, report.value) == ("event", "epcis", 0, 1234)
    path = tmp_path / "price.json"
    path.write_text(json.dumps(document))
    assert verify_cli(path, world.ledger_hash).returncode == 0
    document["value"] = 999
    path.write_text(json.dumps(document))
    assert verify_cli(path, world.ledger_hash).returncode == 1


def test_cli_bad_input_is_a_clear_error_not_a_traceback(classic: World, tmp_path: Path) -> None:
    password = Path(classic.info["password_file"]).read_text().strip()
    owner_file = tmp_path / "owner.json"
    owner_file.write_bytes((Path(classic.info["keys"]) / "node0.json").read_bytes())
    plain = classic.ledger.submit(classic.ledger.builder().kv_set(classic.account, "plain-entry", "hello").sign(classic.owner))
    assert plain.status == "SUCCESS"
    gateway = classic.info["nodes"][0]["url"]
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    (tmp_path / "bad.json").write_text('{"grades": {"g": {"fields": {"x": 1.5}}}}')
    (tmp_path / "notjson.json").write_text("{")
    cases = [
        (["get", classic.account, "plain-entry"], password, "MALFORMED_PRIVATE_RECORD"),
        (["get", classic.account, "never-written"], password, "NOT_FOUND"),
        (["get", classic.account, "plain-entry"], "wrong password!", "WRONG_PASSWORD"),
        (["put", classic.account, "k", "--record", str(tmp_path / "bad.json")], password, "MALFORMED_PRIVATE_RECORD"),
        (["put", classic.account, "k", "--record", str(tmp_path / "notjson.json")], password, "INVALID_INPUT"),
        (["grant", classic.account, "plain-entry", "--reader", "not-a-key"], password, "INVALID"),
    ]
    for args, secret, code in cases:
        done = subprocess.run(
            [sys.executable, "-m", "jadechain.cli", "private", *args, "--key-file", str(owner_file), "--gateway", gateway],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env={**base, "JADECHAIN_KEY_PASSWORD": secret})
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert code in done.stderr and "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
