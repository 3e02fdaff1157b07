"""The safety rules of two-chain HotStuff (DiemBFT v4 / Jolteon): the only code that signs.

This module is meant to be audited alone. Whatever the rest of the core does,
an honest replica running these rules never helps two conflicting blocks commit:

* **Vote rule.** Vote for block B of round r only if r > last_voted_round, and
  either B extends a QC of round r - 1 (``B.qc.round + 1 == r``), or r follows
  a timeout certificate of round r - 1 and B's QC is at least as high as every
  high QC reported in that TC (``B.qc.round >= tc.highest_hqc_round``).
  (This is the DiemBFT v4 paper's rule. It implies the classic
  ``B.qc.round >= preferred_round`` check on the QC path, because the preferred
  round is below the last voted round, itself below r. On the TC path the bound
  is ``tc.highest_hqc_round``: any block committed before the TC has a QC that at
  least one honest signer of the TC reported, since quorums intersect.)
* **Timeout rule.** Sign a timeout for round r only if r >= last_voted_round,
  r follows our highest QC or a TC (``r == qc_round + 1 or r == tc.round + 1``),
  and our QC is not below our preferred (one-chain) round. Signing a timeout
  raises last_voted_round to r, so we never vote in a round we gave up.
* **Persist before release.** The new :class:`SafetyData` is saved (durably,
  for the file storage) before the signature is returned to the caller.

The rules trust the round manager to have verified the certificates' signatures
at ingress; they check the relations between rounds that make voting safe.
"""

from __future__ import annotations

from dataclasses import replace

from consensus.errors import SafetyViolation
from consensus.interfaces import Signer
from consensus.safety_storage import SafetyData, SafetyStorage
from consensus.types import (
    Block,
    QuorumCertificate,
    TimeoutCertificate,
    TimeoutMsg,
    Vote,
    VoteData,
    timeout_signing_bytes,
    vote_signing_bytes,
)


def safe_to_vote(block: Block, tc: TimeoutCertificate | None) -> bool:
    """Jolteon's voting condition on rounds (ignoring last_voted_round)."""
    qc_round = block.parent_round
    if block.round == qc_round + 1:
        return True
    return tc is not None and block.round == tc.round + 1 and qc_round >= tc.highest_hqc_round


def safe_to_timeout(
    round: int, qc_round: int, tc: TimeoutCertificate | None, data: SafetyData
) -> bool:
    """Jolteon's timeout condition: the round must follow our QC or a TC, and the QC be preferred."""
    tc_round = tc.round if tc is not None else 0
    follows = round == qc_round + 1 or round == tc_round + 1
    return follows and qc_round >= data.preferred_round


def make_vote_data(block: Block) -> VoteData:
    """Vote data for ``block`` with the two-chain commit decision.

    Voting for B of round r whose parent P has round r - 1 certifies a direct
    chain P <- B; once B has a QC, P commits. So the vote names P as committed.
    """
    consecutive = block.round == block.parent_round + 1
    return VoteData(
        epoch=block.epoch,
        block_id=block.id,
        block_round=block.round,
        parent_id=block.parent_id,
        parent_round=block.parent_round,
        commit_id=block.parent_id if consecutive else None,
    )


class SafetyRules:
    """Signs votes and timeouts only when the rules above allow it, persisting first."""

    def __init__(self, signer: Signer, storage: SafetyStorage, epoch: int) -> None:
        self._signer = signer
        self._storage = storage
        self._epoch = epoch
        data = storage.load()
        if data.epoch != epoch:
            # A new epoch starts with fresh rounds; the old data guards the old epoch only.
            data = SafetyData(epoch, 0, 0, None, 0)
            storage.save(data)
        self._data = data

    @property
    def data(self) -> SafetyData:
        return self._data

    def _persist(self, data: SafetyData) -> None:
        self._storage.save(data)
        self._data = data

    def construct_and_sign_vote(self, block: Block, tc: TimeoutCertificate | None) -> Vote:
        """Return a vote for ``block`` or raise :class:`SafetyViolation`.

        If we already voted in this round for this very block (e.g. the proposal
        is delivered again after a restart), the stored vote is returned unchanged:
        re-sending it is harmless, signing a different one would be equivocation.
        """
        data = self._data
        if block.epoch != self._epoch:
            raise SafetyViolation("vote for another epoch", round=block.round)
        last = data.last_vote
        if last is not None and last.data.block_round == block.round:
            if last.data.block_id == block.id:
                return last
            raise SafetyViolation("already voted for another block in this round", round=block.round)
        if block.round <= data.last_voted_round:
            raise SafetyViolation(
                "round not above last voted round",
                round=block.round,
                last_voted_round=data.last_voted_round,
            )
        if not safe_to_vote(block, tc):
            raise SafetyViolation("block does not extend the previous round's QC or a valid TC")
        vote_data = make_vote_data(block)
        vote = Vote(
            data=vote_data,
            author=self._signer.author,
            signature=self._signer.sign(vote_signing_bytes(vote_data)),
        )
        self._persist(
            replace(
                data,
                last_voted_round=block.round,
                preferred_round=max(data.preferred_round, block.parent_round),
                last_vote=vote,
            )
        )
        return vote

    def sign_timeout(
        self, round: int, high_qc: QuorumCertificate, tc: TimeoutCertificate | None
    ) -> TimeoutMsg:
        """Return a signed timeout for ``round`` or raise :class:`SafetyViolation`."""
        data = self._data
        if round < data.last_voted_round:
            raise SafetyViolation("timeout below last voted round", round=round)
        if not safe_to_timeout(round, high_qc.round, tc, data):
            raise SafetyViolation("timeout round does not follow our QC or TC", round=round)
        signature = self._signer.sign(timeout_signing_bytes(self._epoch, round, high_qc.round))
        new = replace(
            data,
            last_voted_round=max(data.last_voted_round, round),
            highest_timeout_round=max(data.highest_timeout_round, round),
        )
        if new != data:
            self._persist(new)
        return TimeoutMsg(
            epoch=self._epoch,
            round=round,
            high_qc=high_qc,
            author=self._signer.author,
            signature=signature,
        )
