"""bench/ledger_growth.py runs, counts what the ledger writes and reads, and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_small_run_reports_every_stretch_and_the_tables_written(tmp_path: Path) -> None:
    out = tmp_path / "growth.json"
    completed = subprocess.run(
        [sys.executable, "-P", str(ROOT / "bench" / "ledger_growth.py"), "--blocks", "3", "--block-txs", "40",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    headline = json.loads(completed.stdout.strip().splitlines()[-1])
    assert headline["committed"] == 120
    report = json.loads(out.read_text())
    assert [s["blocks"] for s in report["stretches"]] == ["1-1", "2-2", "3-3"]
    assert [s["committed_before"] for s in report["stretches"]] == [0, 40, 80]
    for stretch in report["stretches"]:
        tables = stretch["bytes_written_per_tx_by_table"]
        # Every committed transaction is stored (T), indexed (I), and changes the state tree (N) and an entry (E).
        assert {"T", "I", "N", "E"} <= set(tables)
        assert abs(sum(tables.values()) - stretch["bytes_written_per_tx"]) < 1.0
        assert stretch["reads_per_tx_by_table"]["T"] >= 1.0  # the replay check of each new transaction
        assert stretch["process_cpu_us_per_tx"] > 0
    assert headline["leveldb_bytes_per_tx"] > 0
