"""Twins (Byzantine) tests for n = 4, f = 1: validator 0 runs as two instances sharing one key.

Scenarios give every one of the first rounds a partition of the five instances and a leader,
sampled deterministically from the whole space; ``JADECHAIN_TWINS_SCENARIOS`` sets how many.
"""

from __future__ import annotations

import logging
import os
import time

import pytest

from consensus.block_tree import BlockTree
from consensus.simulation import SimulationResult
from consensus.twins import (
    TwinsRound,
    TwinsScenario,
    generate_scenarios,
    instance_names,
    run_scenario,
    two_way_partitions,
)
from consensus.types import Block, QuorumCertificate

log = logging.getLogger(__name__)

SCENARIOS = int(os.environ.get("JADECHAIN_TWINS_SCENARIOS", "1500"))
ROUNDS = 4


def honest_chains_agree(result: SimulationResult) -> bool:
    honest = [chain for name, chain in result.chains.items() if "twin" not in name and name != "r0"]
    longest = max(honest, key=len)
    return all(chain == longest[: len(chain)] for chain in honest)


def run_generated_scenarios(count: int, rounds: int, seed: int) -> tuple[int, int, int]:
    """Run ``count`` scenarios; return (scenarios run, with equivocation seen, live after heal)."""
    ran = equivocating = live = 0
    for index, scenario in enumerate(
        generate_scenarios(n=4, twins=(0,), rounds=rounds, count=count, seed=seed)
    ):
        result = run_scenario(scenario, seed=index, until_commits=4)
        ran += 1
        assert result.violations == [], f"scenario {index}: {scenario}: {result.violations}"
        assert honest_chains_agree(result), f"scenario {index}: {scenario}"
        if any(
            c.get("equivocating_votes", 0) or c.get("vote_refused", 0)
            for c in result.counters.values()
        ):
            equivocating += 1
        live += result.min_honest_commits >= 4
    return ran, equivocating, live


def test_partition_space() -> None:
    names = instance_names(4, (0,))
    assert names == ["r0", "r1", "r2", "r3", "r0-twin"]
    partitions = two_way_partitions(names)
    assert len(partitions) == 16  # the whole set + S(5, 2) = 15 two-way splits
    assert all(frozenset().union(*p) == frozenset(names) for p in partitions)


def test_generated_twins_scenarios_are_safe() -> None:
    started = time.perf_counter()
    ran, equivocating, live = run_generated_scenarios(SCENARIOS, ROUNDS, seed=2024)
    elapsed = time.perf_counter() - started
    assert ran == SCENARIOS
    # The scenarios must actually make the twins equivocate, or they test nothing.
    assert equivocating > ran // 4
    # After the network heals, the three honest validators (a quorum) keep committing.
    assert live == ran
    log.warning("twins: %d scenarios (%d with equivocation) in %.1f s", ran, equivocating, elapsed)
    print(f"\ntwins: {ran} scenarios, {equivocating} with equivocation, {elapsed:.1f} s")


def test_twin_splits_honest_replicas_and_they_never_commit_conflicting_blocks() -> None:
    """The twin leads every early round and keeps the honest replicas in different camps.

    Camp A = {r0, r1, r2} and camp B = {r0-twin, r3}; the twins propose different blocks to
    each camp in the same rounds and vote in both; then the camps are reshuffled so that the
    twin tries to finish, with r3 and r1, a chain conflicting with what camp A certified.
    """
    camp_a = (frozenset({"r0", "r1", "r2"}), frozenset({"r0-twin", "r3"}))
    reshuffle = (frozenset({"r0-twin", "r1", "r3"}), frozenset({"r0", "r2"}))
    swap = (frozenset({"r0", "r3"}), frozenset({"r0-twin", "r1", "r2"}))
    plans = [
        (camp_a, camp_a, reshuffle, reshuffle, swap),
        (camp_a, reshuffle, camp_a, reshuffle, swap, camp_a),
        (reshuffle, camp_a, swap, reshuffle, camp_a),
    ]
    for plan_index, plan in enumerate(plans):
        for leaders in ([0] * len(plan), [0, 1, 0, 3, 0, 2][: len(plan)]):
            scenario = TwinsScenario(
                tuple(TwinsRound(groups, leader) for groups, leader in zip(plan, leaders)),
                heal_ms=3000,
            )
            for seed in range(5):
                result = run_scenario(scenario, seed=seed, until_commits=6)
                assert result.violations == [], f"plan {plan_index}: {result.violations}"
                assert honest_chains_agree(result)
                assert result.min_honest_commits >= 6
                # Both twins led: the honest replicas really saw two proposals per round.
                proposals = result.counters["r0"].get("proposals", 0)
                assert proposals > 0 and result.counters["r0-twin"].get("proposals", 0) > 0


def test_harness_catches_an_unsafe_commit_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: with a one-chain commit rule (commit a block as soon as it has a QC),
    the same generated scenarios must find conflicting commits, or they prove nothing."""

    def one_chain_commit(self: BlockTree, qc: QuorumCertificate) -> list[Block]:
        if not self.contains(qc.block_id) or qc.block_id == self.root.id:
            return []
        path = self.path_from_root(qc.block_id) or []
        if path:
            self._prune(path[-1])
        return path

    monkeypatch.setattr(BlockTree, "commit", one_chain_commit)
    scenarios = generate_scenarios(n=4, twins=(0,), rounds=ROUNDS, count=300, seed=2024)
    caught = next(
        (index for index, scenario in enumerate(scenarios) if run_scenario(scenario, seed=index).violations),
        None,
    )
    assert caught is not None
    log.warning("twins: one-chain commit mutation caught by scenario %d", caught)
