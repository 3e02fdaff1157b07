"""Round state and round timeouts (the Jolteon pacemaker), as pure functions of values.

A replica is in round ``max(highest QC round, highest TC round) + 1``: it moves
forward as soon as it sees a certificate for the current round, whichever kind.
Each time it enters a round it asks for a timer; when that timer fires in the
same round it times out. The timer doubles (``backoff``) with every round since
the last commit beyond a small grace, up to ``max_ms``, so that after a network
partition heals the honest replicas' rounds overlap long enough to certify again.

There is no clock here: time enters as :class:`consensus.round_manager.LocalTimeout`
events and leaves as ``ScheduleTimer`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class PacemakerConfig:
    """Timer settings."""

    base_ms: int = 1000
    """Timeout of a round right after a commit."""
    max_ms: int = 60_000
    """Upper bound of the backoff."""
    backoff: float = 1.5
    """Growth factor per round without a commit."""
    grace_rounds: int = 3
    """Rounds without commit (a healthy two-chain pipeline needs 2) before backing off."""


@dataclass(frozen=True, slots=True)
class RoundState:
    """Where the replica is; a new value is returned by every transition."""

    current_round: int = 1
    """The round this replica is in (genesis is round 0)."""
    highest_qc_round: int = 0
    """Round of the highest QC seen."""
    highest_tc_round: int = 0
    """Round of the highest TC seen."""
    highest_commit_round: int = 0
    """Round of the highest committed block."""


def observe_certificates(
    state: RoundState, qc_round: int = 0, tc_round: int = 0, commit_round: int = 0
) -> RoundState:
    """Fold new certificate rounds into the state; the round never goes down."""
    if (
        qc_round <= state.highest_qc_round
        and tc_round <= state.highest_tc_round
        and commit_round <= state.highest_commit_round
    ):
        return state
    new = replace(
        state,
        highest_qc_round=max(state.highest_qc_round, qc_round),
        highest_tc_round=max(state.highest_tc_round, tc_round),
        highest_commit_round=max(state.highest_commit_round, commit_round),
    )
    next_round = max(new.highest_qc_round, new.highest_tc_round) + 1
    if next_round > new.current_round:
        new = replace(new, current_round=next_round)
    return new


def round_timeout_ms(state: RoundState, config: PacemakerConfig) -> int:
    """How long to wait in the current round before timing out."""
    behind = state.current_round - state.highest_commit_round - config.grace_rounds
    exponent = max(0, min(behind, 64))
    delay = float(config.base_ms)
    for _ in range(exponent):
        delay *= config.backoff
        if delay >= config.max_ms:
            return config.max_ms
    return int(delay)
