"""``python -m baas.apps.evidence`` as a real process: serves, preserves, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from baas.apps.evidence.client import EvidenceClient
from ledger.crypto import SM2, generate_keypair
from jadechain.devnet.solo import SoloNode, create_dev_solo

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_standalone_runner_serves_and_shuts_down_gracefully(tmp_path: Path) -> None:
    dev = create_dev_solo(str(tmp_path / "net"))
    (tmp_path / "password").write_text(dev.password)
    port = _free_port()
    log_path = tmp_path / "app.log"
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key]) as node, open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "baas.apps.evidence", "--gateway", node.url, "--ledger", dev.ledger_hash,
             "--key", dev.key_file, "--password-file", str(tmp_path / "password"), "--port", str(port),
             "--data-dir", str(tmp_path / "app")],
            cwd=ROOT, stderr=log_file)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/evidence/verify", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, "the app did not start"
                    time.sleep(0.1)
            party = generate_keypair(SM2)
            token_file = tmp_path / "app" / "write-token"  # created at start, readable by this user only
            assert oct(token_file.stat().st_mode & 0o777) == oct(0o600)
            with EvidenceClient(f"http://127.0.0.1:{port}") as anonymous:
                refused = anonymous.http.post(f"http://127.0.0.1:{port}/evidence", json={"digests": {}})
                assert refused.status_code == 401
            with EvidenceClient(f"http://127.0.0.1:{port}", token=token_file.read_text().strip()) as client:
                result = client.preserve_digests({"sha256": "ab" * 32}, title="Process test", type="other",
                                                  parties=client.parties(("Party", party)), signer=party)
                assert result["status"] == "COMPLETE"
                assert client.verify(sha256="ab" * 32, proof=False)["on_chain"]
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(30)
    assert code == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any("evidence account" in line["message"] for line in lines)
