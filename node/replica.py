"""One ledger's validator replica: the consensus core wired to the ledger, mempool and network.

A :class:`Replica` drives a :class:`consensus.round_manager.RoundManager` from the event loop
(one thread, so the core stays single-threaded) and carries out its actions:

- network messages in → events; ``Broadcast``/``SendTo``/``RequestBlocks`` → the transport;
  ``ScheduleTimer`` → ``loop.call_later``;
- ``CommitBlocks`` → the *applier*: committed blocks that are ledger blocks (see
  :mod:`node.replica_parts` for the payload shapes) are made into ledger blocks,
  deterministically, and applied in order in a worker thread (``preverified`` = what this
  node's ingress verified; the executor verifies the rest in parallel). The order comes from
  the durable commit log of :class:`consensus.persistent_store.LevelDBConsensusStore`, so
  a crash between "committed" and "applied" replays, never skips; heights the ledger already
  has are skipped.
- after applying ledger block h, the replica signs the ledger's commit statement for h and
  broadcasts it (a *commit attestation*); 2f+1 matching attestations make the block's
  :class:`ledger.certificate.CommitCertificate`. If a quorum attests a header hash different
  from ours, this replica has diverged: it logs an error, raises the ``divergence`` metric and
  stops taking part in consensus (never silently).
- catch-up: a periodic task asks peers for their height (``GetLedgerBlocks``); when behind, it
  fetches certified ledger blocks, checks each certificate against the validator set (so the
  endpoint signatures it covers are not verified again) and applies them; it also fetches
  certificates this node missed. Consensus itself resumes through sync info and block
  retrieval.

Epochs (DiemBFT style). A committed governed change of the validator set (RegisterParticipant +
UpdateParticipantState) makes its ledger block the last one of the epoch: after applying it the
replica stops its consensus instance (blocks it committed beyond that one are abandoned, their
transactions stay in the mempool), signs the epoch-change statement as an old validator and
gathers 2f+1 of them into the ledger's :class:`ledger.certificate.EpochChangeCertificate` (what
lets a light client follow the validator set from genesis), then starts a fresh instance for the
new set: consensus epoch = ledger epoch + 1, its own genesis block, block store and safety data
(``consensus/<ledger>/epoch-N/``; epoch 0 keeps the top directory), so no vote of one epoch can
collide with another's. Attestations and synced certificates are checked against the validators
of the header's epoch. A node whose key is not in the set *follows*: it syncs certified blocks
and serves its gateway, and votes from the epoch that makes it a validator. The transport is
told the ledger's participants (registered network addresses), so new members are connected
and deactivated ones dropped.

To the gateway a replica looks like the solo committer (``notify``, ``wait_for``,
``subscribe``, ``on_commit``), so POST /txs?wait=commit, the SSE stream and /metrics work
unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import msgpack
import plyvel

from consensus.interfaces import ValidatorSet as ConsensusValidatorSet
from consensus.pacemaker import PacemakerConfig
from consensus.persistent_store import LevelDBConsensusStore
from consensus.round_manager import (
    Action,
    Broadcast,
    CommitBlocks,
    Event,
    LocalTimeout,
    Log,
    PayloadReady,
    RequestBlocks,
    RoundManager,
    RoundManagerConfig,
    ScheduleTimer,
    SendTo,
    Start,
    event_for_message,
)
from consensus.safety_storage import FileSafetyStorage
from consensus.errors import InvalidMessage
from consensus.types import (
    Author,
    Block,
    BlockId,
    BlockRetrievalRequest,
    ConsensusMsg,
    decode_block,
    decode_message,
    decode_quorum_certificate,
    encode_block,
    encode_message,
    encode_quorum_certificate,
    make_genesis_block,
    make_genesis_qc,
)
from consensus.verification import MessageVerifier
from ledger import codec
from ledger.certificate import (
    CommitCertificate,
    EpochChangeCertificate,
    ValidatorSet,
    ValidatorSignature,
    assemble_certificate,
    encode_commit_statement,
    encode_epoch_change_statement,
    verify_certificate,
    verify_epoch_chain,
)
from ledger.crypto import KeyPair, PublicKey, sign, to_base58, verify
from ledger.errors import CryptoError, NotFound, ProofError, StorageError
from ledger.executor import SignedTransaction
from ledger.ledger import BlockResult, Ledger
from ledger.types import Block as LedgerBlock
from ledger.types import ParticipantState, TransactionInfo
from node.config import ConsensusSection
from node.gossip import MSG_TX_ATTEST, GossipAdmission, chunk_digest
from node.mempool import SubmitResult
from node.replica_parts import (
    KIND_HEARTBEAT,
    KIND_SEAL,
    KIND_TXS,
    ChainExecution,
    ExecutionRecord,
    ReplicaMempool,
    StageTimers,
    apply_payload_txs,
    decode_payload,
    encode_payload,
    proposal_exclusions,
)
from node.snapshot_sync import SnapshotServer, join_from_snapshot, snapshot_wanted
from node.solo import CommittedBlock, Subscription, wait_for_commits

__all__ = ["CONSENSUS_EPOCH", "MSG_ATTESTATION", "MSG_CONSENSUS", "MSG_EPOCH_CHANGE", "MSG_TXS", "Replica", "Transport",
           "consensus_epoch"]


GOSSIP_MUTE_MAX_S = 120.0
"""Longest time a peer that gossiped invalid transactions is ignored (back-off doubles per strike)."""

STORAGE_FAILURES = (OSError, StorageError, plyvel.Error)
"""Write failures of the disk under the ledger or the consensus store: fail-stop, never vote on."""
log = logging.getLogger("jadechain.replica")

CONSENSUS_EPOCH = 1
"""Consensus epoch of the founding validator set (the ledger's epoch for it is 0)."""


def consensus_epoch(ledger_epoch: int) -> int:
    """The consensus core's epoch number for a ledger epoch (the core reserves 0)."""
    return ledger_epoch + CONSENSUS_EPOCH


MSG_CONSENSUS = 0
MSG_ATTESTATION = 1
MSG_TXS = 2
MSG_EPOCH_CHANGE = 3
"""``[new epoch, signature]``: an old validator's signature over the epoch-change statement."""

SYNC_BATCH = 64
"""Ledger blocks asked for in one GetLedgerBlocks call."""
MAX_APPLY_BACKLOG = 4
"""Committed ledger blocks waiting to be applied beyond which a leader proposes no new transactions."""
THROTTLE_PATIENCE_S = 0.4
"""Longest a leader holds its proposal back for the apply backlog, counted from its first try in the
round: well inside the round timeout (1 s), so back-pressure slows rounds without timing them out.
Holding back until the backlog drained took longer than a round under load at 80 % of saturation,
the other validators timed the round out, and a timeout and a TC cost every waiting transaction
one to two seconds."""
MAX_HELD_PROPOSAL_TXS = 100
"""Most of this node's own unattested transactions a leader proposes when it has nothing else
(after THROTTLE_PATIENCE_S): enough to keep the chain moving, few enough that the other validators,
which verify them at apply (their attestation has not come), do not verify a whole backlog again.
A saturated SM2 run proposed ~900 at once and spent 2,800 extra verifications on them."""
SYNC_LAG = 32
"""A peer this many ledger blocks ahead makes the replica fetch certified blocks from it."""


class Transport(Protocol):
    """What a replica needs from the node's network layer."""

    def send(self, author: bytes, message: bytes) -> None: ...

    def broadcast(self, message: bytes) -> None: ...

    def peer_authors(self) -> list[bytes]: ...

    async def get_ledger_blocks(self, author: bytes, request: bytes) -> bytes: ...

    async def get_consensus_root(self, author: bytes, request: bytes) -> bytes: ...

    async def get_snapshot(self, author: bytes, request: bytes) -> bytes: ...

    def connected_peers(self) -> int: ...


class PeerDirectory(Protocol):
    """A transport that can follow the validator set (optional; :class:`node.server.NodeTransport`)."""

    def set_ledger_peers(self, ledger: str, peers: dict[bytes, tuple[str, str] | None]) -> None: ...


def pack_message(ledger_hash: bytes, kind: int, body: bytes) -> bytes:
    packed: bytes = msgpack.packb([ledger_hash, kind, body], use_bin_type=True)
    return packed


@dataclass(slots=True)
class _BlockTxs:
    """The transactions of a block in the consensus tree, decoded once when the block arrived."""

    signed: list[SignedTransaction]
    hashes: list[bytes]

    @classmethod
    def of(cls, signed: list[SignedTransaction]) -> "_BlockTxs":
        return cls(signed, [item.tx_hash for item in signed])


@dataclass(slots=True)
class _PendingApply:
    block: Block
    height: int
    time_ms: int
    txs: _BlockTxs
    committed_at: float
    epoch: int
    """Ledger epoch of the consensus instance that committed it (dropped once the ledger left it)."""


class _KeySigner:
    def __init__(self, pair: KeyPair) -> None:
        self._pair = pair
        self._author = Author(pair.public.encoded)

    @property
    def author(self) -> Author:
        return self._author

    def sign(self, msg: bytes) -> bytes:
        return sign(self._pair.private, msg)


class _KeyVerifier:
    def __init__(self) -> None:
        self._keys: dict[bytes, PublicKey | None] = {}

    def key(self, author: bytes) -> PublicKey | None:
        if author not in self._keys:
            try:
                self._keys[author] = PublicKey.from_encoded(author)
            except (CryptoError, ValueError):
                self._keys[author] = None
        return self._keys[author]

    def verify(self, author: Author, msg: bytes, sig: bytes) -> bool:
        key = self.key(author)
        if key is None:
            return False
        try:
            return verify(key, msg, sig)
        except (CryptoError, ValueError):
            return False


class Replica:
    """One ledger's consensus replica. ``async with Replica(...)`` starts and stops it."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        data_dir: str,
        keypair: KeyPair,
        transport: Transport,
        settings: ConsensusSection,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.ledger = ledger
        self.ledger_hash = ledger.ledger_hash
        self.name = to_base58(ledger.ledger_hash)
        self.keypair = keypair
        self.author = keypair.public.encoded
        self.transport = transport
        self.settings = settings
        self.clock_ms = clock_ms
        self.timers = StageTimers()
        self.mempool = ReplicaMempool(
            ledger.ledger_hash, ledger.hash_code, ledger.settings.signature_algorithms,
            max_size=settings.mempool_size, max_tx_bytes=ledger.settings.max_tx_bytes,
            is_committed=self._is_committed,
        )
        self._consensus_dir = os.path.join(data_dir, "consensus", self.name)
        self._verifier = _KeyVerifier()
        self._retired_stores: list[LevelDBConsensusStore] = []
        # epoch-change signatures: new epoch -> old validator key -> signature (checked at quorum time)
        self._epoch_signatures: dict[int, dict[bytes, bytes]] = {}
        self._future_attestations: list[tuple[bytes, bytes]] = []
        self._peer_view: dict[bytes, tuple[str, str] | None] | None = None
        self._pending_epoch_certificates: list[Any] = []
        self._open_epoch()
        # commit pipeline
        self._apply_queue: asyncio.Queue[_PendingApply | None] | None = None
        self._block_txs: dict[BlockId, _BlockTxs] = {}
        """Transactions of the blocks in the tree (what a proposal must not repeat; what is applied at commit)."""
        self._unapplied_txs: dict[bytes, int] = {}
        """Tx hashes of committed blocks not applied yet (count of blocks holding each)."""
        self._writer = asyncio.Lock()
        # attestations: height -> header hash -> validator key -> (epoch, signature)
        self._attestations: dict[int, dict[bytes, dict[bytes, tuple[int, bytes]]]] = {}
        self._uncertified: dict[int, float] = {}
        # committer interface
        self._subscribers: set[Subscription] = set()
        self._waiters: dict[bytes, list[asyncio.Future[TransactionInfo]]] = {}
        self.on_commit: Callable[[BlockResult, float, list[float]], None] | None = None
        # state
        self.halted = False
        self.on_fatal: Callable[[str], None] | None = None
        """Called once when the replica fail-stops on a storage error (the node then exits)."""
        self.divergence: str | None = None
        self.counters: dict[str, int] = {}
        self._gossip_muted_until: dict[bytes, float] = {}
        self._gossip_strikes: dict[bytes, int] = {}
        self.peer_heights: dict[bytes, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._payload_timer: asyncio.TimerHandle | None = None
        self._throttle_round = -1
        self._throttle_since = 0.0
        self._throttle_timer: asyncio.TimerHandle | None = None
        self._gossip_scheduled = False
        self.gossip = GossipAdmission(
            me=self.author, validators=lambda: self.validators.authors, admit=self._admit_from_peer,
            attest=self._attest_chunk, count=self._count, release=self._release_own,
        )
        """Who verifies a gossiped chunk: f + 1 validators, not all n (see :mod:`node.gossip`)."""
        self.mempool.hold_gossiped = True
        self._gossip_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gossip")
        """Admits peers' chunks, beside (not queued behind) client submissions on the default executor."""
        self._stopping = False
        self._closed = False
        self._gap = False
        self._started = False
        self._sync_wakeup = asyncio.Event()
        self.last_commit_time = 0.0
        self._applied_since_prune = 0
        self.core = self._make_core()
        self.snapshot_server = SnapshotServer(ledger)
        self.snapshot_report: dict[str, Any] | None = None

    def _open_epoch(self) -> None:
        """Consensus state for the ledger's current epoch: its validator set, its own block store and
        safety data (so a vote of one epoch never collides with another's), its own genesis block.

        A node whose key is not in the set is a *follower*: it keeps the ledger in step with
        certified blocks from peers and serves its gateway, but takes no part in consensus.
        """
        record = self.ledger.validator_set_record()
        self.ledger_epoch = record.epoch
        self.ledger_validators = ValidatorSet(record.epoch, record.public_keys)
        self.is_validator = self.author in record.public_keys
        self.validators = ConsensusValidatorSet(
            consensus_epoch(record.epoch), tuple(Author(k) for k in record.public_keys)
        )
        # Epoch 0 keeps the layout of the first release (data written before epochs existed).
        directory = self._consensus_dir if record.epoch == 0 else os.path.join(self._consensus_dir, f"epoch-{record.epoch}")
        os.makedirs(directory, exist_ok=True)
        self.store = LevelDBConsensusStore(os.path.join(directory, "blocks"))
        self.safety_storage = FileSafetyStorage(os.path.join(directory, "safety.bin"), self.validators.epoch)
        genesis = make_genesis_block(self.validators.epoch, self.validators.fingerprint())
        start_height = max(0, record.since_height - 1)
        start_time = self.ledger.get_header(start_height).time if record.epoch else 0
        self.execution = ChainExecution(
            self.store, genesis.id, self.ledger_hash, epoch=record.epoch, height=start_height, time_ms=start_time,
        )
        self.execution.on_execute = self._note_block_txs
        self._genesis = genesis

    def _make_core(self) -> RoundManager:
        """The consensus core, recovered from the durable store (also after a fast-forward)."""
        base = self.settings.round_timeout_ms
        return RoundManager(
            validators=self.validators,
            signer=_KeySigner(self.keypair),
            verifier=self._verifier,
            safety_storage=self.safety_storage,
            payload_source=self,
            execution=self.execution,
            config=RoundManagerConfig(
                pacemaker=PacemakerConfig(base_ms=base, max_ms=max(base, self.settings.max_round_timeout_ms)),
                max_block_txs=self.settings.max_block_txs,
                max_block_bytes=self.settings.max_block_bytes,
                fetch_count=256,
                max_buffered=1024,
            ),
            store=self.store,
            payload_validator=self._validate_payload,
        )

    # --- small helpers -------------------------------------------------------------------

    def _count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def _is_committed(self, tx_hash: bytes) -> bool:
        # one key lookup; also true for a transaction whose block was archived (its record stays)
        return self.ledger.has_transaction(tx_hash)

    @property
    def round(self) -> int:
        current: int = self.core.current_round
        return current

    # --- lifecycle -------------------------------------------------------------------------

    def _started_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the replica is not started")
        return self._loop

    def _started_apply_queue(self) -> "asyncio.Queue[_PendingApply | None]":
        if self._apply_queue is None:
            raise RuntimeError("the replica is not started")
        return self._apply_queue

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._apply_queue = asyncio.Queue()
        self.mempool.on_accepted = self._on_accepted_threadsafe
        self._tasks.append(asyncio.create_task(self._applier(), name=f"applier-{self.name[:8]}"))
        self._update_peers()
        joined = await self._join_from_snapshot()
        # Committed blocks the ledger does not have yet (a crash between commit and apply).
        for block in self._unapplied_committed_blocks():
            self._enqueue_committed(block)
        await self._initial_sync()
        if self.is_validator:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._maybe_fast_forward(min_rounds=0 if joined else None), 15.0)
        self._started = True
        self._feed(Start())
        self._tasks.append(asyncio.create_task(self._sync_loop(), name=f"sync-{self.name[:8]}"))
        log.info("replica started", extra={"ledger": self.name, "height": self.ledger.height,
                                            "round": self.core.current_round, "epoch": self.ledger_epoch,
                                            "validator": self.is_validator})

    async def _join_from_snapshot(self) -> bool:
        """A ledger at genesis asked to (``snapshot_sync`` or ``node repair``) starts from a peer's
        certified state snapshot (:mod:`node.snapshot_sync`); False when it replays instead."""
        if not snapshot_wanted(self):
            return False
        self.snapshot_report = await join_from_snapshot(self)
        if self.snapshot_report is None:
            return False
        if self.ledger.current_epoch() != self.ledger_epoch:
            self._retired_stores.append(self.store)
            self._open_epoch()
            self.core = self._make_core()
        self._update_peers()
        return True

    # --- epochs ------------------------------------------------------------------------------

    def _maybe_enter_epoch(self) -> None:
        """After a ledger block: if it changed the validator set, end this consensus epoch.

        The block that changes the set is the last one the old validators decide. Their
        consensus instance stops here (blocks it committed beyond this one are abandoned; their
        transactions stay in the mempool), they sign the epoch change for light clients, and a
        fresh instance starts for the new set (this node follows if it is no longer a member).
        """
        epoch = self.ledger.current_epoch()
        while epoch > self.ledger_epoch and not self._closed:
            self._sign_epoch_change(self.ledger_epoch + 1)
            running = self._started
            self._started = False
            if self._payload_timer is not None:
                self._payload_timer.cancel()
                self._payload_timer = None
            previous_epoch, old_store, was_validator = self.ledger_epoch, self.store, self.is_validator
            self._block_txs.clear()
            self._open_epoch()
            self._retired_stores.append(old_store)
            self.core = self._make_core()
            self._count("epoch_changes")
            log.info("entered epoch %d (was %d): %d validators, this node %s", self.ledger_epoch, previous_epoch,
                     len(self.ledger_validators.public_keys), "votes" if self.is_validator else "follows",
                     extra={"ledger": self.name, "height": self.ledger.height, "was_validator": was_validator})
            self._update_peers()
            for epoch_number in list(self._epoch_signatures):
                self._check_epoch_quorum(epoch_number)
            future, self._future_attestations = self._future_attestations, []
            for sender, body in future:
                self._on_attestation(sender, body)
            if running:
                self._started = True
                self._feed(Start())
                if self.mempool.size():
                    self.notify()
            if self._loop is not None and len(self._retired_stores) > 1:
                # close stores of epochs long gone (a worker thread may still read the last one)
                stale = self._retired_stores.pop(0)
                self._loop.call_later(10.0, stale.close)

    def _epoch_statement(self, epoch: int) -> tuple[bytes, ValidatorSet, ValidatorSet, int] | None:
        """(statement, old set, new set, since height) of the change to ``epoch``; None if not reached."""
        try:
            record = self.ledger.validator_set_record(epoch)
            old = self.ledger.validator_set(epoch - 1)
        except NotFound:
            return None
        statement = encode_epoch_change_statement(self.ledger_hash, epoch, record.public_keys, record.since_height)
        return statement, old, ValidatorSet(record.epoch, record.public_keys), record.since_height

    def _sign_epoch_change(self, epoch: int) -> None:
        """As a validator of ``epoch - 1``, sign the change to ``epoch`` and send it to everyone."""
        found = self._epoch_statement(epoch)
        if found is None or self.author not in found[1].public_keys:
            return
        if self.ledger.get_epoch_certificate(epoch) is not None:
            return
        signature = sign(self.keypair.private, found[0])
        body = msgpack.packb([epoch, signature], use_bin_type=True)
        self.transport.broadcast(pack_message(self.ledger_hash, MSG_EPOCH_CHANGE, body))
        self._epoch_signatures.setdefault(epoch, {})[self.author] = signature
        self._check_epoch_quorum(epoch)

    def _on_epoch_signature(self, sender: bytes, body: bytes) -> None:
        try:
            epoch, signature = msgpack.unpackb(body, raw=True)
        except Exception:
            self._count("invalid_messages")
            return
        if not (isinstance(epoch, int) and isinstance(signature, bytes)):
            self._count("invalid_messages")
            return
        if epoch <= 0 or epoch > self.ledger_epoch + 16:
            return
        signatures = self._epoch_signatures.setdefault(epoch, {})
        if len(signatures) < 1024:
            signatures[sender] = signature
        self._check_epoch_quorum(epoch)

    def _check_epoch_quorum(self, epoch: int) -> None:
        """With 2f+1 valid old-validator signatures, keep the epoch-change certificate."""
        if self.ledger.get_epoch_certificate(epoch) is not None:
            self._epoch_signatures.pop(epoch, None)
            return
        found = self._epoch_statement(epoch)
        if found is None:
            return  # the ledger has not reached that epoch yet; checked when it does
        statement, old, new, since = found
        signatures = self._epoch_signatures.get(epoch, {})
        valid = {key: sig for key, sig in signatures.items()
                 if key in old.public_keys and self._verifier.verify(Author(key), statement, sig)}
        self._epoch_signatures[epoch] = valid
        if len(valid) < old.quorum:
            return
        certificate = EpochChangeCertificate(
            self.ledger_hash, epoch, new.public_keys, since,
            tuple(ValidatorSignature(key, valid[key]) for key in sorted(valid)),
        )
        self._epoch_signatures.pop(epoch, None)
        self._started_loop().create_task(self._store_epoch_certificate(certificate))

    async def _store_epoch_certificate(self, certificate: EpochChangeCertificate) -> None:
        async with self._writer:
            if self._closed or self.ledger.get_epoch_certificate(certificate.epoch) is not None:
                return
            try:
                await asyncio.to_thread(self.ledger.put_epoch_certificate, certificate)
            except STORAGE_FAILURES as exc:
                self._fail_stop(f"storing the certificate of epoch {certificate.epoch} failed: {exc!r}")
                return
        self._count("epoch_certificates")
        log.info("epoch %d certified by %d validators of epoch %d", certificate.epoch, len(certificate.signatures),
                 certificate.epoch - 1, extra={"ledger": self.name})

    async def _accept_epoch_certificates(self, raws: Sequence[bytes]) -> None:
        """Epoch-change certificates from a peer: kept if they check out against this ledger's sets."""
        for raw in raws:
            try:
                certificate = codec.decode(EpochChangeCertificate, raw)
            except Exception:
                continue
            if self.ledger.get_epoch_certificate(certificate.epoch) is not None:
                continue
            found = self._epoch_statement(certificate.epoch)
            if found is None:
                continue
            _, old, new, since = found
            try:
                verify_epoch_chain(old, [certificate], ledger_hash=self.ledger_hash)
            except ProofError:
                self._count("invalid_sync_blocks")
                continue
            if certificate.public_keys != new.public_keys or certificate.since_height != since:
                continue
            await self._store_epoch_certificate(certificate)

    def _update_peers(self) -> None:
        """Tell the transport who the peers are: the ledger's participants (validators and nodes
        waiting to join, at their registered addresses), without deactivated ones."""
        set_peers = getattr(self.transport, "set_ledger_peers", None)
        if set_peers is None:
            return
        view: dict[bytes, tuple[str, str] | None] = {}
        for participant in self.ledger.list_participants():
            if participant.public_key == self.author:
                continue
            if participant.state == ParticipantState.DEACTIVATED:
                view[participant.public_key] = None
            else:
                view[participant.public_key] = (participant.name, participant.network_address)
        if view != self._peer_view:
            self._peer_view = view
            set_peers(self.name, view)

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish applying committed blocks (bounded by ``timeout``), then stop tasks and close the store."""
        self._stopping = True
        self.gossip.close()
        self._gossip_executor.shutdown(wait=False, cancel_futures=True)
        if self._payload_timer is not None:
            self._payload_timer.cancel()
        if self._throttle_timer is not None:
            self._throttle_timer.cancel()
        if self._apply_queue is not None:
            self._apply_queue.put_nowait(None)
        applier = self._tasks[0] if self._tasks else None
        if applier is not None:
            try:
                await asyncio.wait_for(asyncio.shield(applier), timeout)
            except asyncio.TimeoutError:
                log.warning("applier did not finish within %.1fs", timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        async with self._writer:
            self._closed = True
            self.store.close()
            for store in self._retired_stores:
                with contextlib.suppress(Exception):
                    store.close()
            self._retired_stores.clear()
        for subscription in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(None)
        self._subscribers.clear()
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> "Replica":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- driving the core ------------------------------------------------------------------

    def _feed(self, event: Event) -> None:
        if self.halted or self._stopping or not self._started or not self.is_validator:
            return
        started = time.perf_counter()
        try:
            actions = self.core.on_event(event)
        except STORAGE_FAILURES as exc:
            self._fail_stop(f"consensus storage failed: {exc!r}")
            return
        self.timers.add("consensus", time.perf_counter() - started)
        self._perform(actions)

    def _perform(self, actions: Sequence[Action]) -> None:
        loop = self._started_loop()
        for action in actions:
            if isinstance(action, Broadcast):
                self.transport.broadcast(self._consensus_message(action.msg))
            elif isinstance(action, SendTo):
                self._send_consensus(action.author, action.msg)
            elif isinstance(action, ScheduleTimer):
                loop.call_later(action.delay_ms / 1000, self._on_timer, self.core, action.round)
            elif isinstance(action, CommitBlocks):
                self._on_commit_blocks(action.blocks)
            elif isinstance(action, RequestBlocks):
                self._send_consensus(action.author, BlockRetrievalRequest(action.block_id, action.count))
            elif isinstance(action, Log):
                level = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                         "error": logging.ERROR}[action.level]
                log.log(level, action.message, extra={"ledger": self.name})

    def _on_timer(self, core: RoundManager, round_: int) -> None:
        if core is self.core:  # a timer of an epoch that ended is void
            self._feed(LocalTimeout(round_))

    def _consensus_message(self, msg: ConsensusMsg) -> bytes:
        return pack_message(self.ledger_hash, MSG_CONSENSUS, encode_message(msg))

    def _send_consensus(self, author: bytes, msg: ConsensusMsg) -> None:
        if author == self.author:
            self._started_loop().call_soon(self._feed, event_for_message(Author(author), msg))
            return
        self.transport.send(author, self._consensus_message(msg))

    def on_message(self, sender: bytes, kind: int, body: bytes) -> None:
        """A message for this ledger from an authenticated peer (called on the event loop)."""
        if kind == MSG_CONSENSUS:
            try:
                msg = decode_message(body)
            except Exception:
                self._count("invalid_messages")
                log.warning("malformed consensus message", extra={"ledger": self.name, "peer": to_base58(sender)})
                return
            self._feed(event_for_message(Author(sender), msg))
        elif kind == MSG_ATTESTATION:
            self._on_attestation(sender, body)
        elif kind == MSG_TXS:
            if self._loop is not None:
                if time.monotonic() < self._gossip_muted_until.get(sender, 0.0):
                    self._count("peer_txs_muted")  # this peer gossiped invalid transactions lately
                else:
                    self._on_gossip(sender, body)
        elif kind == MSG_TX_ATTEST:
            self.gossip.on_attestation(sender, body)
        elif kind == MSG_EPOCH_CHANGE:
            self._on_epoch_signature(sender, body)
        else:
            self._count("invalid_messages")

    # --- payloads: the proposer's and the voter's side -------------------------------------------

    def pull(self, max_txs: int, max_bytes: int, exclude: Sequence[bytes]) -> bytes:
        """:class:`~consensus.interfaces.PayloadSource`: the next block's payload (see module docs)."""
        parent = self.execution.record(self.core.tree.highest_qc.block_id)
        parent_time = parent.time_ms if parent is not None else 0
        now = max(self.clock_ms(), parent_time)
        # Back-pressure: while the ledger is several committed blocks behind, order no more
        # transactions (the applier wakes us when it catches up), for at most THROTTLE_PATIENCE_S.
        backlog = self._apply_queue.qsize() if self._apply_queue is not None else 0
        throttled = backlog >= MAX_APPLY_BACKLOG and self._throttle_wait() > 0
        txs: list[bytes] = []
        if not throttled:
            # Exclude the transactions of the uncommitted ancestors, of blocks the core committed
            # within this very event (pruned from the tree but not yet queued for apply: looking
            # only at the tree path re-proposed those — wasted slots, an endless proposal loop with
            # a single validator) and of committed blocks not applied yet. Blocks on other forks
            # do not hold their transactions back (see proposal_exclusions: that was a deadlock).
            tree = self.core.tree
            path = tree.path_from_root(tree.highest_qc.block_id) or []
            exclude_hashes = proposal_exclusions(
                {block_id: txs.hashes for block_id, txs in self._block_txs.items()},
                {block.id for block in path}, tree.contains, tree.root.id, self._unapplied_txs,
            )
            txs = self.mempool.peek_raw(max_txs, max_bytes, exclude_hashes)
            if not txs and self.mempool.held and self._throttle_wait() == 0:
                # Only this node's own transactions, still waiting for their attestation (which
                # proposes them when it comes): after THROTTLE_PATIENCE_S propose them anyway
                # rather than nothing, which would let the round time out. The others may then
                # verify them at apply, a third time: only in this case, and only a few.
                txs = self.mempool.peek_raw(min(max_txs, MAX_HELD_PROPOSAL_TXS), max_bytes, exclude_hashes,
                                            include_held=True)
                if txs:
                    self._count("proposals_of_held_txs")
        if throttled:
            self._count("proposals_throttled")
        if txs:
            return encode_payload(now, txs)
        if parent is None:
            return b""
        if parent.unsealed:
            return encode_payload(now, [])
        if parent.kind == KIND_SEAL:
            return encode_payload(now, None)
        return b""

    def _throttle_wait(self) -> float:
        """Seconds this leader may still hold back its proposal in the current round (0: no longer),
        for the apply backlog or for its own transactions' attestation; schedules one more try
        for when the patience runs out."""
        now = time.monotonic()
        round_ = self.core.current_round
        if round_ != self._throttle_round:
            self._throttle_round, self._throttle_since = round_, now
        left = THROTTLE_PATIENCE_S - (now - self._throttle_since)
        if left > 0 and self._loop is not None and self._throttle_timer is None:
            self._throttle_timer = self._loop.call_later(left, self._throttle_due)
        return max(0.0, left)

    def _throttle_due(self) -> None:
        self._throttle_timer = None
        if not self._stopping:
            self._feed(PayloadReady())

    def _validate_payload(self, block: Block, ancestors: Sequence[bytes]) -> str | None:
        if len(block.payload) > self.settings.max_block_bytes + (1 << 16):
            return "payload exceeds the block size limit"
        try:
            decoded = decode_payload(block.payload, self.settings.max_block_txs)
        except ValueError as exc:
            return str(exc)
        if not block.payload:
            return None
        parent = self.execution.record(block.parent_id)
        if parent is not None and decoded.time_ms < parent.time_ms:
            return "proposer time goes backwards"
        if decoded.time_ms > self.clock_ms() + self.settings.max_clock_drift_ms:
            return "proposer time is too far ahead of this node's clock"
        return None

    def notify(self) -> None:
        """Transactions arrived (called on the loop by the gateway): propose soon."""
        if self._loop is None or self._stopping:
            return
        self._schedule_gossip()
        if self.mempool.size() >= self.settings.max_block_txs:
            if self._payload_timer is not None:
                self._payload_timer.cancel()
                self._payload_timer = None
            self._feed(PayloadReady())
        elif self._payload_timer is None:
            self._payload_timer = self._loop.call_later(self.settings.idle_block_ms / 1000, self._payload_due)

    def _payload_due(self) -> None:
        self._payload_timer = None
        self._feed(PayloadReady())

    def _on_accepted_threadsafe(self) -> None:
        if self._loop is not None and not self._stopping:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.notify)

    def _schedule_gossip(self) -> None:
        if self._gossip_scheduled or self._loop is None:
            return
        self._gossip_scheduled = True
        self._loop.call_later(0.002, self._flush_gossip)

    def _flush_gossip(self) -> None:
        self._gossip_scheduled = False
        outbox = self.mempool.take_outbox()
        for start in range(0, len(outbox), 1000):
            part = outbox[start:start + 1000]
            chunk = msgpack.packb([encoded for encoded, _ in part], use_bin_type=True)
            self.transport.broadcast(pack_message(self.ledger_hash, MSG_TXS, chunk))
            self.gossip.track_own(chunk_digest(chunk), [tx_hash for _, tx_hash in part])

    def _on_gossip(self, sender: bytes, body: bytes) -> None:
        try:
            raws = msgpack.unpackb(body, raw=True, max_bin_len=len(body))
        except Exception:
            self._count("invalid_messages")
            return
        if not isinstance(raws, list) or not all(isinstance(r, bytes) for r in raws):
            self._count("invalid_messages")
            return
        self.gossip.on_chunk(sender, raws, chunk_digest(body))

    def _release_own(self, tx_hashes: list[bytes]) -> None:
        self.mempool.release(tx_hashes)
        self.notify()

    def _attest_chunk(self, digest: bytes) -> None:
        self.transport.broadcast(pack_message(self.ledger_hash, MSG_TX_ATTEST, digest))

    async def _admit_from_peer(self, sender: bytes, raws: list[bytes], vouched: bool) -> bool:
        """Gossiped transactions through ingress (signatures unchecked if f + 1 validators vouched);
        True if this node now holds every one of them as verified (it may attest the chunk)."""
        def submit() -> tuple[list[SubmitResult], bool]:
            results = self.mempool.submit_many(
                raws, now_ms=self.clock_ms(), from_peer=True, signatures_vouched=vouched,
            )
            return results, self.mempool.holds_verified(raws, results)

        results, all_verified = await self._started_loop().run_in_executor(self._gossip_executor, submit)
        # Duplicates are the normal echo of gossip; anything else a peer sent us is invalid
        # (bad signature, wrong ledger, malformed...) and is counted, so a flood is visible.
        rejected = sum(1 for r in results if r.error is not None and r.error.code != "DUPLICATE_TRANSACTION")
        if rejected:
            self._count("peer_txs_rejected", rejected)
            forged = sum(1 for r in results if r.error is not None and r.error.code == "INVALID_SIGNATURE")
            if forged:
                self._count("peer_txs_rejected_signature", forged)
            # A validator only gossips what its own ingress verified, so invalid transactions
            # mean a faulty or hostile peer: ignore its gossip for a growing while (its valid
            # transactions still reach us inside proposals), so a flood cannot eat our CPU.
            strikes = self._gossip_strikes.get(sender, 0) + 1
            self._gossip_strikes[sender] = strikes
            self._gossip_muted_until[sender] = time.monotonic() + min(GOSSIP_MUTE_MAX_S, 2.0 ** strikes)
        return all_verified

    # --- commit: consensus blocks to ledger blocks ---------------------------------------------------

    def _on_commit_blocks(self, blocks: Sequence[Block]) -> None:
        for block in blocks:
            self._enqueue_committed(block)
        # Blocks of abandoned forks: their transactions may be proposed again.
        for block_id in [b for b in self._block_txs if not self.core.tree.contains(b)]:
            del self._block_txs[block_id]
        self.execution.forget(set(self._block_txs) | {self.core.tree.root.id})

    def _unapplied_committed_blocks(self) -> list[Block]:
        """Committed blocks whose ledger block is not applied yet, oldest first (walks the log back)."""
        found: list[Block] = []
        for _, block in self.store.iterate_log_reverse():
            record = self.execution.record(block.id)
            if record is not None and record.height <= self.ledger.height and record.kind in (KIND_SEAL, KIND_TXS):
                break
            found.append(block)
        found.reverse()
        return found

    def _enqueue_committed(self, block: Block) -> None:
        txs = self._block_txs.pop(block.id, None)
        record = self.execution.record(block.id)
        if record is None or record.kind not in (KIND_SEAL, KIND_TXS):
            return
        if record.height <= self.ledger.height:
            return
        decoded = decode_payload(block.payload)
        if txs is None:  # committed without passing through this tree (replayed from the commit log)
            txs = _BlockTxs.of(self.mempool.signed_payload(decoded.txs))
        for tx_hash in txs.hashes:
            self._unapplied_txs[tx_hash] = self._unapplied_txs.get(tx_hash, 0) + 1
        self._started_apply_queue().put_nowait(
            _PendingApply(block, record.height, decoded.time_ms, txs, time.monotonic(), self.ledger_epoch)
        )

    def _note_block_txs(self, block_id: BlockId, payload: bytes) -> None:
        """A block entered the tree: proposals extending it must not repeat its transactions.

        Nothing is taken out of the mempool: if the block is abandoned (its round times out,
        another fork commits) the transactions are simply proposed again.
        """
        try:
            decoded = decode_payload(payload)
        except ValueError:
            return
        if decoded.txs:
            self._block_txs[block_id] = _BlockTxs.of(self.mempool.signed_payload(decoded.txs))

    async def _applier(self) -> None:
        queue = self._started_apply_queue()
        while True:
            item = await queue.get()
            if item is None:
                return
            try:
                await self._apply_item(item)
            finally:
                for tx_hash in item.txs.hashes:
                    left = self._unapplied_txs.get(tx_hash, 0) - 1
                    if left > 0:
                        self._unapplied_txs[tx_hash] = left
                    else:
                        self._unapplied_txs.pop(tx_hash, None)
            if self.halted:
                return

    async def _apply_item(self, item: _PendingApply) -> None:
        """Apply one committed ledger block (waiting for ledger sync across a gap)."""
        while True:
            try:
                async with self._writer:
                    if item.height <= self.ledger.height:
                        break
                    if item.epoch != self.ledger.current_epoch():
                        # decided by validators whose epoch ended before it: abandoned
                        self._count("abandoned_blocks")
                        break
                    if item.height > self.ledger.height + 1:
                        gap = True
                    else:
                        gap = False
                        result, seconds = await asyncio.to_thread(self._apply_committed, item)
                if gap:
                    # Blocks in between come from a peer (ledger sync); wait for them.
                    self._gap = True
                    self._sync_wakeup.set()
                    await asyncio.sleep(0.2)
                    continue
                self._gap = False
            except STORAGE_FAILURES as exc:
                self._fail_stop(f"storing committed block at height {item.height} failed: {exc!r}")
                return
            except Exception as exc:
                self._halt(f"applying committed block at height {item.height} failed: {exc!r}")
                return
            self._after_apply(result, seconds, item)
            break

    def _apply_committed(self, item: _PendingApply) -> tuple[BlockResult, float]:
        """Make the ledger block every replica makes from this consensus block; apply it (worker thread)."""
        started = time.perf_counter()
        preverified = self.mempool.preverified_for(item.txs.signed)
        unverified = sum(1 for signed in item.txs.signed if not preverified(signed.tx_hash))
        if unverified:
            self._count("apply_txs_verified", unverified)  # first met in a proposal, not at ingress
        result = apply_payload_txs(
            self.ledger, item.txs.signed, time_ms=item.time_ms, proposer=bytes(item.block.author),
            epoch=item.epoch, preverified=preverified,
        )
        seconds = time.perf_counter() - started
        self.timers.add("execution", seconds, len(result.tx_infos) + len(result.skipped_duplicates))
        return result, seconds

    def _after_apply(self, result: BlockResult, seconds: float, item: _PendingApply | None) -> None:
        admitted = self.mempool.remove_committed(
            [info.tx_hash for info in result.tx_infos] + list(result.skipped_duplicates)
        )
        now = time.monotonic()
        self.last_commit_time = time.time()
        if item is not None:
            self._attest(result)
        if self.on_commit is not None:
            self.on_commit(result, seconds, [now - at for at in admitted])
        self._publish(result)
        self._applied_since_prune += 1
        if self._applied_since_prune >= self.settings.prune_every:
            self._applied_since_prune = 0
            self._prune_consensus()
        self._maybe_enter_epoch()
        if self.mempool.size() and self._apply_queue is not None and self._apply_queue.qsize() < MAX_APPLY_BACKLOG:
            self.notify()

    def _prune_consensus(self) -> None:
        """Delete committed consensus blocks more than ``prune_keep_blocks`` ledger blocks below a
        certified height (their ledger blocks, with certificates, are what peers sync from; a peer
        that far behind fast-forwards instead of fetching consensus blocks)."""
        floor = self.ledger.height - self.settings.prune_keep_blocks
        if floor <= 0 or self._closed:
            return
        try:
            certified = self.ledger.get_certificate(floor) is not None
        except NotFound:
            certified = False
        if not certified:
            return

        def keep(block_id: BlockId, raw: bytes | None) -> bool:
            return raw is not None and ExecutionRecord.decode(raw).height > floor

        try:
            pruned = self.store.prune_log(keep, limit=4 * self.settings.prune_every)
        except STORAGE_FAILURES as exc:
            self._fail_stop(f"pruning the consensus store failed: {exc!r}")
            return
        if pruned:
            self._count("consensus_blocks_pruned", pruned)

    # --- commit attestations -> certificates ----------------------------------------------------

    def _validators_of(self, epoch: int) -> ValidatorSet | None:
        if epoch == self.ledger_epoch:
            return self.ledger_validators
        try:
            return self.ledger.validator_set(epoch)
        except NotFound:
            return None

    def _attest(self, result: BlockResult) -> None:
        """Sign the commit statement of a block this node decided (as a validator of its epoch)."""
        height = result.header.height
        epoch = result.header.epoch
        validators = self._validators_of(epoch)
        if validators is None or self.author not in validators.public_keys:
            return
        statement = encode_commit_statement(self.ledger_hash, height, result.block_hash, epoch)
        started = time.perf_counter()
        signature = sign(self.keypair.private, statement)
        self.timers.add("attestation", time.perf_counter() - started)
        body = msgpack.packb([height, result.block_hash, epoch, signature], use_bin_type=True)
        self.transport.broadcast(pack_message(self.ledger_hash, MSG_ATTESTATION, body))
        self._uncertified[height] = time.monotonic()
        self._record_attestation(self.author, height, result.block_hash, epoch, signature)

    def _on_attestation(self, sender: bytes, body: bytes) -> None:
        try:
            height, header_hash, epoch, signature = msgpack.unpackb(body, raw=True)
        except Exception:
            self._count("invalid_messages")
            return
        if not (isinstance(height, int) and isinstance(header_hash, bytes) and isinstance(epoch, int)
                and isinstance(signature, bytes)):
            self._count("invalid_messages")
            return
        if height <= 0 or height > self.ledger.height + 100_000 or self.ledger.is_archived(height):
            return
        validators = self._validators_of(epoch)
        if validators is None:
            # an epoch this node has not reached yet: looked at again when it does
            if epoch <= self.ledger_epoch + 2 and len(self._future_attestations) < 10_000:
                self._future_attestations.append((sender, body))
            return
        if sender not in validators.public_keys:
            self._count("invalid_messages")
            return
        if height <= self.ledger.height and self.ledger.get_certificate(height) is not None:
            return
        statement = encode_commit_statement(self.ledger_hash, height, header_hash, epoch)
        if not self._verifier.verify(Author(sender), statement, signature):
            self._count("invalid_messages")
            log.warning("bad commit attestation signature", extra={"ledger": self.name, "peer": to_base58(sender)})
            return
        if height > self.peer_heights.get(sender, 0):
            self.peer_heights[sender] = height  # it signed that it applied this height: catch-up knows where it is
        self._record_attestation(sender, height, header_hash, epoch, signature)

    def _record_attestation(self, sender: bytes, height: int, header_hash: bytes, epoch: int, signature: bytes) -> None:
        by_hash = self._attestations.setdefault(height, {})
        by_hash.setdefault(header_hash, {})[sender] = (epoch, signature)
        self._check_quorum(height)

    def _check_quorum(self, height: int) -> None:
        if height > self.ledger.height:
            return  # evaluated once we applied the block
        by_hash = self._attestations.get(height)
        if not by_hash:
            return
        header = self.ledger.get_header(height)
        ours = self.ledger.hash_header(header)
        validators = self._validators_of(header.epoch)
        if validators is None:
            return
        quorum = validators.quorum
        for header_hash, attested in by_hash.items():
            # a signature counts for the epoch of our header (a different epoch is a different statement)
            signatures = {key: sig for key, (epoch, sig) in attested.items() if epoch == header.epoch}
            if len(signatures) < quorum:
                continue
            if header_hash != ours:
                self._halt(
                    f"divergence at height {height}: a quorum certifies header {to_base58(header_hash)}, "
                    f"this replica made {to_base58(ours)}"
                )
                return
            certificate = assemble_certificate(
                self.ledger_hash, height, header_hash, header.epoch,
                [ValidatorSignature(k, s) for k, s in signatures.items()],
            )
            del self._attestations[height]
            self._uncertified.pop(height, None)
            self._started_loop().create_task(self._store_certificate(certificate))
            return

    async def _store_certificate(self, certificate: CommitCertificate) -> None:
        async with self._writer:
            if self._closed:
                return
            if self.ledger.get_certificate(certificate.height) is None:
                try:
                    await asyncio.to_thread(self.ledger.put_certificate, certificate)
                except STORAGE_FAILURES as exc:
                    # Unhandled, this was a task exception nobody retrieved, and the node went on.
                    self._fail_stop(f"storing the certificate of height {certificate.height} failed: {exc!r}")
                    return
                self._count("certificates")

    def _fail_stop(self, reason: str) -> None:
        """A disk that failed a write (full, I/O error) leaves this replica's state unknown.

        Voting on would make it a silent extra faulty node; instead it stops and the node
        process exits (code 75), so that its supervisor restarts it once the disk is fixed,
        and catch-up brings it back. Found by the chaos suite's disk-full fault.
        """
        self._halt(reason)
        self._release_waiters()
        if self.on_fatal is not None:
            callback, self.on_fatal = self.on_fatal, None
            callback(reason)

    def _release_waiters(self) -> None:
        """Clients waiting for a commit here get their answer (not committed) now: a halted replica
        commits nothing more, and requests left waiting held the node's HTTP shutdown open for its
        whole grace period, so the fail-stopped process lingered, alive but answering nothing, and a
        supervisor that looked in that window saw neither an exit nor a halt to restart."""
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    def _halt(self, reason: str) -> None:
        if self.halted:
            return
        self.halted = True
        self.divergence = reason
        log.error("replica halted: %s", reason, extra={"ledger": self.name})

    # --- catch-up from peers ---------------------------------------------------------------

    async def _initial_sync(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._sync_once(threshold=1), 10.0)

    async def _sync_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._sync_wakeup.wait(), 1.0)
            self._sync_wakeup.clear()
            try:
                # Normally the commit path keeps up; fetching from peers is for real lag (or
                # the only way forward: a follower, or a validator left behind in an ended epoch).
                quiet = time.time() - self.last_commit_time > 3.0
                urgent = self._gap or not self.is_validator or quiet
                await self._sync_once(threshold=1 if urgent else SYNC_LAG)
                await self._backfill_certificates()
                if self.is_validator:
                    await self._maybe_fast_forward()
                self._update_peers()
                if self.ledger_epoch > 0 and self.ledger.get_epoch_certificate(self.ledger_epoch) is None:
                    # the signatures may have been lost; send ours again until the certificate exists
                    self._sign_epoch_change(self.ledger_epoch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("catch-up failed", extra={"ledger": self.name})
            # attestations of heights long certified are dropped
            floor = self.ledger.height - 1000
            for height in [h for h in self._attestations if h < floor]:
                del self._attestations[height]

    def _sync_request(self, start: int, count: int) -> bytes:
        packed: bytes = msgpack.packb([self.ledger_hash, start, count], use_bin_type=True)
        return packed

    async def _ask(self, author: bytes, start: int, count: int) -> tuple[int, list[tuple[LedgerBlock, CommitCertificate | None]]] | None:
        try:
            raw = await asyncio.wait_for(
                self.transport.get_ledger_blocks(author, self._sync_request(start, count)), 10.0
            )
            answer = msgpack.unpackb(raw, raw=True)
            height, items = answer[0], answer[1]
            if not isinstance(height, int) or isinstance(height, bool):
                raise ValueError("the peer's height is not an integer")
            epoch_certificates = answer[2] if len(answer) > 2 else []
            blocks = []
            for block_raw, cert_raw in items:
                block = codec.decode(LedgerBlock, block_raw)
                cert = codec.decode(CommitCertificate, cert_raw) if cert_raw is not None else None
                blocks.append((block, cert))
            self.peer_heights[author] = height
            if epoch_certificates:
                self._pending_epoch_certificates = list(epoch_certificates)
            return int(height), blocks
        except asyncio.CancelledError:
            raise
        except Exception:
            return None

    async def _sync_once(self, threshold: int) -> None:
        """If a peer is ``threshold`` blocks ahead, fetch and apply its certified blocks.

        Blocks are asked for only from a peer known to be that far ahead; otherwise the request
        asks for none (``count`` 0: the peer answers its height). Asking for a batch every
        second from every peer a block or two ahead — the normal state under load — had each
        peer read and encode those blocks and this node decode them, only to drop them: ~9 %
        of a 4-node network's CPU. Beyond one block (``threshold`` > 1: the commit path keeps up,
        this is for real lag) a peer is not even asked unless its signed commit attestations
        (or an earlier answer) put it that far ahead: a validator attests every height it applies.
        """
        peers = self.transport.peer_authors()
        random.shuffle(peers)
        for author in peers:
            if threshold > 1 and self.peer_heights.get(author, 0) < self.ledger.height + threshold:
                continue
            while not self._stopping:
                start = self.ledger.height + 1
                far_enough = self.peer_heights.get(author, 0) >= start - 1 + threshold
                answer = await self._ask(author, start, SYNC_BATCH if far_enough else 0)
                if answer is None:
                    break
                peer_height, blocks = answer
                await self._take_epoch_certificates()
                if peer_height < start - 1 + threshold:
                    break
                if not blocks:
                    if far_enough:
                        break
                    continue  # the probe found the peer far enough ahead: fetch now
                applied = await self._apply_synced(blocks)
                await self._take_epoch_certificates()
                if applied == 0:
                    break

    async def _take_epoch_certificates(self) -> None:
        pending, self._pending_epoch_certificates = self._pending_epoch_certificates, []
        wanted = [raw for raw in pending if isinstance(raw, bytes)]
        missing = any(self.ledger.get_epoch_certificate(e) is None for e in range(1, self.ledger_epoch + 1))
        if wanted and missing:
            await self._accept_epoch_certificates(wanted)

    async def _apply_synced(self, blocks: list[tuple[LedgerBlock, CommitCertificate | None]]) -> int:
        applied = 0
        for block, certificate in blocks:
            if certificate is None:
                return applied
            async with self._writer:
                if self._stopping:
                    return applied
                height = block.header.height
                if height <= self.ledger.height:
                    continue
                if height != self.ledger.height + 1:
                    return applied
                header_hash = self.ledger.hash_header(block.header)
                try:
                    validators = self._validators_of(block.header.epoch)
                    if validators is None:
                        raise ProofError(f"block of epoch {block.header.epoch}; the ledger is in epoch {self.ledger_epoch}")
                    verify_certificate(
                        certificate, ledger_hash=self.ledger_hash, height=height, header_hash=header_hash,
                        validators=validators,
                    )
                except ProofError as exc:
                    self._count("invalid_sync_blocks")
                    log.warning("synced block %d refused: %s", height, exc.message, extra={"ledger": self.name})
                    return applied
                started = time.perf_counter()
                # The certificate covers the endpoint signatures: 2f+1 validators executed them.
                result = await asyncio.to_thread(
                    self.ledger.apply_block, block, certificate=certificate, preverified=_always
                )
                seconds = time.perf_counter() - started
                self.timers.add("sync_apply", seconds, len(block.transactions))
            self._count("synced_blocks")
            self._after_apply(result, seconds, None)
            applied += 1
        return applied

    async def _backfill_certificates(self) -> None:
        now = time.monotonic()
        stale = sorted(h for h, at in self._uncertified.items() if now - at > 3.0)
        if not stale:
            return
        peers = self.transport.peer_authors()
        random.shuffle(peers)
        for author in peers:
            height = stale[0]
            answer = await self._ask(author, height, min(SYNC_BATCH, stale[-1] - height + 1))
            if answer is None:
                continue
            for block, certificate in answer[1]:
                h = block.header.height
                if certificate is None or h not in self._uncertified or h > self.ledger.height:
                    continue
                header = self.ledger.get_header(h)
                ours = self.ledger.hash_header(header)
                validators = self._validators_of(header.epoch)
                if validators is None:
                    continue
                try:
                    verify_certificate(certificate, ledger_hash=self.ledger_hash, height=h, header_hash=ours,
                                       validators=validators)
                except ProofError:
                    continue
                await self._store_certificate(certificate)
                self._uncertified.pop(h, None)
            if not any(now - at > 3.0 for at in self._uncertified.values()):
                return

    def serve_consensus_root(self) -> bytes:
        """Answer GetConsensusRoot: ``[root block, root QC, commit QC, execution record]`` or empty."""
        snapshot = self.store.root_snapshot()
        if snapshot is None:
            return b""
        root, root_qc, commit_qc = snapshot
        record = self.execution.record(root.id)
        if record is None:
            return b""
        packed: bytes = msgpack.packb(
            [encode_block(root), encode_quorum_certificate(root_qc), encode_quorum_certificate(commit_qc), record.encode()],
            use_bin_type=True,
        )
        return packed

    async def _maybe_fast_forward(self, min_rounds: int | None = None) -> None:
        """Far behind a peer's committed round (a long outage, a wiped disk): sync the ledger to the
        peer's root, then restart the core from that root instead of fetching every block.
        ``min_rounds``: how far behind is far (default ``fast_forward_rounds``; 0 after a snapshot,
        whose consensus store holds nothing below the snapshot to fetch from)."""
        if self.halted or self._stopping:
            return
        peers = self.transport.peer_authors()
        random.shuffle(peers)
        request = msgpack.packb([self.ledger_hash], use_bin_type=True)
        for author in peers:
            try:
                raw = await asyncio.wait_for(self.transport.get_consensus_root(author, request), 5.0)
                if not raw:
                    continue
                block_raw, root_qc_raw, commit_qc_raw, record_raw = msgpack.unpackb(raw, raw=True)
                root = decode_block(block_raw)
                root_qc = decode_quorum_certificate(root_qc_raw)
                commit_qc = decode_quorum_certificate(commit_qc_raw)
                record = ExecutionRecord.decode(record_raw)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            if root.epoch != self.validators.epoch:
                continue  # a peer in another epoch: ledger sync brings this node there
            far = self.settings.fast_forward_rounds if min_rounds is None else min_rounds
            if root.round <= self.core.tree.root.round + far:
                return  # close enough: block retrieval catches up
            checker = MessageVerifier(self.validators, self._verifier, make_genesis_qc(self._genesis))
            try:
                if root_qc.block_id != root.id or root.epoch != self.validators.epoch:
                    raise InvalidMessage("root certificate does not certify the root")
                checker.verify_qc(root_qc)
                checker.verify_qc(commit_qc)
            except InvalidMessage as exc:
                self._count("invalid_sync_blocks")
                log.warning("consensus root from a peer refused: %s", exc.message, extra={"ledger": self.name})
                continue
            if record.height > self.ledger.height:
                await self._sync_once(threshold=1)
            # The root's newest ledger blocks may not be certified yet (attestations trail commits).
            # Waiting for the ledger to reach the root first was a livelock under load: by the next
            # try the peer's root had moved on, again just past its certified height, and the node
            # never rejoined. The root is proven committed by its QCs; the applier waits for the
            # missing ledger blocks (ledger sync fills the gap) before applying what comes next.
            self._fast_forward(root, root_qc, commit_qc, record)
            return

    def _fast_forward(self, root: Block, root_qc: Any, commit_qc: Any, record: ExecutionRecord) -> None:
        old = self.core.tree.root.round
        running, self._started = self._started, False
        self._block_txs.clear()
        self.store.fast_forward(root, root_qc, commit_qc)
        self.store.put_execution_record(root.id, record.encode())
        self.execution.forget(set())
        self.core = self._make_core()
        self._count("fast_forwards")
        log.warning("fast-forwarded consensus from round %d to committed round %d (ledger height %d)",
                    old, root.round, record.height, extra={"ledger": self.name})
        if running:
            self._started = True
            self._feed(Start())

    def serve_ledger_blocks(self, start: int, count: int) -> bytes:
        """Answer GetLedgerBlocks (runs in a worker thread):
        ``[height, [[block, cert|nil], ...], [epoch-change certificate, ...]]``."""
        height = self.ledger.height
        items = []
        size = 0
        if self.ledger.is_archived(start):
            count = 0  # archived here: an empty answer sends the peer to another node (not an error)
        for h in range(max(1, start, self.ledger.history_start + 1), min(height, start + max(0, min(count, SYNC_BATCH)) - 1) + 1):
            block_raw = self.ledger.get_block_encoded(h)
            certificate = self.ledger.get_certificate(h)
            items.append([block_raw, codec.encode(certificate) if certificate is not None else None])
            size += len(block_raw)
            if size > 32 << 20:
                break
        epoch_certificates = []
        for epoch in range(1, self.ledger_epoch + 1):
            change = self.ledger.get_epoch_certificate(epoch)
            if change is not None:
                epoch_certificates.append(codec.encode(change))
        packed: bytes = msgpack.packb([height, items, epoch_certificates], use_bin_type=True)
        return packed

    # --- committer interface (gateway) --------------------------------------------------------

    def _publish(self, result: BlockResult) -> None:
        committed = CommittedBlock(
            result.header.height, result.block_hash, result.header, result.tx_infos, result.events
        )
        for info in result.tx_infos:
            for future in self._waiters.pop(info.tx_hash, []):
                if not future.done():
                    future.set_result(info)
        for subscription in list(self._subscribers):
            subscription.push(committed)

    def subscribe(self, max_queue: int = 1024) -> Subscription:
        subscription = Subscription(self, max_queue)  # type: ignore[arg-type]
        self._subscribers.add(subscription)
        return subscription

    async def wait_for(self, tx_hashes: Sequence[bytes], timeout: float) -> dict[bytes, TransactionInfo]:
        """Wait until the transactions commit at this node (or ``timeout``); the infos of those that did."""
        return await wait_for_commits(self.ledger, self._waiters, tx_hashes, timeout)

    # --- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        stats = self.mempool.stats()
        core = self.core.counters
        return {
            "ledger": self.name,
            "height": self.ledger.height,
            "epoch": self.ledger_epoch,
            "validator": self.is_validator,
            "validators": len(self.ledger_validators.public_keys),
            "round": self.core.current_round,
            "committed_round": self.core.tree.root.round,
            "mempool": stats.pending,
            "in_flight": stats.in_flight,
            "verify_queue": stats.verifying,
            "peers_connected": self.transport.connected_peers(),
            "halted": self.halted,
            "divergence": self.divergence,
            "history_start": self.ledger.history_start,
            "snapshot": self.snapshot_report,
            "invalid_messages": self.counters.get("invalid_messages", 0)
            + core.get("dropped_invalid", 0) + core.get("dropped_malformed", 0),
            "consensus": dict(core),
            "replica": dict(self.counters),
            "stages_seconds": {**self.timers.snapshot(), "ingress_verify": self.mempool.verify_seconds},
            "stage_counts": dict(self.timers.counts),
        }


def _always(tx_hash: bytes) -> bool:
    return True

