"""`jadechain up` as a newcomer runs it (through `make up`): a network, the control plane and
the apps come up, a transaction is proven end to end, and `jadechain down` stops all of it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jadechain.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=dict(os.environ))


def test_up_proves_a_transaction_and_down_stops_everything(tmp_path: Path) -> None:
    directory = tmp_path / "local"
    started = cli("up", "--dir", str(directory), "--crypto", "classic", "--json")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        summary = json.loads(started.stdout)
        assert len(summary["gateways"]) == 4
        for url in summary["gateways"]:
            assert httpx.get(url + "/health", timeout=10).status_code == 200
        for name in ("baas", "evidence", "traceability"):
            assert httpx.get(summary["services"][name] + "/openapi.json", timeout=10).status_code == 200, name
        assert "password in" in summary["control_plane_admin"]
        # The first capture `up` prints works as printed (a shell runs it), and only once.
        captured = subprocess.run(["bash", "-c", summary["traceability_capture"]], capture_output=True, text=True,
                                  timeout=120)
        assert captured.returncode == 0 and json.loads(captured.stdout)["eventCount"] == 1, captured.stdout
        again = subprocess.run(["bash", "-c", summary["traceability_capture"]], capture_output=True, text=True,
                               timeout=120)
        assert json.loads(again.stdout)["code"] == "DUPLICATE_EVENT", again.stdout
        token_file = Path(summary["evidence_write_token"])
        assert token_file.stat().st_mode & 0o077 == 0 and token_file.read_text().strip()
        for log in (directory / "logs").glob("*.log"):
            assert log.stat().st_mode & 0o077 == 0, f"{log} is readable by others"
        # The command `up` prints, pinned to the ledger hash, is the one that verifies.
        command = shlex.split(summary["verify_command"])
        assert command[:2] == ["jadechain", "verify"] and "--ledger" in command
        verified = cli(*command[1:], "--json")
        report = json.loads(verified.stdout)
        assert verified.returncode == 0 and report["certified"] and report["claim"]["value"]["value"]["name"] == "green tea"
        pids = [json.loads(p.read_text())["pid"] for p in (directory / "run").glob("*.json")]
        assert len(pids) == 3
    finally:
        stopped = cli("down", "--dir", str(directory), "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert set(json.loads(stopped.stdout)) >= {"baas", "evidence", "traceability", "node0", "node3"}
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    for url in summary["gateways"]:
        try:
            httpx.get(url + "/health", timeout=2)
        except httpx.HTTPError:
            continue
        raise AssertionError(f"{url} still answers after down")
