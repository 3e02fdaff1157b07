"""Twins scenarios (Bano et al., "Twins: BFT Systems Made Robust"), generated deterministically.

A Byzantine validator is modelled as two honest instances sharing one key
("twins"): put in different partitions they propose conflicting blocks and
vote twice per round, which is everything an equivocating validator can do to
break safety. A scenario fixes, for each of the first rounds, how the
instances are partitioned and who leads; messages sent by a replica while it
is in round r are delivered only inside round r's partition. After the
scenario's rounds, or after ``heal_ms`` of virtual time (a partition with no
quorum inside would otherwise hold every replica in its round forever), the
network is whole again and leaders rotate round-robin; commits must resume.

Scenarios are drawn without replacement from the full product space with a
seeded generator, so the same seed and count give the same scenarios.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Sequence

from consensus.leader_election import FixedLeaderElection
from consensus.interfaces import ValidatorSet
from consensus.simulation import NetworkConfig, SimulationResult, Simulator
from consensus.pacemaker import PacemakerConfig

Groups = tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class TwinsRound:
    """The partition and leader of one round."""

    groups: Groups
    """Disjoint groups of instance names covering all instances."""
    leader: int
    """Index of the leading validator (both twins lead if it is the twinned one)."""


@dataclass(frozen=True, slots=True)
class TwinsScenario:
    """One scenario: a partition and a leader per round, for the first rounds."""

    rounds: tuple[TwinsRound, ...]
    """Round 1 is ``rounds[0]``."""
    heal_ms: int = 2000
    """Virtual time after which the network is whole whatever the round (to check liveness)."""

    def allows(self, now: int, round: int, sender: str, receiver: str) -> bool:
        if now >= self.heal_ms or not 1 <= round <= len(self.rounds):
            return True
        return any(sender in g and receiver in g for g in self.rounds[round - 1].groups)


def two_way_partitions(names: Sequence[str]) -> list[Groups]:
    """The whole set plus every split into two non-empty groups, in a fixed order."""
    first, rest = names[0], list(names[1:])
    result: list[Groups] = [(frozenset(names),)]
    for mask in range(1, 2 ** len(rest)):
        other = frozenset(n for i, n in enumerate(rest) if mask >> i & 1)
        group = frozenset(names) - other  # holds `first`: other is drawn from the rest
        result.append((group, other))
    return result


def instance_names(n: int, twins: Sequence[int]) -> list[str]:
    return [f"r{i}" for i in range(n)] + [f"r{i}-twin" for i in twins]


def generate_scenarios(
    *,
    n: int = 4,
    twins: Sequence[int] = (0,),
    rounds: int = 3,
    count: int,
    seed: int = 0,
    heal_ms: int = 2000,
) -> Iterator[TwinsScenario]:
    """``count`` distinct scenarios sampled from (partitions x leaders) ** rounds."""
    partitions = two_way_partitions(instance_names(n, twins))
    per_round = [(groups, leader) for groups in partitions for leader in range(n)]
    space = len(per_round) ** rounds
    rng = random.Random(seed)
    for index in rng.sample(range(space), min(count, space)):
        chosen = []
        for _ in range(rounds):
            index, pick = divmod(index, len(per_round))
            groups, leader = per_round[pick]
            chosen.append(TwinsRound(groups, leader))
        yield TwinsScenario(tuple(chosen), heal_ms)


def run_scenario(
    scenario: TwinsScenario,
    *,
    seed: int = 0,
    n: int = 4,
    twins: Sequence[int] = (0,),
    until_commits: int = 4,
    max_steps: int = 20_000,
) -> SimulationResult:
    """Run one scenario on a fast, nearly synchronous network; return what happened."""

    def election(validators: ValidatorSet) -> FixedLeaderElection:
        table = {
            r + 1: validators.authors[step.leader] for r, step in enumerate(scenario.rounds)
        }
        return FixedLeaderElection(validators, table)

    sim = Simulator(
        seed=seed,
        n=n,
        twins=twins,
        network=NetworkConfig(min_delay_ms=1, max_delay_ms=10),
        round_partition=scenario.allows,
        election=election,
        pacemaker=PacemakerConfig(base_ms=100, max_ms=1000, backoff=1.5),
    )
    return sim.run(until_commits=until_commits, max_steps=max_steps)
