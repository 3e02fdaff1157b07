"""Pieces of a replica that need no event loop: payload codec, execution records, mempool adapter.

Payload. A consensus block's payload is one of

- ``b""`` — an empty block, proposed by the core only when needed for progress; it makes
  no ledger block;
- canonical msgpack ``[proposer_time_ms, [encoded tx, ...]]`` — a *ledger block* (possibly
  with no transaction: a *seal*, which certifies the roots of the block before it, since a
  header carries the previous block's roots);
- canonical msgpack ``[proposer_time_ms, nil]`` — a *heartbeat*: no ledger block, but a
  non-empty payload, so the core proposes one more (empty) block on top of it; that is what
  spreads the certificate committing the seal to every replica on a quiet network.

After the last transaction block the leaders propose: seal, heartbeat, empty — then stop
until transactions arrive. Every replica turns the same committed chain into the same
ledger blocks: ``ledger.make_block(txs, time=proposer_time_ms, proposer=author)`` (in the
ledger's current epoch; each epoch has its own consensus instance, see :mod:`node.replica`).

Execution record. The core wants an execution root per block; execution itself happens
at commit (consensus safety does not need state roots; divergence is caught by the commit
attestations). The root is the chain digest ``H(parent root ‖ H(payload))``; next to it the
record keeps the ledger height the block leads to, the chain's proposer time and whether the
last ledger block still needs a seal.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

import msgpack

from consensus.persistent_store import LevelDBConsensusStore
from consensus.types import BlockId
from ledger.executor import SignedTransaction
from ledger.ledger import BlockResult, Ledger
from ledger.types import Transaction
from node.mempool import Mempool, SubmitResult

__all__ = [
    "KIND_EMPTY",
    "KIND_HEARTBEAT",
    "KIND_SEAL",
    "KIND_TXS",
    "ChainExecution",
    "DecodedPayload",
    "ExecutionRecord",
    "ReplicaMempool",
    "apply_payload_txs",
    "decode_payload",
    "encode_payload",
]

KIND_EMPTY = 0
KIND_HEARTBEAT = 1
KIND_SEAL = 2
KIND_TXS = 3


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    kind: int
    time_ms: int
    txs: tuple[bytes, ...]


_EMPTY = DecodedPayload(KIND_EMPTY, 0, ())


def encode_payload(time_ms: int, txs: Sequence[bytes] | None) -> bytes:
    packed: bytes = msgpack.packb([time_ms, None if txs is None else list(txs)], use_bin_type=True)
    return packed


def decode_payload(payload: bytes, max_txs: int | None = None) -> DecodedPayload:
    """Decode a payload; ``ValueError`` if it is not one of the three shapes."""
    if not payload:
        return _EMPTY
    try:
        items = msgpack.unpackb(payload, raw=True, max_bin_len=len(payload))
    except Exception as exc:
        raise ValueError(f"payload is not msgpack: {type(exc).__name__}") from exc
    if not isinstance(items, list) or len(items) != 2:
        raise ValueError("payload is not [time, txs]")
    time_ms, txs = items
    if not isinstance(time_ms, int) or isinstance(time_ms, bool) or not 0 <= time_ms < 1 << 62:
        raise ValueError("payload time is not a non-negative integer")
    if txs is None:
        return DecodedPayload(KIND_HEARTBEAT, time_ms, ())
    if not isinstance(txs, list) or (txs and set(map(type, txs)) != {bytes}):  # msgpack bin is exactly bytes
        raise ValueError("payload transactions are not a list of byte strings")
    if max_txs is not None and len(txs) > max_txs:
        raise ValueError(f"payload carries {len(txs)} transactions, the limit is {max_txs}")
    return DecodedPayload(KIND_TXS if txs else KIND_SEAL, time_ms, tuple(txs))


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    root: bytes
    """Chain digest ``H(parent root ‖ H(payload))``."""
    height: int
    """Ledger height after this block."""
    time_ms: int
    """Latest proposer time on the chain up to this block."""
    unsealed: bool
    """The chain's last ledger block carries transactions (or is genesis): a seal is due."""
    kind: int
    """What this block's own payload is (KIND_*)."""

    def encode(self) -> bytes:
        packed: bytes = msgpack.packb(
            [self.root, self.height, self.time_ms, self.unsealed, self.kind], use_bin_type=True
        )
        return packed

    @classmethod
    def decode(cls, raw: bytes) -> "ExecutionRecord":
        root, height, time_ms, unsealed, kind = msgpack.unpackb(raw, raw=True)
        return cls(root, height, time_ms, unsealed, kind)


class ChainExecution:
    """The core's :class:`~consensus.interfaces.ExecutionEngine`: chain digests and ledger heights.

    Records are kept in memory for the uncommitted tree and persisted in the consensus
    store, so the committed root's record survives a restart.
    """

    def __init__(
        self, store: LevelDBConsensusStore, genesis_id: BlockId, ledger_hash: bytes, *,
        epoch: int = 0, height: int = 0, time_ms: int = 0,
    ) -> None:
        """``epoch``/``height``/``time_ms``: the ledger epoch this consensus instance decides, the
        ledger height it starts from (the block that ended the previous epoch) and that block's time."""
        self._store = store
        self._records: dict[BlockId, ExecutionRecord] = {}
        seed = b"JADECHAIN/CHAIN/GENESIS\x00" + ledger_hash
        if epoch:
            seed += epoch.to_bytes(8, "big")
        genesis = ExecutionRecord(hashlib.sha256(seed).digest(), height, time_ms, True, KIND_EMPTY)
        self._records[genesis_id] = genesis
        self.genesis_id = genesis_id
        self.on_execute: Callable[[BlockId, bytes], None] | None = None
        """Told about every block entering the tree (the node claims its transactions)."""

    def record(self, block_id: BlockId) -> ExecutionRecord | None:
        found = self._records.get(block_id)
        if found is None:
            raw = self._store.get_execution_record(block_id)
            if raw is not None:
                found = ExecutionRecord.decode(raw)
                self._records[block_id] = found
        return found

    def execute(self, block_id: BlockId, parent_id: BlockId, payload: bytes) -> bytes:
        parent = self.record(parent_id)
        if parent is None:
            raise RuntimeError("executing a block whose parent was never executed")
        try:
            decoded = decode_payload(payload)
        except ValueError:
            decoded = _EMPTY  # deterministic on every replica: an undecodable payload makes nothing
        root = hashlib.sha256(parent.root + hashlib.sha256(payload).digest()).digest()
        if decoded.kind in (KIND_SEAL, KIND_TXS):
            record = ExecutionRecord(
                root, parent.height + 1, max(parent.time_ms, decoded.time_ms), decoded.kind == KIND_TXS,
                decoded.kind,
            )
        else:
            time_ms = max(parent.time_ms, decoded.time_ms)
            record = ExecutionRecord(root, parent.height, time_ms, parent.unsealed, decoded.kind)
        self._records[block_id] = record
        self._store.put_execution_record(block_id, record.encode())
        if self.on_execute is not None and decoded.kind == KIND_TXS:
            self.on_execute(block_id, payload)
        return root

    def commit(self, block_ids: Sequence[BlockId]) -> None:
        # The newest committed block stays (it is the tree root); older records live on disk.
        for block_id in block_ids[:-1]:
            if block_id != self.genesis_id:
                self._records.pop(block_id, None)

    def forget(self, keep: Collection[BlockId]) -> None:
        """Drop in-memory records of blocks no longer in the tree."""
        for block_id in list(self._records):
            if block_id not in keep and block_id != self.genesis_id:
                del self._records[block_id]

    def state_root_for(self, block_id: BlockId) -> bytes | None:
        record = self.record(block_id)
        return None if record is None else record.root


def proposal_exclusions(
    block_txs: Mapping[BlockId, Sequence[bytes]],
    path_ids: Collection[BlockId],
    in_tree: Callable[[BlockId], bool],
    root_id: BlockId,
    unapplied: Collection[bytes],
) -> set[bytes]:
    """Transactions a proposal extending ``path_ids`` must not carry again.

    Excluded: those of the uncommitted blocks it extends (``path_ids``), of the committed root and of
    blocks committed but not applied yet (``unapplied``, and blocks already gone from the tree but
    still in ``block_txs`` because they were committed within the current event). NOT excluded: those
    of blocks on other forks of the tree. Such a block (say, proposed just before a crashed leader's
    turn, so its votes went nowhere) may never be certified; excluding its transactions until the
    next commit cleared it was a deadlock on an otherwise idle network — nothing else to propose,
    so no commit, so the fork never cleared and the transactions never committed.
    """
    excluded: set[bytes] = set(unapplied)
    for block_id, hashes in block_txs.items():
        if block_id in path_ids or block_id == root_id or not in_tree(block_id):
            excluded.update(hashes)
    return excluded


PROPOSAL_DECODED_LIMIT = 50_000
"""Transactions decoded from proposals kept for their gossip's ingress (older ones are decoded again)."""


class ReplicaMempool(Mempool):
    """The node's mempool plus what a replica needs around it.

    - every admitted transaction by its encoded bytes, so a proposal's transactions that ingress
      already handled are found, not decoded again (:meth:`signed_of`); and the other way round,
      a transaction first met in a proposal is not decoded again when its gossip arrives;
    - an outbox of transactions accepted from clients, gossiped to the other validators
      (transactions from peers are not gossiped again);
    - :meth:`peek_raw`: proposals take transactions without removing them (the replica
      excludes those of the uncommitted ancestors), so a proposal that is never certified
      loses nothing; :meth:`remove_committed` is O(1) per transaction.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_encoded: dict[bytes, SignedTransaction] = {}
        self._from_proposals: dict[bytes, SignedTransaction] = {}
        """Transactions decoded from proposals before ingress saw them (oldest first, bounded)."""
        self._outbox: list[tuple[bytes, bytes]] = []
        """(encoded, tx hash) of client transactions admitted since the last gossip."""
        self.hold_gossiped = False
        """Keep client transactions out of proposals until :meth:`release` (the replica sets it:
        see :class:`node.gossip.GossipAdmission.track_own`)."""
        self._held: set[bytes] = set()
        self.on_accepted: Any = None
        """Called (from any thread) after a submission admitted transactions."""
        self.verify_seconds = 0.0

    def submit_many(
        self, items: Sequence[bytes | Transaction | SignedTransaction], *, now_ms: int | None = None,
        from_peer: bool = False, signatures_vouched: bool = False, verify_workers: int | None = None,
    ) -> list[SubmitResult]:
        started = time.perf_counter()
        # A peer's chunk is verified on its own (gossip) thread, not queued in the shared verify
        # pool behind client batches: other validators wait for its attestation (node.gossip).
        results = super().submit_many(items, now_ms=now_ms, signatures_vouched=signatures_vouched,
                                      verify_workers=verify_workers or (1 if from_peer else None))
        elapsed = time.perf_counter() - started
        accepted = 0
        with self._lock:
            self.verify_seconds += elapsed
            for result in results:
                if not result.accepted or result.tx_hash is None:
                    continue
                entry = self._pending.get(result.tx_hash)
                if entry is None:
                    continue
                self._by_encoded[entry.signed.encoded] = entry.signed
                if not from_peer:
                    self._outbox.append((entry.signed.encoded, entry.tx_hash))
                    if self.hold_gossiped:
                        self._held.add(entry.tx_hash)
                accepted += 1
        if accepted and self.on_accepted is not None:
            self.on_accepted()
        return results

    def holds_verified(self, raws: Sequence[bytes], results: Sequence[SubmitResult]) -> bool:
        """Is every one of ``raws`` (with its ``submit_many`` results), byte for byte, a transaction
        this pool holds as verified? What a gossip attestation claims (:mod:`node.gossip`)."""
        with self._lock:
            return all(
                result.tx_hash is not None and self._checked_exactly(result.tx_hash, raw)
                for raw, result in zip(raws, results)
            ) and len(raws) == len(results)

    def take_outbox(self) -> list[tuple[bytes, bytes]]:
        """(encoded, tx hash) of the client transactions admitted since the last call."""
        with self._lock:
            outbox, self._outbox = self._outbox, []
        return outbox

    def release(self, tx_hashes: Collection[bytes]) -> None:
        """Held client transactions may be proposed now."""
        with self._lock:
            self._held.difference_update(tx_hashes)

    @property
    def held(self) -> int:
        """Client transactions held back from proposals (waiting for attestations of their gossip)."""
        return len(self._held)

    def peek_raw(self, max_txs: int, max_bytes: int, exclude: Collection[bytes], *,
                 include_held: bool = False) -> list[bytes]:
        """Up to ``max_txs`` waiting transactions (``max_bytes`` encoded) not in ``exclude``, round-robin
        across signers, each signer's in submission order, as encoded transactions.

        Nothing leaves the pool: a transaction stays until a committed block holds it, so a
        proposal that is never certified costs nothing (the next leader proposes it again).
        Queue slots of committed transactions are dropped here, lazily.
        """
        taken: list[bytes] = []
        total = 0
        held: Collection[bytes] = () if include_held else self._held
        with self._lock:
            cursors: list[tuple[bytes, deque[Any], int]] = []
            for signer in list(self._signer_order):
                queue = self._queues[signer]
                while queue and self._pending.get(queue[0].tx_hash) is not queue[0]:
                    queue.popleft()  # committed (or replaced) while queued
                if not queue:
                    del self._queues[signer]
                    self._signer_order.remove(signer)
                    continue
                cursors.append((signer, queue, 0))
            while cursors and len(taken) < max_txs:
                next_round: list[tuple[bytes, deque[Any], int]] = []
                for signer, queue, position in cursors:
                    if len(taken) >= max_txs:
                        break
                    while position < len(queue):
                        entry = queue[position]
                        position += 1
                        if (self._pending.get(entry.tx_hash) is not entry or entry.tx_hash in exclude
                                or entry.tx_hash in held):
                            continue
                        if taken and total + entry.size > max_bytes:
                            return taken
                        taken.append(entry.signed.encoded)
                        total += entry.size
                        break
                    if position < len(queue):
                        next_round.append((signer, queue, position))
                cursors = next_round
        return taken

    def signed_of(self, raw: bytes) -> SignedTransaction | None:
        """The transaction for encoded bytes: the one ingress admitted, else decoded (strictly) here;
        None if the bytes are not a transaction."""
        found = self._by_encoded.get(raw)
        if found is not None:
            return found
        try:
            signed = SignedTransaction.decode(raw, self.hash_fn, self.hash_code)
        except Exception:
            return None
        with self._lock:
            self._from_proposals[raw] = signed
            if len(self._from_proposals) > PROPOSAL_DECODED_LIMIT:
                del self._from_proposals[next(iter(self._from_proposals))]
        return signed

    def _decode(self, item: bytes | Transaction | SignedTransaction) -> SignedTransaction:
        if type(item) is bytes:
            with self._lock:
                found = self._from_proposals.pop(item, None)
            if found is not None:
                item = found  # decoded (strictly) from a proposal: the base checks only its size and hash
        return super()._decode(item)

    def signed_payload(self, raws: Sequence[bytes]) -> list[SignedTransaction]:
        """A payload's transactions (those that decode, in order), each decoded at most once per node."""
        found = [self.signed_of(raw) for raw in raws]
        return [signed for signed in found if signed is not None]

    def _forget(self, entry: Any) -> None:
        self._by_encoded.pop(entry.signed.encoded, None)
        self._held.discard(entry.tx_hash)


def apply_payload_txs(
    ledger: Ledger, signed: Sequence[SignedTransaction], *, time_ms: int, proposer: bytes, epoch: int,
    preverified: Callable[[bytes], bool] | None = None,
) -> BlockResult:
    """Make the ledger block every replica makes from a committed payload's transactions, and apply it.

    ``signed``: the payload's transactions that decode (:meth:`ReplicaMempool.signed_payload`; bytes
    that do not decode are left out, the same on every replica); ``preverified``: signatures this
    node's ingress verified, not verified again.
    """
    ledger_block = ledger.make_block(signed, time=time_ms, proposer=proposer, epoch=epoch)
    return ledger.apply_block(ledger_block, preverified=preverified, signed=signed)


class StageTimers:
    """Seconds spent per stage of the replica (for /metrics and the benchmark's profile)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, stage: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self.counts[stage] = self.counts.get(stage, 0) + count

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.seconds)
