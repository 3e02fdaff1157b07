"""bench/traceability.py --index-level runs as documented and reports what docs/traceability.md quotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_index_level_bench_reports_history_latency_and_index_bytes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "traceability.py"), "--index-level", "--events", "480",
         "--queries", "40", "--output", str(tmp_path / "report.json")], capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    headline = json.loads(result.stdout.strip().splitlines()[-1])
    assert headline["mode"] == "index-level" and headline["events"] == 480
    assert headline["failed_queries"] == 0
    assert headline["index_bytes_per_event"] > 0 and headline["history_p99_ms"] > 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["index_load"]["events"] == 480
    assert report["history_query"]["events_per_history_mean"] == 5  # an item's five events, via its case too
