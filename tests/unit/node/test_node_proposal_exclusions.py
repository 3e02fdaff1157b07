"""Which transactions a proposal must not carry again (node.replica_parts.proposal_exclusions).

The deadlock it fixes, seen on a 4-validator network with one node down: a leader proposed the only
pending transaction in the round just before the dead node's turn; the votes went to the dead node,
so that block was never certified and stayed in the tree as a fork. Every later leader excluded the
transaction because *some* block in the tree held it, had nothing else to propose, so nothing
committed, so the fork was never cleared: the transaction never committed."""

from __future__ import annotations

from consensus.types import BlockId
from node.replica_parts import proposal_exclusions

ROOT = BlockId(b"r" * 32)
PARENT = BlockId(b"p" * 32)
FORK = BlockId(b"f" * 32)
JUST_COMMITTED = BlockId(b"c" * 32)
TREE = {ROOT, PARENT, FORK}


def exclusions(path: set[BlockId], unapplied: set[bytes] = frozenset()) -> set[bytes]:  # type: ignore[assignment]
    block_txs = {ROOT: [b"in-root"], PARENT: [b"on-path"], FORK: [b"on-fork"], JUST_COMMITTED: [b"just-committed"]}
    return proposal_exclusions(block_txs, path, TREE.__contains__, ROOT, unapplied)


def test_a_transaction_of_an_uncertified_fork_may_be_proposed_again() -> None:
    assert b"on-fork" not in exclusions({PARENT})


def test_transactions_of_the_extended_path_the_root_and_just_committed_blocks_are_not_repeated() -> None:
    excluded = exclusions({PARENT}, {b"committed-not-applied"})
    assert excluded == {b"on-path", b"in-root", b"just-committed", b"committed-not-applied"}


def test_a_fork_block_that_becomes_the_path_excludes_its_transactions() -> None:
    assert b"on-fork" in exclusions({FORK})
