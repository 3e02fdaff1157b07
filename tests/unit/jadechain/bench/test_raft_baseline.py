"""The PySyncObj baseline orders every operation on every node, and no node leaves before the others.

A node used to destroy its replica as soon as it had applied everything; a follower a little behind
then had no leader to catch up from and sat out its five-minute deadline with operations missing,
which made ``jadechain bench scale`` stall and report fewer ordered operations than were applied.
"""

from __future__ import annotations

from jadechain.bench.raft_baseline import run


def test_every_node_applies_every_operation() -> None:
    result = run(nodes=3, ops_per_node=400, size=64)
    assert result["ops_submitted"] == 1200
    assert result["ops_applied_on_every_node"] == 1200
    assert result["latency_p50_ms"] is not None
