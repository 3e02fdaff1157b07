"""Block tree: the two-chain commit rule, pruning at commit, retrieval for peers."""

from __future__ import annotations

from consensus.block_store import InMemoryConsensusStore
from consensus.block_tree import BlockTree
from consensus.safety_rules import make_vote_data
from consensus.types import Author, Block, QuorumCertificate, make_genesis_block, make_genesis_qc

GENESIS = make_genesis_block(1, b"validators")
GENESIS_QC = make_genesis_qc(GENESIS)


def qc(block: Block) -> QuorumCertificate:
    # The tree trusts verified QCs; signatures are the verifier's business.
    return QuorumCertificate(make_vote_data(block), ())


def child(parent: Block, round: int, payload: bytes = b"") -> Block:
    parent_qc = GENESIS_QC if parent is GENESIS else qc(parent)
    return Block(1, round, parent_qc, payload, Author(b"leader"), b"")


def tree_with(*blocks: Block) -> BlockTree:
    tree = BlockTree(GENESIS, GENESIS_QC)
    for block in blocks:
        assert tree.insert_block(block)
    return tree


def test_consecutive_rounds_commit_the_parent() -> None:
    b1 = child(GENESIS, 1)
    b2 = child(b1, 2)
    tree = tree_with(b1, b2)
    assert tree.highest_qc.block_id == b1.id  # b2 carries b1's QC
    assert tree.commit(qc(b1)) == []  # QC(b1) commits genesis (already the root)
    assert tree.commit(qc(b2)) == [b1]
    assert tree.root == b1 and tree.highest_commit_qc == qc(b2)


def test_gap_in_rounds_commits_nothing_until_a_direct_child_is_certified() -> None:
    b1 = child(GENESIS, 1)
    b3 = child(b1, 3)  # round 2 timed out
    b4 = child(b3, 4)
    tree = tree_with(b1, b3, b4)
    assert qc(b3).data.commit_id is None
    assert tree.commit(qc(b3)) == []
    # b4 directly follows b3: QC(b4) commits b3 and, with it, its uncommitted ancestor b1.
    assert tree.commit(qc(b4)) == [b1, b3]
    assert tree.root == b3


def test_commit_prunes_forks_and_keeps_descendants() -> None:
    b1 = child(GENESIS, 1)
    b2 = child(b1, 2)
    fork = child(b1, 3, b"fork")
    b3 = child(b2, 3)
    tree = tree_with(b1, b2, fork, b3)
    assert tree.commit(qc(b3)) == [b1, b2]
    assert not tree.contains(fork.id) and not tree.contains(b1.id)
    assert tree.contains(b3.id) and tree.root == b2
    # Blocks at or below the committed round, or off the committed chain, are refused.
    assert not tree.insert_block(child(b1, 2, b"late"))
    assert not tree.insert_block(child(fork, 4))
    # Without a store of committed blocks, retrieval stops at the root...
    assert [b.id for b in tree.retrieve(b3.id, 10)] == [b3.id, b2.id]


def test_committed_blocks_are_served_from_the_store() -> None:
    b1 = child(GENESIS, 1)
    b2 = child(b1, 2)
    b3 = child(b2, 3)
    store = InMemoryConsensusStore()
    store.save_quorum_certificate(GENESIS_QC)
    store.save_commit([GENESIS], GENESIS_QC)
    tree = BlockTree(GENESIS, GENESIS_QC, committed_lookup=store.committed_block)
    for block in (b1, b2, b3):
        assert tree.insert_block(block)
        store.save_block(block)
    committed = tree.commit(qc(b3))
    store.save_commit(committed, qc(b3))
    assert [b.id for b in tree.retrieve(b3.id, 10)] == [b3.id, b2.id, b1.id, GENESIS.id]
    assert store.commit_certificate(b1.id) == qc(b3)
    recovery = store.recover()
    assert recovery is not None and recovery.root == b2 and recovery.blocks == (b3,)
    assert recovery.root_qc == qc(b2) and recovery.commit_qc == qc(b3)


def test_unknown_parent_is_not_inserted_and_qc_of_unknown_block_is_reported() -> None:
    b1 = child(GENESIS, 1)
    b2 = child(b1, 2)
    tree = tree_with()
    assert not tree.insert_block(b2)
    assert not tree.insert_qc(qc(b1))
    assert tree.commit(qc(b2)) == []


def test_uncommitted_payloads_oldest_first() -> None:
    b1 = child(GENESIS, 1, b"one")
    b2 = child(b1, 2, b"two")
    tree = tree_with(b1, b2)
    assert tree.uncommitted_payloads(b2.id) == [b"one", b"two"]
    assert tree.path_from_root(b2.id) == [b1, b2]
