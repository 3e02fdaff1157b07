"""Consensus codec: every message round-trips; anything but the canonical bytes is a CodecError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.round_manager import RoundManager, Start, event_for_message
from consensus.safety_storage import InMemorySafetyStorage
from consensus.simulation import (
    Ed25519Verifier,
    SimExecutionEngine,
    SimPayloadSource,
    make_ed25519_validators,
)
from consensus.types import (
    Author,
    Block,
    BlockId,
    BlockRetrievalRequest,
    BlockRetrievalResponse,
    ConsensusMsg,
    ProposalMsg,
    QuorumCertificate,
    SyncInfo,
    SyncInfoMsg,
    TimeoutCertificate,
    TimeoutMsg,
    TimeoutSignature,
    Vote,
    VoteData,
    VoteMsg,
    decode_block,
    decode_message,
    decode_quorum_certificate,
    decode_timeout_certificate,
    decode_vote,
    decode_vote_data,
    encode_block,
    encode_message,
    encode_quorum_certificate,
    encode_timeout_certificate,
    encode_vote,
    encode_vote_data,
    make_genesis_block,
)
from ledger.errors import CodecError

rounds = st.integers(min_value=0, max_value=2**64 - 1)
epochs = st.just(1) | rounds  # often the replica's own epoch, to get past the first check
hashes = st.binary(min_size=32, max_size=32).map(BlockId)
authors = st.binary(min_size=1, max_size=40).map(Author)
sigs = st.binary(max_size=72)

vote_data = st.builds(
    VoteData,
    epoch=epochs,
    block_id=hashes,
    block_round=rounds,
    parent_id=hashes,
    parent_round=rounds,
    commit_id=st.none() | hashes,
)
qcs = st.builds(
    QuorumCertificate,
    data=vote_data,
    signatures=st.lists(st.tuples(authors, sigs), max_size=4).map(tuple),
)
tcs = st.builds(
    TimeoutCertificate,
    epoch=epochs,
    round=rounds,
    high_qc=qcs,
    signatures=st.lists(st.builds(TimeoutSignature, authors, rounds, sigs), max_size=4).map(tuple),
)
blocks = st.builds(
    Block,
    epoch=epochs,
    round=rounds,
    parent_qc=st.none() | qcs,
    payload=st.binary(max_size=64),
    author=authors,
    parent_execution_root=st.binary(max_size=32),
)
sync_infos = st.builds(SyncInfo, highest_qc=qcs, highest_commit_qc=qcs, highest_tc=st.none() | tcs)
votes = st.builds(Vote, data=vote_data, author=authors, signature=sigs)
messages: st.SearchStrategy[ConsensusMsg] = st.one_of(
    st.builds(ProposalMsg, block=blocks, sync_info=sync_infos, signature=sigs),
    st.builds(VoteMsg, vote=votes, sync_info=sync_infos),
    st.builds(TimeoutMsg, epoch=epochs, round=rounds, high_qc=qcs, author=authors, signature=sigs),
    st.builds(SyncInfoMsg, sync_info=sync_infos),
    st.builds(BlockRetrievalRequest, block_id=hashes, count=rounds),
    st.builds(
        BlockRetrievalResponse, block_id=hashes, blocks=st.lists(blocks, max_size=3).map(tuple)
    ),
)


@settings(max_examples=150, deadline=None)
@given(messages)
def test_message_round_trip(msg: ConsensusMsg) -> None:
    data = encode_message(msg)
    assert decode_message(data) == msg
    assert encode_message(decode_message(data)) == data


@settings(max_examples=100, deadline=None)
@given(blocks, qcs, tcs, votes, vote_data)
def test_part_round_trips_and_block_id_is_stable(
    block: Block, qc: QuorumCertificate, tc: TimeoutCertificate, vote: Vote, data: VoteData
) -> None:
    decoded = decode_block(encode_block(block))
    assert decoded == block and decoded.id == block.id
    assert decode_quorum_certificate(encode_quorum_certificate(qc)) == qc
    assert decode_timeout_certificate(encode_timeout_certificate(tc)) == tc
    assert decode_vote(encode_vote(vote)) == vote
    assert decode_vote_data(encode_vote_data(data)) == data


@settings(max_examples=100, deadline=None)
@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_rejected(msg: ConsensusMsg, junk: bytes) -> None:
    with pytest.raises(CodecError):
        decode_message(encode_message(msg) + junk)


@settings(max_examples=100, deadline=None)
@given(messages, st.data())
def test_truncated_bytes_rejected(msg: ConsensusMsg, data: st.DataObject) -> None:
    encoded = encode_message(msg)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(CodecError):
        decode_message(encoded[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    try:
        msg = decode_message(data)
    except CodecError:
        return
    assert encode_message(msg) == data


def _obj(value: object) -> bytes:
    packed = msgpack.packb(value, use_bin_type=True)
    assert isinstance(packed, bytes)
    return packed


@pytest.mark.parametrize(
    "raw",
    [
        _obj({"tag": 1}),  # maps are never canonical
        _obj([4]),  # wrong arity
        _obj([99, []]),  # unknown tag
        _obj([5, [b"\x00" * 31, 1]]),  # short hash
        _obj([5, [b"\x00" * 32, -1]]),  # negative count
        _obj([5, [b"\x00" * 32, True]]),  # bool is not an integer
        _obj([5, ["x" * 32, 1]]),  # str is not bytes
        b"\xcd\x00\x05",  # non-minimal integer encoding of 5
        b"",
    ],
)
def test_wrong_shapes_rejected(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode_message(raw)


def test_non_minimal_integer_inside_message_rejected() -> None:
    canonical = encode_message(BlockRetrievalRequest(BlockId(b"\x01" * 32), 5))
    assert canonical.endswith(b"\x05")
    padded = canonical[:-1] + b"\xcc\x05"  # uint8 form of 5: same value, other bytes
    with pytest.raises(CodecError):
        decode_message(padded)


def _replica() -> RoundManager:
    signers, validators = make_ed25519_validators(4)
    genesis = make_genesis_block(1, validators.fingerprint())
    manager = RoundManager(
        validators=validators,
        signer=signers[0],
        verifier=Ed25519Verifier(),
        safety_storage=InMemorySafetyStorage(epoch=1),
        payload_source=SimPayloadSource("r0"),
        execution=SimExecutionEngine(genesis.id),
    )
    manager.on_event(Start())
    return manager


@settings(max_examples=200, deadline=None)
@given(messages, authors)
def test_core_never_raises_on_garbage_messages(msg: ConsensusMsg, sender: Author) -> None:
    """Whatever decodes from the wire, the core drops or answers it; it never raises."""
    replica = _replica()
    replica.on_event(event_for_message(sender, msg))
    assert replica.current_round == 1
