"""The snapshot-sync bench runs as documented and reports equal roots (small size, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_snapshot_sync_bench_reports_equal_roots_and_sizes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "snapshot_sync.py"), "--keys", "3000", "--updates-per-key", "2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["keys"] == 3000
    assert result["blocks"] == 6
    assert result["chunks"] == 256
    assert result["roots_equal"] is True
    # 3000 leaves of (32-byte key, 32-byte value hash, 4-byte length, 64-byte value), 256 chunk
    # headers of 18 bytes and a manifest of 42 + 256 * 33 bytes.
    assert result["snapshot_bytes"] == 3000 * 132 + 256 * 18 + 42 + 256 * 33
    assert result["replay_update_bytes"] == 2 * 3000 * 96


def test_snapshot_sync_bench_node_mode_joins_real_ledgers_with_equal_roots() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "snapshot_sync.py"), "--node", "--keys", "2000"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # one block registers the data account, then blocks of 1000 writes; the bench checks both ledgers'
    # roots against the source and that each applies the source's next block to the same roots
    assert (result["keys"], result["height"], result["chunks"]) == (2000, 3, 256)
    assert result["roots_equal"] is True
    assert result["snapshot_bytes"] > 2000 * 100 and result["replay_bytes"] > 2000 * 100
