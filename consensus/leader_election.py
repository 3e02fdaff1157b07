"""Leader election: who proposes in a round.

Every honest replica must compute the same leader for a round, so election is a
pure function of the validator set (and, for the reputation variant, of committed
history that all replicas agree on). Round-robin is the default. The Twins tests
inject a fixed leader table to steer scenarios.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from consensus.interfaces import ValidatorSet
from consensus.types import Author


class RoundRobinElection:
    """Leader of round r is ``authors[r mod n]``."""

    def __init__(self, validators: ValidatorSet) -> None:
        self._authors = validators.authors

    def leader(self, round: int) -> Author:
        return self._authors[round % len(self._authors)]


class FixedLeaderElection:
    """A table of leaders for some rounds, round-robin elsewhere (used by Twins scenarios)."""

    def __init__(self, validators: ValidatorSet, table: Mapping[int, Author]) -> None:
        self._table = dict(table)
        self._fallback = RoundRobinElection(validators)

    def leader(self, round: int) -> Author:
        return self._table.get(round, self._fallback.leader(round))


class ReputationElection:
    """Round-robin that skips validators who recently failed to get their block committed.

    ``committed`` is a window of committed (round, author) pairs, oldest first, that
    all honest replicas share (the node passes the history committed as of an
    agreed anchor, e.g. the epoch start or a fixed depth below the commit tip).
    A validator is "failed" if it led a round in the window's span but has no
    committed block there. Failed validators are skipped, unless fewer than a
    quorum would remain, in which case plain round-robin is used.
    """

    def __init__(self, validators: ValidatorSet, committed: Sequence[tuple[int, Author]]) -> None:
        self._authors = validators.authors
        rounds = [r for r, _ in committed]
        active = {a for _, a in committed}
        failed: set[Author] = set()
        if rounds:
            committed_rounds = set(rounds)
            for r in range(min(rounds), max(rounds) + 1):
                leader = self._authors[r % len(self._authors)]
                if r not in committed_rounds and leader not in active:
                    failed.add(leader)
        eligible = tuple(a for a in self._authors if a not in failed)
        self._eligible = eligible if len(eligible) >= validators.quorum else self._authors

    def leader(self, round: int) -> Author:
        return self._eligible[round % len(self._eligible)]
