"""What the consensus core needs from the outside world, as small injected interfaces.

The core never touches keys, the mempool, the executor or the disk directly:
signing (:class:`Signer`, :class:`SignatureVerifier`), the mempool
(:class:`PayloadSource`), the executor (:class:`ExecutionEngine`), persistence
(:class:`SafetyStorage` for the safety rules, :class:`ConsensusStore` for the
block tree — both re-exported here) and who leads (:class:`ProposerElection`).
the node adapts ``ledger.crypto``, the mempool and the ledger executor to these
protocols, and the simulator plugs in deterministic fakes. That is what keeps
the core sans-IO and its tests deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import msgpack

from consensus.block_store import ConsensusStore, RecoveryData
from consensus.safety_storage import SafetyData, SafetyStorage
from consensus.types import Author, BlockId, Epoch, sha256
from ledger.certificate import max_faulty

__all__ = [
    "ConsensusStore",
    "ExecutionEngine",
    "PayloadSource",
    "ProposerElection",
    "RecoveryData",
    "SafetyData",
    "SafetyStorage",
    "SignatureVerifier",
    "Signer",
    "ValidatorSet",
]


class Signer(Protocol):
    """Holds this replica's private key. ``author`` is the id the validator set lists."""

    @property
    def author(self) -> Author: ...

    def sign(self, msg: bytes) -> bytes: ...


class SignatureVerifier(Protocol):
    """Checks a signature of ``author`` (its public key bytes) over ``msg``; never raises."""

    def verify(self, author: Author, msg: bytes, sig: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """The validators of one epoch, each with voting power 1.

    With n = 3f + 1 validators any two quorums of 2f + 1 intersect in at least
    one honest validator; that intersection is what the safety rules rely on.
    The order of ``authors`` is the order of the on-chain participant list and
    fixes round-robin leader election.
    """

    epoch: Epoch
    """The epoch these validators serve."""
    authors: tuple[Author, ...]
    """Distinct validator ids in on-chain order."""
    _members: frozenset[Author] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.authors)) != len(self.authors) or not self.authors:
            raise ValueError("a validator set needs distinct, at least one, authors")
        object.__setattr__(self, "_members", frozenset(self.authors))

    @property
    def size(self) -> int:
        return len(self.authors)

    @property
    def max_faulty(self) -> int:
        """f: the most Byzantine validators the set tolerates."""
        return max_faulty(self.size)

    @property
    def quorum(self) -> int:
        """Votes needed for a certificate: n - f (equal to 2f + 1 when n = 3f + 1)."""
        return self.size - self.max_faulty

    def contains(self, author: Author) -> bool:
        return author in self._members

    def fingerprint(self) -> bytes:
        """Deterministic hash of (epoch, ordered authors); goes into the genesis block."""
        packed: bytes = msgpack.packb([self.epoch, list(self.authors)], use_bin_type=True)
        return sha256(b"JADECHAIN/CONSENSUS/VALIDATORS/v1\x00" + packed)


class PayloadSource(Protocol):
    """The mempool as the proposer sees it."""

    def pull(self, max_txs: int, max_bytes: int, exclude: Sequence[bytes]) -> bytes:
        """Return a batch (possibly empty) of at most ``max_txs`` transactions and ``max_bytes``.

        ``exclude`` holds the payloads of the uncommitted ancestors of the block
        being proposed, oldest first; the mempool must not repeat their
        transactions (it decodes them into transaction ids).
        """
        ...


class ExecutionEngine(Protocol):
    """The ledger executor. Execution is speculative until ``commit``.

    The engine must know the genesis block id given to the core and return a
    root for it from ``state_root_for``.
    """

    def execute(self, block_id: BlockId, parent_id: BlockId, payload: bytes) -> bytes:
        """Execute ``payload`` on top of ``parent_id``'s state; return the new state root."""
        ...

    def commit(self, block_ids: Sequence[BlockId]) -> None:
        """Make these executed blocks final, oldest first; forks of them may be dropped."""
        ...

    def state_root_for(self, block_id: BlockId) -> bytes | None:
        """The execution root of an executed block, or None if it was never executed."""
        ...


class ProposerElection(Protocol):
    """Who leads a round. Must be a pure function of data all honest replicas share."""

    def leader(self, round: int) -> Author: ...
