"""Deterministic simulation: many seeded networks with delays, drops, reordering and healing
partitions. Invariants: honest committed chains are prefixes of one another; commits resume
after the network heals. ``JADECHAIN_SIM_SEEDS`` sets the number of seeds (longer soaks)."""

from __future__ import annotations

import logging
import os
import random
import time

from consensus.round_manager import CommitBlocks
from consensus.simulation import (
    NetworkConfig,
    Partition,
    SimulationResult,
    Simulator,
    random_network,
)
from consensus.types import Author, Block, make_genesis_qc

log = logging.getLogger(__name__)

SEEDS = int(os.environ.get("JADECHAIN_SIM_SEEDS", "2000"))
COMMITS = 20


def assert_prefix_consistent(result: SimulationResult) -> None:
    chains = list(result.chains.values())
    longest = max(chains, key=len)
    for chain in chains:
        assert chain == longest[: len(chain)], f"seed {result.seed}: committed chains diverge"


def run_seed(seed: int) -> SimulationResult:
    network = random_network(random.Random(seed), 4, 3000)
    return Simulator(seed=seed, network=network).run(until_commits=COMMITS, max_steps=60_000)


def test_many_seeds_stay_safe_and_live() -> None:
    started = time.perf_counter()
    steps = 0
    for seed in range(SEEDS):
        result = run_seed(seed)
        steps += result.steps
        assert result.violations == [], f"seed {seed}: {result.violations}"
        assert_prefix_consistent(result)
        # Every partition heals, so every seed must reach the target.
        assert result.min_honest_commits >= COMMITS, f"seed {seed}: stuck at {result.min_honest_commits}"
    elapsed = time.perf_counter() - started
    log.warning("simulated %d seeds x %d commits (%d events) in %.1f s", SEEDS, COMMITS, steps, elapsed)
    print(f"\nconsensus simulation: {SEEDS} seeds, {steps} events, {elapsed:.1f} s")


def test_same_seed_same_run() -> None:
    first, second = run_seed(42), run_seed(42)
    assert first.chains == second.chains and first.steps == second.steps


def test_no_quorum_partition_stops_commits_and_healing_resumes_them() -> None:
    split = Partition(500, 6000, (frozenset({"r0", "r1"}), frozenset({"r2", "r3"})))
    sim = Simulator(seed=9, network=NetworkConfig(max_delay_ms=20, partitions=(split,)))
    sim.run(until_commits=10**9, max_ms=1000)
    early = max(i.height for i in sim.instances.values())
    sim.run(until_commits=10**9, max_ms=5990)
    late = max(i.height for i in sim.instances.values())
    # In-flight certificates may land a commit or two after the split; then nothing moves.
    assert late - early <= 2
    result = sim.run(until_commits=late + 20)
    assert result.violations == []
    assert result.min_honest_commits >= late + 20
    assert_prefix_consistent(result)


def test_invariant_checker_catches_conflicting_commits() -> None:
    """The harness itself must be able to fail: feed it two different blocks at height 0."""
    sim = Simulator(seed=1)
    genesis_qc = make_genesis_qc(sim.instances["r0"].manager.genesis)
    one = Block(1, 1, genesis_qc, b"a", Author(b"x"), b"")
    other = Block(1, 1, genesis_qc, b"b", Author(b"x"), b"")
    sim._record_commit(sim.instances["r0"], CommitBlocks((one,), genesis_qc))
    sim._record_commit(sim.instances["r1"], CommitBlocks((other,), genesis_qc))
    assert sim.violations and "conflicting commit at height 0" in sim.violations[0]
