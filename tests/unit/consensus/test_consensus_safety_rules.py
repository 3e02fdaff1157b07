"""Safety rules: never two votes in a round, never a vote at or below the last voted round,
the timeout-certificate path, and persistence before a signature leaves."""

from __future__ import annotations

import pytest

from consensus.errors import SafetyViolation
from consensus.safety_rules import SafetyRules, make_vote_data
from consensus.safety_storage import InMemorySafetyStorage, SafetyData
from consensus.simulation import Ed25519Verifier, make_ed25519_validators
from consensus.types import (
    Author,
    Block,
    BlockId,
    QuorumCertificate,
    TimeoutCertificate,
    TimeoutSignature,
    VoteData,
    make_genesis_block,
    make_genesis_qc,
    vote_signing_bytes,
)
from ledger.errors import StorageError

SIGNERS, VALIDATORS = make_ed25519_validators(4)
GENESIS = make_genesis_block(1, VALIDATORS.fingerprint())
GENESIS_QC = make_genesis_qc(GENESIS)


def certify(block: Block) -> QuorumCertificate:
    """A QC for ``block`` (the safety rules look at rounds, not at these signatures)."""
    data = make_vote_data(block)
    sigs = sorted((s.author, s.sign(vote_signing_bytes(data))) for s in SIGNERS[:3])
    return QuorumCertificate(data, tuple(sigs))


def child(parent_qc: QuorumCertificate, round: int, payload: bytes = b"tx") -> Block:
    return Block(1, round, parent_qc, payload, SIGNERS[round % 4].author, b"root")


def tc_for(round: int, high_qc: QuorumCertificate, hqc_rounds: list[int]) -> TimeoutCertificate:
    shares = tuple(
        TimeoutSignature(s.author, r, b"sig") for s, r in zip(SIGNERS[:3], hqc_rounds)
    )
    return TimeoutCertificate(1, round, high_qc, tuple(sorted(shares, key=lambda t: t.author)))


def rules(storage: InMemorySafetyStorage | None = None) -> SafetyRules:
    return SafetyRules(SIGNERS[0], storage or InMemorySafetyStorage(epoch=1), epoch=1)


def test_vote_is_signed_over_vote_data_and_carries_two_chain_commit() -> None:
    b1 = child(GENESIS_QC, 1)
    b2 = child(certify(b1), 2)
    vote = rules().construct_and_sign_vote(b2, None)
    assert vote.data.commit_id == b1.id
    assert Ed25519Verifier().verify(SIGNERS[0].author, vote_signing_bytes(vote.data), vote.signature)
    b3 = child(certify(b1), 3)
    assert make_vote_data(b3).commit_id is None  # rounds 1 -> 3 are not consecutive


def test_never_votes_twice_in_a_round() -> None:
    safety = rules()
    b1 = child(GENESIS_QC, 1, b"a")
    other = child(GENESIS_QC, 1, b"b")
    first = safety.construct_and_sign_vote(b1, None)
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(other, None)
    # The same proposal again gets the very same vote back, not a new signature.
    assert safety.construct_and_sign_vote(b1, None) == first


def test_never_votes_at_or_below_last_voted_round() -> None:
    safety = rules()
    b1 = child(GENESIS_QC, 1)
    b2 = child(certify(b1), 2)
    safety.construct_and_sign_vote(b2, None)
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(b1, None)
    assert safety.data.last_voted_round == 2
    assert safety.data.preferred_round == 1


def test_vote_needs_previous_round_qc_or_tc() -> None:
    safety = rules()
    b1 = child(GENESIS_QC, 1)
    qc1 = certify(b1)
    b3 = child(qc1, 3)
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(b3, None)
    # A TC of round 2 whose highest reported QC is round 1 justifies extending qc1 in round 3.
    tc2 = tc_for(2, qc1, [1, 0, 1])
    assert safety.construct_and_sign_vote(b3, tc2).data.block_round == 3


def test_tc_path_refuses_block_below_highest_reported_qc() -> None:
    safety = rules()
    b1 = child(GENESIS_QC, 1)
    b2 = child(certify(b1), 2)
    qc2 = certify(b2)
    tc3 = tc_for(3, qc2, [2, 1, 0])
    stale = child(certify(b1), 4)  # extends round 1 although someone reported a round-2 QC
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(stale, tc3)
    wrong_round_tc = tc_for(2, certify(b1), [1, 1, 1])
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(stale, wrong_round_tc)
    assert safety.construct_and_sign_vote(child(qc2, 4), tc3).data.block_round == 4


def test_timeout_blocks_later_vote_in_same_round() -> None:
    safety = rules()
    timeout = safety.sign_timeout(1, GENESIS_QC, None)
    assert timeout.round == 1 and safety.data.last_voted_round == 1
    assert safety.data.highest_timeout_round == 1
    with pytest.raises(SafetyViolation):
        safety.construct_and_sign_vote(child(GENESIS_QC, 1), None)


def test_timeout_rules() -> None:
    safety = rules()
    b1 = child(GENESIS_QC, 1)
    qc1 = certify(b1)
    safety.construct_and_sign_vote(child(qc1, 2), None)  # preferred round becomes 1
    with pytest.raises(SafetyViolation):
        safety.sign_timeout(1, GENESIS_QC, None)  # below last voted round
    with pytest.raises(SafetyViolation):
        safety.sign_timeout(3, qc1, None)  # round 3 follows neither qc1 nor a TC
    with pytest.raises(SafetyViolation):
        # follows a TC of round 2, but the QC is below our preferred round
        safety.sign_timeout(3, GENESIS_QC, tc_for(2, GENESIS_QC, [0, 0, 0]))
    assert safety.sign_timeout(2, qc1, None).round == 2  # timing out a round we voted in is fine


class FailingStorage(InMemorySafetyStorage):
    def save(self, data: SafetyData) -> None:
        raise StorageError("disk full")


def test_vote_is_not_released_when_persisting_fails() -> None:
    safety = SafetyRules(SIGNERS[0], FailingStorage(epoch=1), epoch=1)
    with pytest.raises(StorageError):
        safety.construct_and_sign_vote(child(GENESIS_QC, 1), None)
    assert safety.data.last_vote is None


def test_vote_persisted_before_return() -> None:
    storage = InMemorySafetyStorage(epoch=1)
    vote = rules(storage).construct_and_sign_vote(child(GENESIS_QC, 1), None)
    assert storage.load().last_vote == vote and storage.load().last_voted_round == 1


def test_new_epoch_resets_rounds() -> None:
    storage = InMemorySafetyStorage(epoch=1)
    rules(storage).construct_and_sign_vote(child(GENESIS_QC, 1), None)
    fresh = SafetyRules(SIGNERS[0], storage, epoch=2)
    assert fresh.data == SafetyData(2, 0, 0, None, 0)


def test_vote_data_fields() -> None:
    b1 = child(GENESIS_QC, 1)
    data = make_vote_data(b1)
    assert data == VoteData(1, b1.id, 1, GENESIS.id, 0, BlockId(GENESIS.id))
    assert isinstance(b1.author, bytes) and b1.author == Author(SIGNERS[1].author)
