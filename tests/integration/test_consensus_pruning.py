"""Pruning the consensus store: committed blocks below what the node keeps are deleted (block, its
QCs, its execution record, its commit-log entry), genesis and the committed root stay, the prune
point survives a reopen, and a replica keeps committing safely on a pruned store across restarts."""

from __future__ import annotations

from pathlib import Path

from consensus.persistent_store import LevelDBConsensusStore
from consensus.simulation import NetworkConfig, Simulator


def test_a_pruned_store_keeps_its_root_and_the_replica_keeps_committing(tmp_path: Path) -> None:
    sim = Simulator(seed=11, network=NetworkConfig(max_delay_ms=20))
    victim = sim.instances["r1"]
    path = str(tmp_path / "r1")
    stores = [LevelDBConsensusStore(path)]
    victim.store = stores[0]  # type: ignore[assignment]
    sim.crash("r1")
    sim.restart("r1")
    result = sim.run(until_commits=40)
    assert result.violations == []
    store = stores[-1]
    logged = [block.id for _, block in store.iterate_log()]
    assert len(logged) > 30
    genesis, kept = logged[0], set(logged[-10:])
    for block_id in logged[:-10]:
        store.put_execution_record(block_id, b"record")

    # A bounded step first, then the rest: the prune point moves forward and is stored.
    assert store.prune_log(lambda block_id, record: block_id in kept, limit=5) == 5
    assert store.pruned_below == 6
    pruned = store.prune_log(lambda block_id, record: block_id in kept)
    assert pruned == len(logged) - 10 - 1 - 5
    remaining = [block.id for _, block in store.iterate_log()]
    assert remaining == [genesis] + logged[-10:]
    for block_id in logged[1:-10]:
        assert store.committed_block(block_id) is None
        assert store.commit_certificate(block_id) is None
        assert store.get_execution_record(block_id) is None
    assert store.committed_block(genesis) is not None
    root = store.recover()
    assert root is not None and root.root.id == logged[-1]
    # Nothing more to prune: a second pass deletes nothing (and the root is never a candidate).
    assert store.prune_log(lambda block_id, record: False) == len(logged[-10:]) - 1
    assert store.recover() is not None

    def bounce(simulator: Simulator) -> None:
        simulator.crash("r1")
        stores[-1].close()
        stores.append(LevelDBConsensusStore(path))
        simulator.instances["r1"].store = stores[-1]  # type: ignore[assignment]
        simulator.restart("r1")

    before = sim.honest_commits()
    result = sim.run(until_commits=before + 20, schedule=[(sim.now + 1, bounce)])
    assert result.violations == []
    assert result.min_honest_commits >= before + 20
    assert stores[-1].pruned_below > 1  # the prune point survived the reopen
    stores[-1].close()
