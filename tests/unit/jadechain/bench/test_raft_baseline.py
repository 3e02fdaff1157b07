"""The PySyncObj baseline orders every operation on every node, and no node leaves before the others.

A node used to destroy its replica as soon as it had applied everything; a follower a little behind
then had no leader to catch up from and sat out its five-minute deadline with operations missing,
which made ``jadechain bench scale`` stall and report fewer ordered operations than were applied.
The script runs in its own interpreter, as a user runs it (the baseline's nodes are spawned
processes that import the project afresh).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_every_node_applies_every_operation(tmp_path: Path) -> None:
    out = tmp_path / "raft.json"
    completed = subprocess.run(
        [sys.executable, "-P", str(ROOT / "bench" / "raft_baseline.py"), "--nodes", "3", "--ops", "400",
         "--out", str(out)],
        capture_output=True, text=True, timeout=500, cwd=tmp_path, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    headline = json.loads(completed.stdout.strip().splitlines()[-1])
    assert headline["nodes"] == 3
    result = json.loads(out.read_text())
    assert result["ops_submitted"] == 1200
    assert result["ops_applied_on_every_node"] == 1200
    assert result["latency_p50_ms"] is not None
