"""QC and TC formation by the round manager and their validation against the validator set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.errors import InvalidMessage
from consensus.round_manager import (
    Broadcast,
    ProposalReceived,
    RoundManager,
    Start,
    TimeoutReceived,
    VoteReceived,
)
from consensus.safety_rules import make_vote_data
from consensus.safety_storage import InMemorySafetyStorage
from consensus.simulation import (
    Ed25519Signer,
    Ed25519Verifier,
    SimExecutionEngine,
    SimPayloadSource,
    make_ed25519_validators,
)
from consensus.types import (
    Block,
    ProposalMsg,
    QuorumCertificate,
    SyncInfo,
    TimeoutCertificate,
    TimeoutMsg,
    TimeoutSignature,
    Vote,
    VoteMsg,
    make_genesis_block,
    make_genesis_qc,
    proposal_signing_bytes,
    timeout_signing_bytes,
    vote_signing_bytes,
)
from consensus.verification import MessageVerifier

SIGNERS, VALIDATORS = make_ed25519_validators(4)
GENESIS = make_genesis_block(1, VALIDATORS.fingerprint())
GENESIS_QC = make_genesis_qc(GENESIS)
GENESIS_SYNC = SyncInfo(GENESIS_QC, GENESIS_QC, None)
ROOT = SimExecutionEngine(GENESIS.id).state_root_for(GENESIS.id) or b""
OUTSIDER = Ed25519Signer(b"not a validator")
B1 = Block(1, 1, GENESIS_QC, b"tx", SIGNERS[1].author, ROOT)


def verifier() -> MessageVerifier:
    return MessageVerifier(VALIDATORS, Ed25519Verifier(), GENESIS_QC)


def signed_qc(block: Block, signers: list[Ed25519Signer]) -> QuorumCertificate:
    data = make_vote_data(block)
    sigs = sorted((s.author, s.sign(vote_signing_bytes(data))) for s in signers)
    return QuorumCertificate(data, tuple(sigs))


def timeout(signer: Ed25519Signer, round: int, high_qc: QuorumCertificate, epoch: int = 1) -> TimeoutMsg:
    sig = signer.sign(timeout_signing_bytes(epoch, round, high_qc.round))
    return TimeoutMsg(epoch, round, high_qc, signer.author, sig)


def test_valid_qc_and_quorum_size() -> None:
    assert VALIDATORS.quorum == 3 and VALIDATORS.max_faulty == 1
    verifier().verify_qc(signed_qc(B1, SIGNERS[:3]))
    verifier().verify_qc(signed_qc(B1, SIGNERS))


@pytest.mark.parametrize(
    "case",
    ["outsider", "duplicate", "too_few", "wrong_epoch", "bad_signature", "unsorted", "fake_genesis"],
)
def test_invalid_qc_rejected(case: str) -> None:
    qc = signed_qc(B1, SIGNERS[:3])
    if case == "outsider":
        qc = signed_qc(B1, [*SIGNERS[:2], OUTSIDER])
    elif case == "duplicate":
        qc = replace(qc, signatures=(qc.signatures[0], *qc.signatures[:2]))
    elif case == "too_few":
        qc = signed_qc(B1, SIGNERS[:2])
    elif case == "wrong_epoch":
        other = Block(2, 1, GENESIS_QC, b"tx", SIGNERS[1].author, ROOT)
        qc = signed_qc(other, SIGNERS[:3])
    elif case == "bad_signature":
        author, _ = qc.signatures[0]
        qc = replace(qc, signatures=((author, b"\x00" * 64), *qc.signatures[1:]))
    elif case == "unsorted":
        qc = replace(qc, signatures=tuple(reversed(qc.signatures)))
    elif case == "fake_genesis":
        qc = replace(GENESIS_QC, data=replace(GENESIS_QC.data, block_id=B1.id))
    with pytest.raises(InvalidMessage):
        verifier().verify_qc(qc)


def make_tc(round: int, shares: list[TimeoutMsg]) -> TimeoutCertificate:
    ordered = sorted(shares, key=lambda t: t.author)
    high = max((t.high_qc for t in ordered), key=lambda q: q.round)
    sigs = tuple(TimeoutSignature(t.author, t.high_qc.round, t.signature) for t in ordered)
    return TimeoutCertificate(1, round, high, sigs)


def test_tc_validation() -> None:
    qc1 = signed_qc(B1, SIGNERS[:3])
    shares = [timeout(SIGNERS[0], 2, qc1), timeout(SIGNERS[1], 2, GENESIS_QC), timeout(SIGNERS[2], 2, qc1)]
    tc = make_tc(2, shares)
    assert tc.highest_hqc_round == 1
    verifier().verify_tc(tc)
    with pytest.raises(InvalidMessage):  # claims a lower high QC than a signer reported
        verifier().verify_tc(replace(tc, high_qc=GENESIS_QC))
    with pytest.raises(InvalidMessage):  # only two signers
        verifier().verify_tc(make_tc(2, shares[:2]))
    with pytest.raises(InvalidMessage):  # a duplicated signer
        verifier().verify_tc(replace(tc, signatures=(tc.signatures[0], *tc.signatures[:2])))
    with pytest.raises(InvalidMessage):  # an outsider
        verifier().verify_tc(make_tc(2, [*shares[:2], timeout(OUTSIDER, 2, qc1)]))
    with pytest.raises(InvalidMessage):  # signed for epoch 2, presented as epoch 1
        verifier().verify_tc(make_tc(2, [*shares[:2], timeout(SIGNERS[3], 2, qc1, epoch=2)]))
    with pytest.raises(InvalidMessage):  # another epoch altogether
        verifier().verify_tc(replace(tc, epoch=2))


def replica(index: int) -> RoundManager:
    return RoundManager(
        validators=VALIDATORS,
        signer=SIGNERS[index],
        verifier=Ed25519Verifier(),
        safety_storage=InMemorySafetyStorage(epoch=1),
        payload_source=SimPayloadSource(f"r{index}"),
        execution=SimExecutionEngine(GENESIS.id),
    )


def signed_vote(signer: Ed25519Signer, block: Block) -> Vote:
    data = make_vote_data(block)
    return Vote(data, signer.author, signer.sign(vote_signing_bytes(data)))


def test_next_leader_forms_qc_from_quorum_of_votes_and_proposes() -> None:
    leader2 = replica(2)  # round-robin: leader of round 2 is validator 2
    leader2.on_event(Start())
    proposal = ProposalMsg(B1, GENESIS_SYNC, SIGNERS[1].sign(proposal_signing_bytes(B1.id)))
    leader2.on_event(ProposalReceived(SIGNERS[1].author, proposal))  # votes for itself
    assert leader2.current_round == 1
    out = leader2.on_event(VoteReceived(SIGNERS[0].author, VoteMsg(signed_vote(SIGNERS[0], B1), GENESIS_SYNC)))
    assert leader2.current_round == 1  # two votes are not a quorum
    # A vote of an outsider and a duplicate of a vote already counted change nothing.
    leader2.on_event(VoteReceived(OUTSIDER.author, VoteMsg(signed_vote(OUTSIDER, B1), GENESIS_SYNC)))
    leader2.on_event(VoteReceived(SIGNERS[0].author, VoteMsg(signed_vote(SIGNERS[0], B1), GENESIS_SYNC)))
    assert leader2.counters["dropped_invalid"] == 1 and leader2.current_round == 1
    out = leader2.on_event(VoteReceived(SIGNERS[3].author, VoteMsg(signed_vote(SIGNERS[3], B1), GENESIS_SYNC)))
    assert leader2.current_round == 2 and leader2.tree.highest_qc.block_id == B1.id
    proposals = [a.msg for a in out if isinstance(a, Broadcast) and isinstance(a.msg, ProposalMsg)]
    assert len(proposals) == 1
    qc = proposals[0].block.parent_qc
    assert qc is not None and len(qc.signatures) == 3
    verifier().verify_qc(qc)


def test_timeouts_form_tc_and_advance_round() -> None:
    r0 = replica(0)
    r0.on_event(Start())
    for signer in SIGNERS[1:3]:
        r0.on_event(TimeoutReceived(signer.author, timeout(signer, 1, GENESIS_QC)))
    # Two timeouts (f + 1) make r0 join; with its own that is a quorum: TC, round 2.
    assert r0.highest_tc is not None and r0.highest_tc.round == 1
    assert r0.current_round == 2
    verifier().verify_tc(r0.highest_tc)


def test_invalid_messages_are_dropped_and_counted_never_raised() -> None:
    r0 = replica(0)
    r0.on_event(Start())
    good = ProposalMsg(B1, GENESIS_SYNC, SIGNERS[1].sign(proposal_signing_bytes(B1.id)))
    wrong_leader_block = replace_block(B1, author=SIGNERS[2].author)
    bad = [
        replace(good, signature=b"\x01" * 64),
        ProposalMsg(wrong_leader_block, GENESIS_SYNC, SIGNERS[2].sign(proposal_signing_bytes(wrong_leader_block.id))),
        ProposalMsg(replace_block(B1, epoch=9), GENESIS_SYNC, b""),
        replace(good, sync_info=SyncInfo(signed_qc(B1, SIGNERS[:2]), GENESIS_QC, None)),
    ]
    for message in bad:
        actions = r0.on_event(ProposalReceived(SIGNERS[1].author, message))
        assert all(type(a).__name__ == "Log" for a in actions)
    r0.on_event(TimeoutReceived(OUTSIDER.author, timeout(OUTSIDER, 1, GENESIS_QC)))
    assert r0.counters["dropped_invalid"] == 5
    assert r0.current_round == 1


def replace_block(block: Block, **changes: object) -> Block:
    fields: dict[str, object] = {
        "epoch": block.epoch,
        "round": block.round,
        "parent_qc": block.parent_qc,
        "payload": block.payload,
        "author": block.author,
        "parent_execution_root": block.parent_execution_root,
    }
    fields.update(changes)
    return Block(**fields)  # type: ignore[arg-type]
