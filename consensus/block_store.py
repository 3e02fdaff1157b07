"""Durable home of the block tree (the role of Aptos' ConsensusDB), for recovery after a restart.

Safety after a crash needs only :mod:`consensus.safety_storage`. Liveness needs
more: a restarted replica's safety data may prefer a round whose QC only its
block tree remembered; without that QC it could neither vote nor sign a timeout
until peers showed it again, and if every replica restarted nobody could. So
the round manager writes every block and certificate it accepts to a
:class:`ConsensusStore` and, when built again, recovers its tree from it.

Committed blocks stay readable through ``committed_block`` so lagging peers can
fetch them; the node backs that by the ledger's block store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from consensus.types import Block, BlockId, QuorumCertificate, TimeoutCertificate


@dataclass(frozen=True, slots=True)
class RecoveryData:
    """What a restarted replica rebuilds its block tree from."""

    root: Block
    """Last committed block."""
    root_qc: QuorumCertificate
    """The QC certifying ``root`` (the genesis QC for genesis)."""
    commit_qc: QuorumCertificate
    """The certificate that committed ``root``: the highest commit certificate."""
    blocks: tuple[Block, ...]
    """Uncommitted blocks above the root, by increasing round."""
    qcs: tuple[QuorumCertificate, ...]
    """Known QCs of those blocks, by increasing round."""
    highest_tc: TimeoutCertificate | None
    """Highest timeout certificate seen."""


class ConsensusStore(Protocol):
    """Persistence of blocks and certificates. Writes may be buffered: losing the latest
    writes in a crash costs only catch-up work, never safety."""

    def save_block(self, block: Block) -> None: ...

    def save_quorum_certificate(self, qc: QuorumCertificate) -> None: ...

    def save_timeout_certificate(self, tc: TimeoutCertificate) -> None: ...

    def save_commit(self, blocks: Sequence[Block], commit_qc: QuorumCertificate) -> None:
        """``blocks`` (oldest first) are committed by ``commit_qc``; forks below may be dropped."""
        ...

    def recover(self) -> RecoveryData | None:
        """None on first start; the core then saves genesis as the first commit."""
        ...

    def committed_block(self, block_id: BlockId) -> Block | None: ...

    def commit_certificate(self, block_id: BlockId) -> QuorumCertificate | None:
        """The QC that committed a block (kept with it for proofs)."""
        ...


class InMemoryConsensusStore:
    """A store in memory; survives a simulated restart when the same object is reused."""

    def __init__(self) -> None:
        self._root: Block | None = None
        self._root_qc: QuorumCertificate | None = None
        self._commit_qc: QuorumCertificate | None = None
        self._blocks: dict[BlockId, Block] = {}
        self._qcs: dict[BlockId, QuorumCertificate] = {}
        self._tc: TimeoutCertificate | None = None
        self._committed: dict[BlockId, Block] = {}
        self._commit_qcs: dict[BlockId, QuorumCertificate] = {}

    def save_block(self, block: Block) -> None:
        self._blocks[block.id] = block
        if block.parent_qc is not None:
            self.save_quorum_certificate(block.parent_qc)

    def save_quorum_certificate(self, qc: QuorumCertificate) -> None:
        self._qcs.setdefault(qc.block_id, qc)

    def save_timeout_certificate(self, tc: TimeoutCertificate) -> None:
        if self._tc is None or tc.round > self._tc.round:
            self._tc = tc

    def save_commit(self, blocks: Sequence[Block], commit_qc: QuorumCertificate) -> None:
        for block in blocks:
            self._committed[block.id] = block
            self._commit_qcs[block.id] = commit_qc
        root = blocks[-1]
        self._root = root
        self._root_qc = self._qcs[root.id]
        self._commit_qc = commit_qc
        self._blocks = {i: b for i, b in self._blocks.items() if b.round > root.round}
        self._qcs = {i: q for i, q in self._qcs.items() if i in self._blocks or i == root.id}

    def recover(self) -> RecoveryData | None:
        if self._root is None or self._root_qc is None or self._commit_qc is None:
            return None
        return RecoveryData(
            root=self._root,
            root_qc=self._root_qc,
            commit_qc=self._commit_qc,
            blocks=tuple(sorted(self._blocks.values(), key=lambda b: b.round)),
            qcs=tuple(sorted(self._qcs.values(), key=lambda q: q.round)),
            highest_tc=self._tc,
        )

    def committed_block(self, block_id: BlockId) -> Block | None:
        return self._committed.get(block_id)

    def commit_certificate(self, block_id: BlockId) -> QuorumCertificate | None:
        return self._commit_qcs.get(block_id)
