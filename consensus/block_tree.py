"""The tree of uncommitted blocks above the last committed block, with their certificates.

Blocks enter only when their parent is already in the tree, so every block in
it is connected to the committed root. Commit follows the two-chain rule: block
B commits once its child B' with ``B'.round == B.round + 1`` is certified — the
QC of B' carries ``commit_id == B.id`` and is B's commit certificate. Committing
B commits all of its uncommitted ancestors too, oldest first, and prunes every
branch that does not descend from B.

Committed blocks leave the tree; ``committed_lookup`` (the consensus store)
still finds them, so lagging peers can fetch them.

The tree is mutable state owned by one round manager; it is not shared.
"""

from __future__ import annotations

from typing import Callable

from consensus.types import Block, BlockId, QuorumCertificate

CommittedLookup = Callable[[BlockId], "Block | None"]


def _nothing_committed(block_id: BlockId) -> Block | None:
    return None


class BlockTree:
    """Certified and uncommitted blocks, highest QC and highest commit certificate."""

    def __init__(
        self,
        root: Block,
        root_qc: QuorumCertificate,
        commit_qc: QuorumCertificate | None = None,
        committed_lookup: CommittedLookup = _nothing_committed,
    ) -> None:
        """``root`` is the last committed block, ``root_qc`` certifies it, ``commit_qc`` committed it."""
        self._root = root
        self._blocks: dict[BlockId, Block] = {root.id: root}
        self._children: dict[BlockId, list[BlockId]] = {root.id: []}
        self._qcs: dict[BlockId, QuorumCertificate] = {root.id: root_qc}
        self._committed_lookup = committed_lookup
        self.highest_qc = root_qc
        self.highest_commit_qc = commit_qc or root_qc

    @property
    def root(self) -> Block:
        """The last committed block."""
        return self._root

    def contains(self, block_id: BlockId) -> bool:
        """Whether the block is in the tree (the root or an uncommitted descendant)."""
        return block_id in self._blocks

    def is_known(self, block_id: BlockId) -> bool:
        """In the tree or already committed."""
        return block_id in self._blocks or self._committed_lookup(block_id) is not None

    def get(self, block_id: BlockId) -> Block | None:
        return self._blocks.get(block_id) or self._committed_lookup(block_id)

    def qc_for(self, block_id: BlockId) -> QuorumCertificate | None:
        return self._qcs.get(block_id)

    def insert_block(self, block: Block) -> bool:
        """Add a block whose parent is in the tree; False if stale, duplicate or disconnected."""
        if block.id in self._blocks or block.parent_qc is None:
            return False
        if block.round <= self._root.round:
            return False
        parent = self._blocks.get(block.parent_id)
        if parent is None or parent.round >= block.round:
            return False
        self._blocks[block.id] = block
        self._children[block.id] = []
        self._children[parent.id].append(block.id)
        # The parent's QC is inside the block: record it.
        self.insert_qc(block.parent_qc)
        return True

    def insert_qc(self, qc: QuorumCertificate) -> bool:
        """Record a (verified) QC of a block in the tree; False if the block is unknown."""
        if qc.block_id not in self._blocks:
            return self._committed_lookup(qc.block_id) is not None
        if qc.block_id not in self._qcs:
            self._qcs[qc.block_id] = qc
        if qc.round > self.highest_qc.round:
            self.highest_qc = qc
        return True

    def path_from_root(self, block_id: BlockId) -> list[Block] | None:
        """Uncommitted blocks from just above the root up to ``block_id``, oldest first."""
        path: list[Block] = []
        current = self._blocks.get(block_id)
        while current is not None and current.id != self._root.id:
            path.append(current)
            current = self._blocks.get(current.parent_id)
        if current is None:
            return None
        path.reverse()
        return path

    def commit(self, qc: QuorumCertificate) -> list[Block]:
        """Commit what ``qc`` commits by the two-chain rule; return the newly committed blocks.

        Returns an empty list if the QC commits nothing new, or if the blocks it
        names are not (yet) in the tree — the caller fetches them and retries.
        """
        commit_id = qc.data.commit_id
        if commit_id is None or commit_id not in self._blocks or commit_id == self._root.id:
            return []
        certified = self._blocks.get(qc.block_id)
        committed = self._blocks[commit_id]
        if certified is None or certified.parent_id != commit_id:
            return []
        if certified.round != committed.round + 1:
            return []
        path = self.path_from_root(commit_id)
        if not path:
            return []
        self.insert_qc(qc)
        if qc.round > self.highest_commit_qc.round:
            self.highest_commit_qc = qc
        self._prune(committed)
        return path

    def _prune(self, new_root: Block) -> None:
        keep: dict[BlockId, Block] = {}
        stack = [new_root.id]
        while stack:
            block_id = stack.pop()
            keep[block_id] = self._blocks[block_id]
            stack.extend(self._children[block_id])
        self._children = {block_id: self._children[block_id] for block_id in keep}
        self._qcs = {block_id: qc for block_id, qc in self._qcs.items() if block_id in keep}
        self._blocks = keep
        self._root = new_root

    def retrieve(self, block_id: BlockId, count: int) -> list[Block]:
        """Up to ``count`` blocks ending at ``block_id``, newest first (for a peer's request).

        Committed blocks come from ``committed_lookup``, so the caller must have
        recorded a commit before blocks below the new root are asked for.
        """
        blocks: list[Block] = []
        current = self.get(block_id)
        while current is not None and len(blocks) < count:
            blocks.append(current)
            if current.parent_qc is None:
                break
            current = self.get(current.parent_id)
        return blocks

    def uncommitted_payloads(self, block_id: BlockId) -> list[bytes]:
        """Payloads of the uncommitted chain ending at ``block_id``, oldest first."""
        path = self.path_from_root(block_id) or []
        return [b.payload for b in path]
