"""Wire types of the consensus protocol and their one canonical encoding.

Everything that is hashed or signed is encoded here, and only here, as msgpack
*arrays* in a fixed field order (never maps: map order would make the bytes
depend on insertion order). Every ``decode_*`` function rejects trailing bytes,
wrong shapes, wrong types and non-canonical encodings by raising
:class:`ledger.errors.CodecError`, because these decoders face the network and
will be fuzzed.

Signatures are domain-separated (a distinct prefix per message kind) so a
signature over a vote can never be replayed as a signature over a timeout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NewType, Union

import msgpack

from ledger.errors import CodecError

BlockId = NewType("BlockId", bytes)
"""SHA-256 of a block's canonical bytes (32 bytes)."""

Author = NewType("Author", bytes)
"""A validator's identity: its public key bytes, as the validator set lists it."""

Round = int
Epoch = int

HASH_SIZE = 32

BLOCK_DOMAIN = b"JADECHAIN/CONSENSUS/BLOCK/v1\x00"
VOTE_DOMAIN = b"JADECHAIN/CONSENSUS/VOTE/v1\x00"
TIMEOUT_DOMAIN = b"JADECHAIN/CONSENSUS/TIMEOUT/v1\x00"
PROPOSAL_DOMAIN = b"JADECHAIN/CONSENSUS/PROPOSAL/v1\x00"

_MAX_UINT64 = 2**64 - 1


def sha256(data: bytes) -> bytes:
    """The hash of consensus identifiers. Fixed here; the ledger hash is carried inside payloads."""
    return hashlib.sha256(data).digest()


# --- wire types -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteData:
    """What a vote (and so a quorum certificate) certifies.

    Carries the commit decision of the two-chain rule so that a QC is also a
    commit certificate that a light client can check with the validator set only.
    """

    epoch: Epoch
    """Epoch of the validator set that signs."""
    block_id: BlockId
    """The block voted for."""
    block_round: Round
    """Round of the block voted for."""
    parent_id: BlockId
    """Parent of the block voted for (the block its QC certifies)."""
    parent_round: Round
    """Round of that parent."""
    commit_id: BlockId | None
    """The parent when ``block_round == parent_round + 1`` (two-chain commit rule), else None."""


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator's signed vote for one block in one round."""

    data: VoteData
    """The vote data that is signed."""
    author: Author
    """Who votes."""
    signature: bytes
    """Signature by ``author`` over ``vote_signing_bytes(data)``."""


@dataclass(frozen=True, slots=True)
class QuorumCertificate:
    """2f+1 votes on the same vote data: the block is certified.

    Signatures are sorted by author so that the encoding, and so the id of any
    block that embeds this QC, does not depend on the order votes arrived in.
    """

    data: VoteData
    """The certified vote data."""
    signatures: tuple[tuple[Author, bytes], ...]
    """(author, signature) pairs sorted by author, one per distinct author."""

    @property
    def block_id(self) -> BlockId:
        return self.data.block_id

    @property
    def round(self) -> Round:
        return self.data.block_round


@dataclass(frozen=True, slots=True)
class Block:
    """A proposed block. Its id is the hash of its canonical bytes, computed once."""

    epoch: Epoch
    """Epoch it belongs to."""
    round: Round
    """Round it is proposed in; strictly greater than its parent's round."""
    parent_qc: QuorumCertificate | None
    """Certificate of the parent block; None only for the genesis block."""
    payload: bytes
    """Opaque transaction batch (decoded by the mempool / executor, not by consensus)."""
    author: Author
    """The proposer (the round's leader); empty for genesis."""
    parent_execution_root: bytes
    """The proposer's execution result for the parent; replicas vote only if theirs agrees."""
    id: BlockId = field(init=False, repr=False, compare=False)
    """SHA-256 of the canonical bytes (derived, not encoded)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", BlockId(sha256(BLOCK_DOMAIN + encode_block(self))))

    @property
    def parent_id(self) -> BlockId:
        return self.parent_qc.block_id if self.parent_qc is not None else self.id

    @property
    def parent_round(self) -> Round:
        return self.parent_qc.round if self.parent_qc is not None else 0


@dataclass(frozen=True, slots=True)
class TimeoutSignature:
    """One validator's share of a timeout certificate."""

    author: Author
    """Who timed out."""
    high_qc_round: Round
    """The round of that validator's highest QC when it timed out."""
    signature: bytes
    """Signature over ``timeout_signing_bytes(epoch, round, high_qc_round)``."""


@dataclass(frozen=True, slots=True)
class TimeoutMsg:
    """A validator gives up on a round and reports its highest QC (Jolteon timeout)."""

    epoch: Epoch
    """Epoch of the signer."""
    round: Round
    """The round given up."""
    high_qc: QuorumCertificate
    """The signer's highest QC; only its round is signed, the QC is verified on its own."""
    author: Author
    """Who times out."""
    signature: bytes
    """Signature over ``timeout_signing_bytes(epoch, round, high_qc.round)``."""


@dataclass(frozen=True, slots=True)
class TimeoutCertificate:
    """2f+1 timeouts for one round: everybody may move to the next round."""

    epoch: Epoch
    """Epoch of the signers."""
    round: Round
    """The round that timed out."""
    high_qc: QuorumCertificate
    """The highest of the signers' high QCs; its round equals ``highest_hqc_round``."""
    signatures: tuple[TimeoutSignature, ...]
    """One share per distinct signer, sorted by author."""

    @property
    def highest_hqc_round(self) -> Round:
        return max((s.high_qc_round for s in self.signatures), default=0)


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """What a replica knows that lets another replica catch up to its round."""

    highest_qc: QuorumCertificate
    """Highest certified block."""
    highest_commit_qc: QuorumCertificate
    """Highest QC that commits a block (its ``commit_id`` is set), or the genesis QC."""
    highest_tc: TimeoutCertificate | None
    """Highest timeout certificate, if any is higher than the highest QC."""

    @property
    def highest_round(self) -> Round:
        tc_round = self.highest_tc.round if self.highest_tc is not None else 0
        return max(self.highest_qc.round, tc_round)


@dataclass(frozen=True, slots=True)
class ProposalMsg:
    """A leader's proposal: the block plus what justifies its round."""

    block: Block
    """The proposed block (it embeds the QC of its parent)."""
    sync_info: SyncInfo
    """The proposer's sync info; carries the TC when the block's QC is not from the previous round."""
    signature: bytes
    """The proposer's signature over ``proposal_signing_bytes(block.id)``."""


@dataclass(frozen=True, slots=True)
class VoteMsg:
    """A vote, sent to the leader of the next round."""

    vote: Vote
    """The vote."""
    sync_info: SyncInfo
    """The voter's sync info, so a lagging next leader can catch up."""


@dataclass(frozen=True, slots=True)
class SyncInfoMsg:
    """Sync info sent alone, in reply to a stale message from a lagging replica."""

    sync_info: SyncInfo
    """The sender's sync info."""


@dataclass(frozen=True, slots=True)
class BlockRetrievalRequest:
    """Ask a peer for ``count`` blocks ending at ``block_id``, walking parents."""

    block_id: BlockId
    """Newest block wanted."""
    count: int
    """How many blocks at most, newest first."""


@dataclass(frozen=True, slots=True)
class BlockRetrievalResponse:
    """Blocks newest first: ``blocks[i].parent_qc`` certifies ``blocks[i + 1]``."""

    block_id: BlockId
    """The block id that was requested."""
    blocks: tuple[Block, ...]
    """The chain, newest first; may be shorter than requested (genesis or unknown)."""


ConsensusMsg = Union[
    ProposalMsg, VoteMsg, TimeoutMsg, SyncInfoMsg, BlockRetrievalRequest, BlockRetrievalResponse
]


# --- genesis ----------------------------------------------------------------------


def make_genesis_block(epoch: Epoch, validator_set_fingerprint: bytes) -> Block:
    """The round-0 block every replica of the epoch starts from.

    Its payload is the validator set fingerprint so two different validator
    sets can never share a genesis id (and so never mix certificates).
    """
    return Block(
        epoch=epoch,
        round=0,
        parent_qc=None,
        payload=validator_set_fingerprint,
        author=Author(b""),
        parent_execution_root=b"",
    )


def make_genesis_qc(genesis: Block) -> QuorumCertificate:
    """The certificate of genesis: no signatures, recognised by equality, not by quorum."""
    data = VoteData(
        epoch=genesis.epoch,
        block_id=genesis.id,
        block_round=0,
        parent_id=genesis.id,
        parent_round=0,
        commit_id=None,
    )
    return QuorumCertificate(data=data, signatures=())


# --- signing bytes -----------------------------------------------------------------


def vote_signing_bytes(data: VoteData) -> bytes:
    """The bytes a voter signs."""
    return VOTE_DOMAIN + encode_vote_data(data)


def timeout_signing_bytes(epoch: Epoch, round: Round, high_qc_round: Round) -> bytes:
    """The bytes a timing-out validator signs (only the QC's round, as in Jolteon)."""
    return TIMEOUT_DOMAIN + _pack([epoch, round, high_qc_round])


def proposal_signing_bytes(block_id: BlockId) -> bytes:
    """The bytes a proposer signs."""
    return PROPOSAL_DOMAIN + block_id


# --- encoding ----------------------------------------------------------------------

Obj = object


def _pack(value: Obj) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _vote_data_obj(d: VoteData) -> list[Obj]:
    return [d.epoch, d.block_id, d.block_round, d.parent_id, d.parent_round, d.commit_id]


def _qc_obj(qc: QuorumCertificate) -> list[Obj]:
    return [_vote_data_obj(qc.data), [[a, s] for a, s in qc.signatures]]


def _block_obj(b: Block) -> list[Obj]:
    parent = _qc_obj(b.parent_qc) if b.parent_qc is not None else None
    return [b.epoch, b.round, parent, b.payload, b.author, b.parent_execution_root]


def _tc_obj(tc: TimeoutCertificate) -> list[Obj]:
    shares = [[s.author, s.high_qc_round, s.signature] for s in tc.signatures]
    return [tc.epoch, tc.round, _qc_obj(tc.high_qc), shares]


def _sync_info_obj(s: SyncInfo) -> list[Obj]:
    tc = _tc_obj(s.highest_tc) if s.highest_tc is not None else None
    return [_qc_obj(s.highest_qc), _qc_obj(s.highest_commit_qc), tc]


def _timeout_obj(t: TimeoutMsg) -> list[Obj]:
    return [t.epoch, t.round, _qc_obj(t.high_qc), t.author, t.signature]


def _vote_obj(v: Vote) -> list[Obj]:
    return [_vote_data_obj(v.data), v.author, v.signature]


def encode_vote_data(d: VoteData) -> bytes:
    return _pack(_vote_data_obj(d))


def encode_block(b: Block) -> bytes:
    return _pack(_block_obj(b))


def encode_quorum_certificate(qc: QuorumCertificate) -> bytes:
    return _pack(_qc_obj(qc))


def encode_timeout_certificate(tc: TimeoutCertificate) -> bytes:
    return _pack(_tc_obj(tc))


def encode_vote(v: Vote) -> bytes:
    return _pack(_vote_obj(v))


MSG_PROPOSAL = 1
MSG_VOTE = 2
MSG_TIMEOUT = 3
MSG_SYNC_INFO = 4
MSG_BLOCK_REQUEST = 5
MSG_BLOCK_RESPONSE = 6


def _message_obj(msg: ConsensusMsg) -> list[Obj]:
    if isinstance(msg, ProposalMsg):
        body: list[Obj] = [_block_obj(msg.block), _sync_info_obj(msg.sync_info), msg.signature]
        return [MSG_PROPOSAL, body]
    if isinstance(msg, VoteMsg):
        return [MSG_VOTE, [_vote_obj(msg.vote), _sync_info_obj(msg.sync_info)]]
    if isinstance(msg, TimeoutMsg):
        return [MSG_TIMEOUT, _timeout_obj(msg)]
    if isinstance(msg, SyncInfoMsg):
        return [MSG_SYNC_INFO, _sync_info_obj(msg.sync_info)]
    if isinstance(msg, BlockRetrievalRequest):
        return [MSG_BLOCK_REQUEST, [msg.block_id, msg.count]]
    return [MSG_BLOCK_RESPONSE, [msg.block_id, [_block_obj(b) for b in msg.blocks]]]


def encode_message(msg: ConsensusMsg) -> bytes:
    """Canonical bytes of any consensus message, tagged with its kind."""
    return _pack(_message_obj(msg))


# --- decoding ----------------------------------------------------------------------


def _unpack(data: bytes) -> Obj:
    if not isinstance(data, (bytes, bytearray)):
        raise CodecError("expected bytes")
    try:
        return msgpack.unpackb(bytes(data), use_list=True, raw=False, strict_map_key=True)
    except msgpack.ExtraData as exc:
        raise CodecError("trailing bytes after value") from exc
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise CodecError(f"malformed msgpack: {exc}") from exc


def _list(obj: Obj, length: int, what: str) -> list[Obj]:
    if not isinstance(obj, list) or len(obj) != length:
        raise CodecError(f"{what}: expected an array of {length}")
    return obj


def _int(obj: Obj, what: str) -> int:
    if not isinstance(obj, int) or isinstance(obj, bool) or not 0 <= obj <= _MAX_UINT64:
        raise CodecError(f"{what}: expected an unsigned 64-bit integer")
    return obj


def _bytes(obj: Obj, what: str) -> bytes:
    if not isinstance(obj, bytes):
        raise CodecError(f"{what}: expected bytes")
    return obj


def _hash(obj: Obj, what: str) -> BlockId:
    value = _bytes(obj, what)
    if len(value) != HASH_SIZE:
        raise CodecError(f"{what}: expected a {HASH_SIZE}-byte hash")
    return BlockId(value)


def _vote_data_from(obj: Obj) -> VoteData:
    f = _list(obj, 6, "vote data")
    commit = None if f[5] is None else _hash(f[5], "commit id")
    return VoteData(
        epoch=_int(f[0], "epoch"),
        block_id=_hash(f[1], "block id"),
        block_round=_int(f[2], "block round"),
        parent_id=_hash(f[3], "parent id"),
        parent_round=_int(f[4], "parent round"),
        commit_id=commit,
    )


def _qc_from(obj: Obj) -> QuorumCertificate:
    f = _list(obj, 2, "quorum certificate")
    if not isinstance(f[1], list):
        raise CodecError("quorum certificate: signatures must be an array")
    sigs = []
    for item in f[1]:
        pair = _list(item, 2, "signature pair")
        sigs.append((Author(_bytes(pair[0], "author")), _bytes(pair[1], "signature")))
    return QuorumCertificate(data=_vote_data_from(f[0]), signatures=tuple(sigs))


def _block_from(obj: Obj) -> Block:
    f = _list(obj, 6, "block")
    parent = None if f[2] is None else _qc_from(f[2])
    return Block(
        epoch=_int(f[0], "epoch"),
        round=_int(f[1], "round"),
        parent_qc=parent,
        payload=_bytes(f[3], "payload"),
        author=Author(_bytes(f[4], "author")),
        parent_execution_root=_bytes(f[5], "parent execution root"),
    )


def _tc_from(obj: Obj) -> TimeoutCertificate:
    f = _list(obj, 4, "timeout certificate")
    if not isinstance(f[3], list):
        raise CodecError("timeout certificate: signatures must be an array")
    shares = []
    for item in f[3]:
        s = _list(item, 3, "timeout signature")
        shares.append(
            TimeoutSignature(
                author=Author(_bytes(s[0], "author")),
                high_qc_round=_int(s[1], "high qc round"),
                signature=_bytes(s[2], "signature"),
            )
        )
    return TimeoutCertificate(
        epoch=_int(f[0], "epoch"),
        round=_int(f[1], "round"),
        high_qc=_qc_from(f[2]),
        signatures=tuple(shares),
    )


def _sync_info_from(obj: Obj) -> SyncInfo:
    f = _list(obj, 3, "sync info")
    tc = None if f[2] is None else _tc_from(f[2])
    return SyncInfo(highest_qc=_qc_from(f[0]), highest_commit_qc=_qc_from(f[1]), highest_tc=tc)


def _timeout_from(obj: Obj) -> TimeoutMsg:
    f = _list(obj, 5, "timeout")
    return TimeoutMsg(
        epoch=_int(f[0], "epoch"),
        round=_int(f[1], "round"),
        high_qc=_qc_from(f[2]),
        author=Author(_bytes(f[3], "author")),
        signature=_bytes(f[4], "signature"),
    )


def _vote_from(obj: Obj) -> Vote:
    f = _list(obj, 3, "vote")
    return Vote(
        data=_vote_data_from(f[0]),
        author=Author(_bytes(f[1], "author")),
        signature=_bytes(f[2], "signature"),
    )


def _message_from(obj: Obj) -> ConsensusMsg:
    tag_body = _list(obj, 2, "message")
    tag = _int(tag_body[0], "message tag")
    body = tag_body[1]
    if tag == MSG_PROPOSAL:
        f = _list(body, 3, "proposal")
        return ProposalMsg(
            block=_block_from(f[0]),
            sync_info=_sync_info_from(f[1]),
            signature=_bytes(f[2], "signature"),
        )
    if tag == MSG_VOTE:
        f = _list(body, 2, "vote message")
        return VoteMsg(vote=_vote_from(f[0]), sync_info=_sync_info_from(f[1]))
    if tag == MSG_TIMEOUT:
        return _timeout_from(body)
    if tag == MSG_SYNC_INFO:
        return SyncInfoMsg(sync_info=_sync_info_from(body))
    if tag == MSG_BLOCK_REQUEST:
        f = _list(body, 2, "block request")
        return BlockRetrievalRequest(block_id=_hash(f[0], "block id"), count=_int(f[1], "count"))
    if tag == MSG_BLOCK_RESPONSE:
        f = _list(body, 2, "block response")
        if not isinstance(f[1], list):
            raise CodecError("block response: blocks must be an array")
        blocks = tuple(_block_from(b) for b in f[1])
        return BlockRetrievalResponse(block_id=_hash(f[0], "block id"), blocks=blocks)
    raise CodecError(f"unknown message tag {tag}")


def _canonical(data: bytes, reencoded: bytes) -> None:
    if reencoded != bytes(data):
        raise CodecError("non-canonical encoding")


def decode_message(data: bytes) -> ConsensusMsg:
    """Decode any consensus message; raise CodecError on anything but canonical bytes."""
    msg = _message_from(_unpack(data))
    _canonical(data, encode_message(msg))
    return msg


def decode_block(data: bytes) -> Block:
    block = _block_from(_unpack(data))
    _canonical(data, encode_block(block))
    return block


def decode_vote_data(data: bytes) -> VoteData:
    vote_data = _vote_data_from(_unpack(data))
    _canonical(data, encode_vote_data(vote_data))
    return vote_data


def decode_quorum_certificate(data: bytes) -> QuorumCertificate:
    qc = _qc_from(_unpack(data))
    _canonical(data, encode_quorum_certificate(qc))
    return qc


def decode_timeout_certificate(data: bytes) -> TimeoutCertificate:
    tc = _tc_from(_unpack(data))
    _canonical(data, encode_timeout_certificate(tc))
    return tc


def decode_vote(data: bytes) -> Vote:
    vote = _vote_from(_unpack(data))
    _canonical(data, encode_vote(vote))
    return vote
