"""Two real networks on 127.0.0.1: ledger B accepts ledger A's certified fact and nothing forged.

Runs the shipped example (``examples/cross_ledger.py``, documented in docs/cross-ledger.md) as a
user runs it and checks its report: B's light client of A is created by a governed transaction;
a trace record on B commits with A's proof of "lot L7 passed inspection"; each forgery is refused
with its stable code and writes nothing; A adds a validator (epoch 1), B refuses A's new proofs
until it follows A's certified epoch change, then verifies them and still A's older proofs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_brand_ledger_relies_on_the_lab_ledger_through_its_light_client(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "examples/cross_ledger.py", "--dir", str(tmp_path / "ledgers"), "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=1400, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["light_client_created"] == "SUCCESS"
    assert report["fact_accepted"] == "SUCCESS"
    assert report["refused"] == {
        "uncertified header": "FOREIGN_PROOF_UNCERTIFIED",
        "another ledger's proof": "FOREIGN_PROOF_WRONG_LEDGER",
        "signers outside A's set": "FOREIGN_PROOF_UNKNOWN_SIGNER",
        "a signature twice": "FOREIGN_PROOF_DUPLICATE_SIGNATURE",
        "another fact than claimed": "FOREIGN_FACT_MISMATCH",
        "older than 1 ms": "FOREIGN_PROOF_STALE",
    }
    assert report["forged_records_written"] == 0
    assert report["lab_epoch"] == 1
    assert report["new_epoch_before_advance"] == "FOREIGN_PROOF_UNKNOWN_EPOCH"
    assert report["advanced"] == "SUCCESS" and report["advance_replayed"] == "LIGHT_CLIENT_EPOCH_REPLAYED"
    assert report["new_epoch_after_advance"] == "SUCCESS"
    assert report["old_epoch_after_advance"] == "SUCCESS"
