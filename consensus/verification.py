"""Verification of messages and certificates against the validator set, at ingress.

A certificate is valid only if: its epoch is ours, every signer is a validator,
no signer appears twice, there are at least ``quorum`` signers and every
signature verifies. Each check raises :class:`InvalidMessage` with its own
message, so a dropped message's log line says exactly why.

Verified certificates are remembered (by value; they are frozen), so a QC that
arrives embedded in a proposal, a vote and a timeout is checked once.
"""

from __future__ import annotations

from consensus.errors import InvalidMessage
from consensus.interfaces import SignatureVerifier, ValidatorSet
from consensus.types import (
    Author,
    ProposalMsg,
    QuorumCertificate,
    SyncInfo,
    TimeoutCertificate,
    TimeoutMsg,
    Vote,
    proposal_signing_bytes,
    timeout_signing_bytes,
    vote_signing_bytes,
)

_CACHE_LIMIT = 4096


class MessageVerifier:
    """Checks signatures and quorums for one epoch's validator set."""

    def __init__(
        self,
        validators: ValidatorSet,
        verifier: SignatureVerifier,
        genesis_qc: QuorumCertificate,
    ) -> None:
        self.validators = validators
        self._verifier = verifier
        self._genesis_qc = genesis_qc
        self._verified: dict[QuorumCertificate | TimeoutCertificate, None] = {}

    def _remember(self, key: QuorumCertificate | TimeoutCertificate) -> None:
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[key] = None

    def _check_signers(self, authors: list[Author]) -> None:
        seen: set[Author] = set()
        for author in authors:
            if not self.validators.contains(author):
                raise InvalidMessage("signer is not a validator", author=author.hex())
            if author in seen:
                raise InvalidMessage("duplicate signer", author=author.hex())
            seen.add(author)
        if len(seen) < self.validators.quorum:
            raise InvalidMessage(
                "not enough signers for a quorum", signers=len(seen), quorum=self.validators.quorum
            )

    def verify_qc(self, qc: QuorumCertificate) -> None:
        """Raise InvalidMessage unless ``qc`` is the genesis QC or a valid quorum of votes."""
        if qc.round == 0:
            if qc != self._genesis_qc:
                raise InvalidMessage("round-0 certificate is not the genesis certificate")
            return
        if qc.data.epoch != self.validators.epoch:
            raise InvalidMessage("certificate of another epoch", epoch=qc.data.epoch)
        if qc.data.parent_round >= qc.data.block_round:
            raise InvalidMessage("certified block's round is not above its parent's")
        consecutive = qc.data.block_round == qc.data.parent_round + 1
        if qc.data.commit_id != (qc.data.parent_id if consecutive else None):
            raise InvalidMessage("certificate's commit decision breaks the two-chain rule")
        if qc in self._verified:
            return
        authors = [a for a, _ in qc.signatures]
        if authors != sorted(authors):
            raise InvalidMessage("certificate signatures are not sorted by author")
        self._check_signers(authors)
        message = vote_signing_bytes(qc.data)
        for author, signature in qc.signatures:
            if not self._verifier.verify(author, message, signature):
                raise InvalidMessage("bad signature in certificate", author=author.hex())
        self._remember(qc)

    def verify_tc(self, tc: TimeoutCertificate) -> None:
        """Raise InvalidMessage unless ``tc`` is a valid quorum of timeouts for its round."""
        if tc.epoch != self.validators.epoch:
            raise InvalidMessage("timeout certificate of another epoch", epoch=tc.epoch)
        if tc.round == 0:
            raise InvalidMessage("timeout certificate for round 0")
        if tc in self._verified:
            return
        authors = [s.author for s in tc.signatures]
        if authors != sorted(authors):
            raise InvalidMessage("timeout signatures are not sorted by author")
        self._check_signers(authors)
        if tc.high_qc.round != tc.highest_hqc_round:
            raise InvalidMessage("timeout certificate's high QC is not the highest reported")
        if tc.high_qc.round >= tc.round:
            raise InvalidMessage("timeout certificate's high QC is not below its round")
        self.verify_qc(tc.high_qc)
        for share in tc.signatures:
            message = timeout_signing_bytes(tc.epoch, tc.round, share.high_qc_round)
            if not self._verifier.verify(share.author, message, share.signature):
                raise InvalidMessage("bad signature in timeout certificate", author=share.author.hex())
        self._remember(tc)

    def verify_sync_info(self, sync_info: SyncInfo) -> None:
        self.verify_qc(sync_info.highest_qc)
        commit_qc = sync_info.highest_commit_qc
        if commit_qc.round != 0 and commit_qc.data.commit_id is None:
            raise InvalidMessage("highest commit certificate commits nothing")
        self.verify_qc(commit_qc)
        if sync_info.highest_tc is not None:
            self.verify_tc(sync_info.highest_tc)

    def verify_vote(self, vote: Vote) -> None:
        data = vote.data
        if data.epoch != self.validators.epoch:
            raise InvalidMessage("vote of another epoch", epoch=data.epoch)
        if not self.validators.contains(vote.author):
            raise InvalidMessage("vote from a non-validator", author=vote.author.hex())
        if data.parent_round >= data.block_round:
            raise InvalidMessage("vote for a block whose round is not above its parent's")
        consecutive = data.block_round == data.parent_round + 1
        expected_commit = data.parent_id if consecutive else None
        if data.commit_id != expected_commit:
            raise InvalidMessage("vote's commit decision breaks the two-chain rule")
        if not self._verifier.verify(vote.author, vote_signing_bytes(data), vote.signature):
            raise InvalidMessage("bad vote signature", author=vote.author.hex())

    def verify_timeout(self, timeout: TimeoutMsg) -> None:
        if timeout.epoch != self.validators.epoch:
            raise InvalidMessage("timeout of another epoch", epoch=timeout.epoch)
        if not self.validators.contains(timeout.author):
            raise InvalidMessage("timeout from a non-validator", author=timeout.author.hex())
        if timeout.high_qc.round >= timeout.round:
            raise InvalidMessage("timeout's high QC is not below its round")
        self.verify_qc(timeout.high_qc)
        message = timeout_signing_bytes(timeout.epoch, timeout.round, timeout.high_qc.round)
        if not self._verifier.verify(timeout.author, message, timeout.signature):
            raise InvalidMessage("bad timeout signature", author=timeout.author.hex())

    def verify_proposal(self, proposal: ProposalMsg, leader: Author) -> None:
        """Signature, leader, epoch, structure; the embedded QC and sync info."""
        block = proposal.block
        if block.epoch != self.validators.epoch:
            raise InvalidMessage("proposal of another epoch", epoch=block.epoch)
        if block.parent_qc is None:
            raise InvalidMessage("proposal without a parent certificate")
        if block.author != leader:
            raise InvalidMessage("proposal not from the round's leader", round=block.round)
        if block.round <= block.parent_round:
            raise InvalidMessage("proposal round is not above its parent's")
        if not self._verifier.verify(block.author, proposal_signing_bytes(block.id), proposal.signature):
            raise InvalidMessage("bad proposal signature", author=block.author.hex())
        self.verify_qc(block.parent_qc)
        self.verify_sync_info(proposal.sync_info)
