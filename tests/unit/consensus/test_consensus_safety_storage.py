"""File safety storage: atomic, fsynced before the vote leaves, and a restart never double-votes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pytest

from consensus.errors import SafetyViolation
from consensus.round_manager import ProposalReceived, RoundManager, SendTo, Start
from consensus.safety_rules import SafetyRules
from consensus.safety_storage import (
    FileSafetyStorage,
    SafetyData,
    decode_safety_data,
    encode_safety_data,
)
from consensus.simulation import (
    Ed25519Verifier,
    SimExecutionEngine,
    SimPayloadSource,
    make_ed25519_validators,
)
from consensus.types import (
    Block,
    ProposalMsg,
    SyncInfo,
    VoteMsg,
    make_genesis_block,
    make_genesis_qc,
    proposal_signing_bytes,
)
from ledger.errors import CodecError

SIGNERS, VALIDATORS = make_ed25519_validators(4)
GENESIS = make_genesis_block(1, VALIDATORS.fingerprint())
GENESIS_QC = make_genesis_qc(GENESIS)


def block(round: int, payload: bytes) -> Block:
    return Block(1, round, GENESIS_QC, payload, SIGNERS[round % 4].author, b"")


def test_round_trip_and_no_temp_file_left(tmp_path: Path) -> None:
    path = tmp_path / "safety"
    storage = FileSafetyStorage(path)
    assert storage.load() == SafetyData(1, 0, 0, None, 0)
    vote = SafetyRules(SIGNERS[0], storage, 1).construct_and_sign_vote(block(1, b"a"), None)
    again = FileSafetyStorage(path).load()
    assert again.last_vote == vote and again.last_voted_round == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["safety"]


def test_file_and_directory_fsynced_before_vote_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    safety = SafetyRules(SIGNERS[0], FileSafetyStorage(tmp_path / "safety"), 1)
    calls.clear()
    safety.construct_and_sign_vote(block(1, b"a"), None)
    assert calls == ["fsync-file", "rename", "fsync-dir"]


def test_restarted_rules_never_double_vote(tmp_path: Path) -> None:
    path = tmp_path / "safety"
    first = SafetyRules(SIGNERS[0], FileSafetyStorage(path), 1)
    vote = first.construct_and_sign_vote(block(1, b"a"), None)
    restarted = SafetyRules(SIGNERS[0], FileSafetyStorage(path), 1)  # "process restart"
    with pytest.raises(SafetyViolation):
        restarted.construct_and_sign_vote(block(1, b"b"), None)
    assert restarted.construct_and_sign_vote(block(1, b"a"), None) == vote


def test_corrupt_safety_file_is_an_error_not_a_reset(tmp_path: Path) -> None:
    path = tmp_path / "safety"
    path.write_bytes(encode_safety_data(SafetyData(1, 7, 3, None, 7)) + b"junk")
    with pytest.raises(CodecError):
        FileSafetyStorage(path).load()
    with pytest.raises(CodecError):
        decode_safety_data(b"\x93\x01\x02\x03")


def make_manager(path: Path) -> RoundManager:
    return RoundManager(
        validators=VALIDATORS,
        signer=SIGNERS[3],
        verifier=Ed25519Verifier(),
        safety_storage=FileSafetyStorage(path),
        payload_source=SimPayloadSource("x"),
        execution=SimExecutionEngine(GENESIS.id),
    )


def proposal(payload: bytes) -> ProposalMsg:
    engine = SimExecutionEngine(GENESIS.id)
    leader = SIGNERS[1]
    root = engine.state_root_for(GENESIS.id)
    assert root is not None
    b = Block(1, 1, GENESIS_QC, payload, leader.author, root)
    return ProposalMsg(b, SyncInfo(GENESIS_QC, GENESIS_QC, None), leader.sign(proposal_signing_bytes(b.id)))


def votes_in(actions: Sequence[object]) -> list[VoteMsg]:
    return [a.msg for a in actions if isinstance(a, SendTo) and isinstance(a.msg, VoteMsg)]


def test_restarted_replica_resends_same_vote_and_refuses_conflicting(tmp_path: Path) -> None:
    path = tmp_path / "safety"
    replica = make_manager(path)
    replica.on_event(Start())
    original = proposal(b"a")
    first = votes_in(replica.on_event(ProposalReceived(SIGNERS[1].author, original)))
    assert len(first) == 1

    restarted = make_manager(path)
    restarted.on_event(Start())
    conflicting = proposal(b"b")
    assert votes_in(restarted.on_event(ProposalReceived(SIGNERS[1].author, conflicting))) == []
    assert restarted.counters["vote_refused"] == 1

    again = make_manager(path)
    again.on_event(Start())
    resent = votes_in(again.on_event(ProposalReceived(SIGNERS[1].author, original)))
    assert [m.vote for m in resent] == [first[0].vote]
