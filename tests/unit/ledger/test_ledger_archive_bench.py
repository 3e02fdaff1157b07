"""The archive bench runs as documented (a small size, not timed) and reports what docs/reliability.md shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_archive_bench_reports_bytes_before_after_and_a_faithful_import(tmp_path) -> None:
    out = tmp_path / "archive.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ledger_archive.py"), "--transactions", "1500", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == json.loads(out.read_text())
    assert result["transactions"] == 1500 + 10  # the KV writes and the setup blocks' transactions
    assert result["archived_transactions"] == result["transactions"] - 1  # all but genesis (block 0 stays)
    assert result["leveldb_bytes_after_archive"] < result["leveldb_bytes_before"]
    assert result["import_restores_every_key"] is True
    assert result["leveldb_bytes_per_million_tx_before"] == round(result["leveldb_bytes_before"] * 10**6 / result["transactions"])
