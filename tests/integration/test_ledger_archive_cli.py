"""`jadechain ledger archive` / `import` on a real node's data directory, as an operator runs them.

A solo node (gateway over HTTP on loopback, every block certified) commits transactions and
events; with the node stopped the operator archives the old blocks; the restarted node answers
ARCHIVED (HTTP 410) for them and keeps committing; an archive file altered by one byte is refused
and the database is unchanged; after import the node serves the old blocks again, and a proof of
an archived-then-imported transaction verifies with `jadechain verify`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

import pytest

from ledger import codec
from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.store.directory import open_ledger
from ledger.store.schema import META_HEIGHT, META_ROOTS
from jadechain.sdk import ApiError, JadechainClient
from jadechain.devnet.solo import SoloNode, create_dev_solo

ROOT = Path(__file__).resolve().parents[2]


def jadechain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jadechain.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def documented_commands(word: str) -> str:
    """The runnable block of docs/reliability.md that runs ``jadechain ledger WORD``."""
    document = ROOT / "docs" / "reliability.md"
    blocks = re.findall(r"```sh\n(.*?)```", document.read_text(), flags=re.S)
    (block,) = [b for b in blocks if f"jadechain ledger {word}" in b and not b.startswith("# (fragment:")]
    return block


def run_documented(word: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-e", "-c", documented_commands(word)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def database_items(data_dir: str, ledger_hash: str) -> dict[bytes, bytes]:
    ledger = open_ledger(data_dir, ledger_hash)
    try:
        return dict(ledger.store.iterate(b""))
    finally:
        ledger.close()


def test_archive_serve_archived_refuse_tampering_import_and_verify(tmp_path: Path) -> None:
    dev = create_dev_solo(str(tmp_path / "dev"))
    base = f"/api/v1/ledgers/{dev.ledger_hash}"
    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10).start()
    try:
        with JadechainClient([node.url], retry_timeout=10) as client:
            ledger = client.ledger(dev.ledger_hash)
            pair = generate_keypair(ED25519)
            account = address_from_public_key(pair.public)
            assert ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key)).status == "SUCCESS"
            signed = [ledger.builder().kv_set(account, f"k{i}", i).sign(dev.key) for i in range(12)]
            results = [ledger.submit(tx) for tx in signed]
            assert all(r.status == "SUCCESS" for r in results)
            old = results[2]
            proof_before = ledger.tx_proof(old.tx_hash)
            below = 9  # as docs/reliability.md archives
            assert old.height < below < results[-1].height and ledger.get_block(below).certified
        # the node holds its database: archiving refuses while it runs
        running = jadechain("ledger", "archive", "--data-dir", dev.data_dir, "--below", str(below), "--out", str(tmp_path / "a"))
        assert running.returncode == 1 and "STORAGE_ERROR" in running.stderr and "stop it first" in running.stderr
    finally:
        node.stop()
    port = node.port

    before = database_items(dev.data_dir, dev.ledger_hash)
    home = Path(dev.data_dir).parent
    assert Path(dev.data_dir).name == "node0"
    archived = run_documented("archive", home)
    assert archived.returncode == 0, archived.stdout + archived.stderr
    assert f"archived {below - 1} blocks" in archived.stdout and "holds blocks from 9" in archived.stdout
    assert jadechain("ledger", "archive", "--data-dir", dev.data_dir, "--below", str(below),
                     "--out", str(home / "again")).returncode == 1  # nothing left below 9
    after_archive = database_items(dev.data_dir, dev.ledger_hash)
    assert sum(map(len, after_archive.values())) < sum(map(len, before.values()))

    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], port=port, idle_block_ms=10).start()
    try:
        with httpx.Client(base_url=node.url, timeout=10) as http:
            for path in (f"{base}/blocks/{old.height}", f"{base}/blocks/{old.height}/txs", f"{base}/txs/{old.tx_hash}",
                         f"{base}/txs/{old.tx_hash}?proof=true"):
                response = http.get(path)
                assert response.status_code == 410 and response.json()["code"] == "ARCHIVED", (path, response.text)
            stream = http.get(f"{base}/stream", params={"from_height": old.height})
            assert stream.status_code == 410 and stream.json()["code"] == "ARCHIVED"
            assert http.get(f"{base}/blocks/{below}").status_code == 200
        with JadechainClient([node.url], retry_timeout=10) as client:
            ledger = client.ledger(dev.ledger_hash)
            assert ledger.get_entry(account, "k2").value == 2  # state written in archived blocks
            assert ledger.submit(ledger.builder().kv_set(account, "after", 1).sign(dev.key)).status == "SUCCESS"
            # an archived transaction sent again is still a duplicate (its result: ARCHIVED, at once)
            replay = httpx.post(f"{node.url}{base}/txs", json={"tx": codec.encode(signed[2]).hex()}, timeout=10)
            assert replay.status_code == 409 and replay.json()["code"] == "DUPLICATE_TRANSACTION", replay.text
            with pytest.raises(ApiError) as caught:
                ledger.wait_tx(old.tx_hash, 20)
            assert caught.value.code == "ARCHIVED"
    finally:
        node.stop()

    # one byte altered in one file: refused with a stable code, nothing imported
    tampered_dir = tmp_path / "tampered"
    shutil.copytree(home / "archive", tampered_dir)
    victim = sorted(tampered_dir.iterdir())[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    victim.write_bytes(bytes(raw))
    unchanged = database_items(dev.data_dir, dev.ledger_hash)
    refused = jadechain("ledger", "import", str(tampered_dir), "--data-dir", dev.data_dir)
    assert refused.returncode == 1 and "ARCHIVE_INVALID" in refused.stderr and "nothing was imported" in refused.stderr
    assert database_items(dev.data_dir, dev.ledger_hash) == unchanged

    imported = run_documented("import", home)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "holds blocks from 1" in imported.stdout
    now = database_items(dev.data_dir, dev.ledger_hash)
    changed = {key for key, value in before.items() if now.get(key) != value}
    assert changed == {META_HEIGHT, META_ROOTS}  # everything archived is back; only the tip moved on since

    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], port=port, idle_block_ms=10).start()
    try:
        with JadechainClient([node.url], retry_timeout=10) as client:
            ledger = client.ledger(dev.ledger_hash)
            assert ledger.get_block(old.height).height == old.height
            assert ledger.get_tx(old.tx_hash).status == "SUCCESS"
            proof_after = ledger.tx_proof(old.tx_hash)
    finally:
        node.stop()
    assert proof_after == proof_before
    bundle = tmp_path / "proof.json"
    bundle.write_text(json.dumps(proof_after))
    verified = jadechain("verify", str(bundle), "--ledger", dev.ledger_hash, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["valid"] is True
