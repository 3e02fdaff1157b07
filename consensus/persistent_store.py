"""A durable :class:`~consensus.block_store.ConsensusStore` on LevelDB (the role of Aptos' ConsensusDB).

One database per ledger, under ``<data_dir>/consensus/<ledger hash>/blocks``. It keeps

- the uncommitted block tree (blocks, their QCs, the highest TC), so a restarted replica
  rebuilds it (see :mod:`consensus.block_store` for why liveness needs this);
- every committed block with the QC that committed it, so lagging peers can fetch them;
- the commit log: committed block ids in commit order, numbered from 0 (genesis), which
  the node reads to hand blocks to the ledger in order even across a crash between
  "committed" and "applied";
- per block, the execution record the node attaches (opaque bytes: its execution root and
  ledger height), so the root of the committed tree root is known after a restart.

Writes are not fsynced (``sync=False``): losing the latest writes in a crash costs
catch-up work, never safety (the safety rules have their own fsynced file).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from consensus.block_store import RecoveryData
from consensus.types import (
    Block,
    BlockId,
    QuorumCertificate,
    TimeoutCertificate,
    decode_block,
    decode_quorum_certificate,
    decode_timeout_certificate,
    encode_block,
    encode_quorum_certificate,
    encode_timeout_certificate,
)
from ledger.store.leveldb import LevelDBStore

__all__ = ["LevelDBConsensusStore"]

_BLOCK = b"b/"  # uncommitted block by id
_QC = b"q/"  # QC by certified block id
_COMMITTED = b"k/"  # committed block by id
_COMMIT_QC = b"c/"  # QC that committed a block, by id
_LOG = b"l/"  # commit log: 8-byte big-endian sequence -> block id
_EXEC = b"x/"  # execution record by block id
_ROOT = b"m/root"
_COMMIT_QC_HIGHEST = b"m/commit_qc"
_TC = b"m/tc"
_LOG_NEXT = b"m/log_next"
_PRUNED_BELOW = b"m/pruned_below"  # commit-log sequences below this were pruned (genesis, 0, is kept)


def _seq(n: int) -> bytes:
    return n.to_bytes(8, "big")


class LevelDBConsensusStore:
    """Blocks, certificates and the commit log of one ledger's consensus, on LevelDB."""

    def __init__(self, path: str) -> None:
        self._db = LevelDBStore(path, sync=False)
        self._uncommitted: dict[BlockId, int] = {}
        for key, raw in self._db.iterate(_BLOCK):
            self._uncommitted[BlockId(key[len(_BLOCK):])] = decode_block(raw).round
        raw_next = self._db.get(_LOG_NEXT)
        self._log_next = int.from_bytes(raw_next, "big") if raw_next is not None else 0

    # --- the ConsensusStore protocol ----------------------------------------------------

    def save_block(self, block: Block) -> None:
        batch = self._db.atomic_batch()
        batch.put(_BLOCK + block.id, encode_block(block))
        if block.parent_qc is not None and self._db.get(_QC + block.parent_qc.block_id) is None:
            batch.put(_QC + block.parent_qc.block_id, encode_quorum_certificate(block.parent_qc))
        batch.commit()
        self._uncommitted[block.id] = block.round

    def save_quorum_certificate(self, qc: QuorumCertificate) -> None:
        if self._db.get(_QC + qc.block_id) is None:
            self._db.put(_QC + qc.block_id, encode_quorum_certificate(qc))

    def save_timeout_certificate(self, tc: TimeoutCertificate) -> None:
        raw = self._db.get(_TC)
        if raw is None or decode_timeout_certificate(raw).round < tc.round:
            self._db.put(_TC, encode_timeout_certificate(tc))

    def save_commit(self, blocks: Sequence[Block], commit_qc: QuorumCertificate) -> None:
        root = blocks[-1]
        encoded_qc = encode_quorum_certificate(commit_qc)
        batch = self._db.atomic_batch()
        for block in blocks:
            if self._db.get(_COMMITTED + block.id) is not None:
                continue  # replayed after a crash: already in the log
            batch.put(_COMMITTED + block.id, encode_block(block))
            batch.put(_COMMIT_QC + block.id, encoded_qc)
            batch.put(_LOG + _seq(self._log_next), block.id)
            self._log_next += 1
        batch.put(_LOG_NEXT, _seq(self._log_next))
        batch.put(_ROOT, root.id)
        batch.put(_COMMIT_QC_HIGHEST, encoded_qc)
        dropped = [block_id for block_id, round in self._uncommitted.items() if round <= root.round]
        for block_id in dropped:
            batch.delete(_BLOCK + block_id)
            if block_id != root.id:
                batch.delete(_QC + block_id)
        batch.commit()
        for block_id in dropped:
            del self._uncommitted[block_id]

    def recover(self) -> RecoveryData | None:
        root_id = self._db.get(_ROOT)
        raw_commit_qc = self._db.get(_COMMIT_QC_HIGHEST)
        if root_id is None or raw_commit_qc is None:
            return None
        raw_root = self._db.get(_COMMITTED + root_id)
        raw_root_qc = self._db.get(_QC + root_id)
        if raw_root is None or raw_root_qc is None:
            return None
        root = decode_block(raw_root)
        blocks = []
        for key, raw in self._db.iterate(_BLOCK):
            block = decode_block(raw)
            if block.round > root.round:
                blocks.append(block)
        blocks.sort(key=lambda b: b.round)
        known = {b.id for b in blocks}
        qcs = []
        for key, raw in self._db.iterate(_QC):
            if key[len(_QC):] in known:
                qcs.append(decode_quorum_certificate(raw))
        qcs.sort(key=lambda q: q.round)
        raw_tc = self._db.get(_TC)
        return RecoveryData(
            root=root,
            root_qc=decode_quorum_certificate(raw_root_qc),
            commit_qc=decode_quorum_certificate(raw_commit_qc),
            blocks=tuple(blocks),
            qcs=tuple(qcs),
            highest_tc=decode_timeout_certificate(raw_tc) if raw_tc is not None else None,
        )

    def committed_block(self, block_id: BlockId) -> Block | None:
        raw = self._db.get(_COMMITTED + block_id)
        return decode_block(raw) if raw is not None else None

    def commit_certificate(self, block_id: BlockId) -> QuorumCertificate | None:
        raw = self._db.get(_COMMIT_QC + block_id)
        return decode_quorum_certificate(raw) if raw is not None else None

    # --- beyond the protocol: fast-forward, the commit log and execution records ----------

    def root_snapshot(self) -> tuple[Block, QuorumCertificate, QuorumCertificate] | None:
        """The committed root, the QC certifying it and the highest commit QC (what a far-behind
        peer needs to fast-forward to this replica's root)."""
        root_id = self._db.get(_ROOT)
        raw_commit_qc = self._db.get(_COMMIT_QC_HIGHEST)
        if root_id is None or raw_commit_qc is None:
            return None
        raw_root = self._db.get(_COMMITTED + root_id)
        raw_root_qc = self._db.get(_QC + root_id)
        if raw_root is None or raw_root_qc is None:
            return None
        return decode_block(raw_root), decode_quorum_certificate(raw_root_qc), decode_quorum_certificate(raw_commit_qc)

    def fast_forward(self, root: Block, root_qc: QuorumCertificate, commit_qc: QuorumCertificate) -> None:
        """Make ``root`` (committed elsewhere, state obtained by ledger sync) the new root.

        The uncommitted tree is dropped; the commit log skips the blocks in between (their
        ledger blocks came from peers with their certificates). The caller rebuilds its
        round manager from :meth:`recover` afterwards.
        """
        batch = self._db.atomic_batch()
        for block_id in self._uncommitted:
            batch.delete(_BLOCK + block_id)
            batch.delete(_QC + block_id)
        batch.put(_COMMITTED + root.id, encode_block(root))
        batch.put(_COMMIT_QC + root.id, encode_quorum_certificate(commit_qc))
        batch.put(_QC + root.id, encode_quorum_certificate(root_qc))
        batch.put(_LOG + _seq(self._log_next), root.id)
        self._log_next += 1
        batch.put(_LOG_NEXT, _seq(self._log_next))
        batch.put(_ROOT, root.id)
        batch.put(_COMMIT_QC_HIGHEST, encode_quorum_certificate(commit_qc))
        batch.commit()
        self._uncommitted.clear()

    @property
    def log_size(self) -> int:
        """Number of committed blocks (genesis included)."""
        return self._log_next

    def iterate_log(self, start: int = 0) -> Iterator[tuple[int, Block]]:
        """Committed blocks in commit order from sequence ``start``."""
        for key, block_id in self._db.iterate(_LOG, _LOG + _seq(start)):
            block = self.committed_block(BlockId(block_id))
            if block is not None:
                yield int.from_bytes(key[len(_LOG):], "big"), block

    def iterate_log_reverse(self) -> Iterator[tuple[int, Block]]:
        """Committed blocks newest first."""
        for key, block_id in self._db.iterate(_LOG, reverse=True):
            block = self.committed_block(BlockId(block_id))
            if block is not None:
                yield int.from_bytes(key[len(_LOG):], "big"), block

    @property
    def pruned_below(self) -> int:
        """The lowest commit-log sequence still held besides genesis (1 when nothing was pruned)."""
        raw = self._db.get(_PRUNED_BELOW)
        return int.from_bytes(raw, "big") if raw is not None else 1

    def prune_log(self, keep: Callable[[BlockId, bytes | None], bool], limit: int = 1024) -> int:
        """Delete the oldest committed blocks, in commit order, while ``keep(block id, execution
        record)`` says False; at most ``limit`` per call. Returns how many were deleted.

        What goes: the committed block, the QC that committed it, its certifying QC and its execution
        record, and its commit-log entry. Genesis (sequence 0) and the committed root always stay, so
        :meth:`recover` and the node's replay of unapplied commits (which walks the log back only to
        the ledger's height) are unaffected. The caller keeps what a lagging peer may still fetch;
        a peer further behind fast-forwards instead of fetching blocks.
        """
        root_id = self._db.get(_ROOT)
        start = self.pruned_below
        batch = self._db.atomic_batch()
        deleted = 0
        next_start = start
        for key, block_id in self._db.iterate(_LOG, _LOG + _seq(start)):
            sequence = int.from_bytes(key[len(_LOG):], "big")
            if deleted >= limit or block_id == root_id or sequence >= self._log_next - 1:
                break
            if keep(BlockId(block_id), self._db.get(_EXEC + block_id)):
                break
            for prefix in (_COMMITTED, _COMMIT_QC, _QC, _EXEC):
                batch.delete(prefix + block_id)
            batch.delete(key)
            deleted += 1
            next_start = sequence + 1
        if deleted:
            batch.put(_PRUNED_BELOW, _seq(next_start))
            batch.commit()
        return deleted

    def put_execution_record(self, block_id: BlockId, record: bytes) -> None:
        self._db.put(_EXEC + block_id, record)

    def get_execution_record(self, block_id: BlockId) -> bytes | None:
        return self._db.get(_EXEC + block_id)

    def close(self) -> None:
        self._db.close()
