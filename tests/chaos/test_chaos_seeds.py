"""CI's bounded chaos: two seeds on 4 real validators (f = 1), a history-logging load, the checker.

Seed 11 draws from the network and process faults (kill -9, SIGSTOP, partition, one-way drop,
latency); seed 12 from the storage and clock faults (clock skew under libfaketime, disk full on a
tmpfs, a corrupted LevelDB MANIFEST). Each run must end with: no violation of the history
checker, every injected fault survived (the victim recovered, the others kept committing), and
no private key material in any node log. About 1.5-2.5 minutes per seed on the shared 2 cores;
nothing is judged on wall time (recovery times are reported, not asserted).
"""

from __future__ import annotations

import json

import pytest

from chaos_runner import ChaosRunner

pytestmark = pytest.mark.slow

SEEDS = {
    11: ("kill9", "pause", "partition", "oneway", "latency"),
    12: ("clock_skew", "disk_full", "corrupt_db"),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_chaos_seed_survives_with_a_valid_history(tmp_path, seed: int) -> None:
    runner = ChaosRunner(tmp_path / f"seed{seed}", seed=seed, steps=len(SEEDS[seed]), kinds=SEEDS[seed], hold=(2.0, 4.0))
    report = runner.run()
    summary = json.dumps(report.to_json(), indent=1, default=str)
    assert report.violations == [], summary
    assert report.key_leaks == [], summary
    failed = [f for f in report.faults if f["outcome"].startswith("failed")]
    assert failed == [], summary
    assert report.faults_injected + report.faults_skipped == len(report.faults)
    assert report.faults_survived == report.faults_injected
    # The load kept making acknowledged progress through the faults, and reads were checked.
    assert report.writes_acknowledged > 0 and report.reads > 0, summary
    corrupt = [f for f in report.faults if f["kind"] == "corrupt_db"]
    for fault in corrupt:
        assert fault["detail"]["refused_with_LEDGER_CORRUPTED"] is True, summary
    for fault in report.faults:
        if fault["kind"] == "disk_full" and fault["outcome"] == "survived":
            # After ENOSPC the node fail-stops (exit 75) and is restarted once space is back; it must
            # catch up and vote again within 30 s of that (fast-forwarding its consensus when far
            # behind, without waiting for its ledger to reach a moving certified tip first). The runner
            # restarts it like a supervisor: once it has exited, not at one look while it shuts down.
            assert fault["recovery_seconds"] + fault["detail"]["restart_wait_seconds"] <= 30.0, summary
