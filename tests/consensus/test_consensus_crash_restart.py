"""Crash and restart replicas in the simulator with their persistent safety data: no replica ever
signs two different votes for one round (checked from every vote persisted), restarted replicas
catch up by fetching blocks, and the cluster keeps committing."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable

from consensus.safety_storage import FileSafetyStorage, SafetyStorage
from consensus.simulation import NetworkConfig, Simulator, random_network


def crash(name: str) -> Callable[[Simulator], None]:
    return lambda sim: sim.crash(name)


def restart(name: str, wipe: bool = False) -> Callable[[Simulator], None]:
    return lambda sim: sim.restart(name, wipe=wipe)


def test_replica_with_wiped_disk_refetches_the_chain_and_never_double_votes() -> None:
    for seed in range(30):
        sim = Simulator(seed=seed, network=NetworkConfig(max_delay_ms=30, drop_rate=0.02))
        victim = f"r{seed % 4}"
        down_at = 300 + 37 * seed
        result = sim.run(
            until_commits=40,
            schedule=[(down_at, crash(victim)), (down_at + 1500, restart(victim, wipe=True))],
        )
        assert result.violations == [], f"seed {seed}: {result.violations}"
        assert result.min_honest_commits >= 40
        # The restarted replica re-fetched and re-committed the same chain from genesis.
        assert sim.instances[victim].manager.counters.get("block_requests", 0) > 0
        longest = max(result.chains.values(), key=len)
        assert result.chains[victim] == longest[: len(result.chains[victim])]
        assert sim.instances[victim].height >= 40
        assert len(sim.votes) > 0


def test_rolling_restarts_with_file_safety_storage(tmp_path: Path) -> None:
    def storage(name: str) -> SafetyStorage:
        return FileSafetyStorage(tmp_path / f"{name}.safety", epoch=1)

    sim = Simulator(
        seed=11,
        network=NetworkConfig(max_delay_ms=25, drop_rate=0.03),
        storage_factory=storage,
    )
    schedule = []
    for i, name in enumerate(["r0", "r1", "r2", "r3", "r0", "r2"]):
        at = 400 + 900 * i
        schedule += [(at, crash(name)), (at + 350, restart(name))]
    result = sim.run(until_commits=60, schedule=schedule)
    assert result.violations == []
    assert result.min_honest_commits >= 60
    # Each replica's safety file exists and its last voted round is what it really voted last.
    for name in ["r0", "r1", "r2", "r3"]:
        data = FileSafetyStorage(tmp_path / f"{name}.safety").load()
        assert data.last_voted_round > 0
        assert data.last_vote is not None and data.last_vote.data.block_round <= data.last_voted_round


def test_restart_right_after_voting_resends_or_abstains_never_equivocates() -> None:
    """Crash a replica at many instants of a busy run, including between vote and delivery."""
    for seed in range(40):
        sim = Simulator(seed=100 + seed, network=NetworkConfig(max_delay_ms=10))
        at = 50 + 13 * seed
        result = sim.run(
            until_commits=25,
            schedule=[(at, crash("r2")), (at + 1, restart("r2")), (at + 60, crash("r2")), (at + 61, restart("r2"))],
        )
        assert result.violations == [], f"seed {seed}: {result.violations}"
        assert result.min_honest_commits >= 25


def test_whole_cluster_restart_recovers_from_stores_and_keeps_committing() -> None:
    """Every replica restarts at once: progress depends on the recovered block trees."""
    names = ["r0", "r1", "r2", "r3"]
    for seed in range(10):
        sim = Simulator(seed=seed, network=NetworkConfig(max_delay_ms=20, drop_rate=0.02))
        at = 400 + 53 * seed
        schedule = [(at, crash(n)) for n in names] + [(at + 200, restart(n)) for n in names]
        result = sim.run(until_commits=40, schedule=schedule)
        assert result.violations == [], f"seed {seed}: {result.violations}"
        assert result.min_honest_commits >= 40


CRASH_SEEDS = int(os.environ.get("JADECHAIN_CRASH_SEEDS", "60"))


def test_random_crash_schedules_on_random_networks() -> None:
    """Random crashes and restarts (several replicas may be down at once) on random networks.

    Only r3 may lose its disk: losing the block stores of more than f replicas can leave a
    preferred QC that no replica remembers, and then nobody may sign a timeout (as in Aptos).
    """
    for seed in range(CRASH_SEEDS):
        rng = random.Random(seed)
        sim = Simulator(seed=seed, network=random_network(rng, 4, 3000))
        schedule: list[tuple[int, Callable[[Simulator], None]]] = []
        for _ in range(rng.randint(1, 4)):
            name = f"r{rng.randrange(4)}"
            at = rng.randint(0, 4000)
            wipe = name == "r3" and rng.random() < 0.3
            schedule += [(at, crash(name)), (at + rng.randint(1, 1500), restart(name, wipe))]
        result = sim.run(until_commits=30, max_steps=100_000, schedule=schedule)
        assert result.violations == [], f"seed {seed}: {result.violations}"
        assert result.min_honest_commits >= 30, f"seed {seed}: stuck at {result.min_honest_commits}"
