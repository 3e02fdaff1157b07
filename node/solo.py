"""A single-node block producer ("solo" consensus) for development, tests and benchmarks.

:class:`SoloCommitter` plays the whole consensus: every ``idle_block_ms`` (or at once when
``max_block_txs`` transactions wait) it pulls a batch from the mempool, makes the next block,
signs the block's commit statement with its validator key(s), and applies block and certificate
in one atomic write, in a worker thread so the event loop keeps serving reads. Committed blocks
are published to in-process subscribers (``?wait=commit`` and the SSE stream).

Pipelined roots: a header carries the execution roots of the block *before* it, so the data of
the last block only becomes provable when another block is certified on top of it. The committer
therefore seals every non-empty block with one empty block when nothing else arrives within
``idle_block_ms``; after that, every committed transaction and entry has a certified proof.
A ledger with several validators is only certified if the committer holds a quorum of their keys
(a dev network whose keys are all local); otherwise proofs are returned uncertified.

:func:`serve_solo` runs a committer plus the HTTP gateway; :class:`jadechain.devnet.solo.SoloNode` does
the same in a background thread for tests and benchmarks (real HTTP on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Sequence

from ledger.certificate import CommitCertificate, assemble_certificate, sign_commit_statement
from ledger.crypto import KeyPair, sign
from ledger.crypto import load_keypair as load_key  # the name the node's callers import
from ledger.errors import Archived, NotFound
from ledger.executor import SignedTransaction
from ledger.ledger import BlockResult, Ledger
from ledger.types import Block, BlockHeader, Event, TransactionInfo
from node.mempool import Mempool
from node.serving import bound_socket, serve_app

log = logging.getLogger("jadechain.solo")

__all__ = [
    "CommittedBlock", "LedgerRuntime", "SoloCommitter", "Subscription", "load_key", "serve_solo", "solo_runtime",
    "wait_for_commits",
]


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """What subscribers learn about one committed block."""

    height: int
    block_hash: bytes
    header: BlockHeader
    tx_infos: tuple[TransactionInfo, ...]
    events: tuple[Event, ...]


class Subscription:
    """A bounded queue of committed blocks. A subscriber that falls too far behind is closed
    (``lagged`` is set) instead of slowing the committer; it resumes from the ledger."""

    def __init__(self, owner: "SoloCommitter", max_queue: int) -> None:
        self._owner = owner
        self.queue: asyncio.Queue[CommittedBlock | None] = asyncio.Queue(max_queue)
        self.lagged = False

    def push(self, block: CommittedBlock) -> None:
        if self.lagged:
            return
        try:
            self.queue.put_nowait(block)
        except asyncio.QueueFull:
            self.lagged = True
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)

    async def get(self) -> CommittedBlock | None:
        """The next committed block; None when the subscription ended (lagged or shut down)."""
        return await self.queue.get()

    def close(self) -> None:
        self._owner._subscribers.discard(self)


class SoloCommitter:
    """The single-node block producer. Use as ``async with SoloCommitter(...) as committer``."""

    def __init__(
        self,
        ledger: Ledger,
        mempool: Mempool,
        validator_keys: Sequence[KeyPair],
        *,
        idle_block_ms: int = 50,
        max_block_txs: int = 2000,
        max_block_bytes: int = 16 << 20,
        shutdown_timeout: float = 10.0,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_commit: Callable[[BlockResult, float, list[float]], None] | None = None,
    ) -> None:
        if not validator_keys:
            raise ValueError("the solo committer needs at least one validator key")
        self.ledger = ledger
        self.mempool = mempool
        self.validator_keys = list(validator_keys)
        self.idle_block_ms = idle_block_ms
        self.max_block_txs = max_block_txs
        self.max_block_bytes = max_block_bytes
        self.shutdown_timeout = shutdown_timeout
        self.clock_ms = clock_ms
        self.on_commit = on_commit
        """Called after each block: (result, seconds to make and apply it, each tx's seconds since admission)."""
        self._subscribers: set[Subscription] = set()
        self._waiters: dict[bytes, list[asyncio.Future[TransactionInfo]]] = {}
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._needs_seal = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._stopping = False
        # After a crash the last block may carry transactions and no block on top of it: seal it.
        self._needs_seal = self.ledger.last_header.tx_count > 0
        self._task = asyncio.create_task(self._run(), name="solo-committer")

    async def stop(self) -> None:
        """Finish the block in flight (bounded by ``shutdown_timeout``), then end subscriptions."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.shutdown_timeout)
            except asyncio.TimeoutError:
                log.warning("solo committer did not stop within %.1fs; cancelling", self.shutdown_timeout)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for subscription in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(None)
        self._subscribers.clear()
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> "SoloCommitter":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def notify(self) -> None:
        """Tell the committer transactions arrived (thread-safe); it cuts a block early if full."""
        if self._loop is None or self._wakeup is None:
            return
        if self.mempool.size() >= self.max_block_txs:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        if self._wakeup is None:
            raise RuntimeError("SoloCommitter.start() creates the wake-up event the loop waits on")
        while not self._stopping:
            if self.mempool.size() < self.max_block_txs:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.idle_block_ms / 1000)
            self._wakeup.clear()
            if self._stopping:
                break  # accepted-but-unpulled transactions stay in the (volatile) mempool
            transactions = self.mempool.pull_signed(self.max_block_txs, self.max_block_bytes)
            if not transactions and not self._needs_seal:
                continue
            try:
                started = time.monotonic()
                result = await asyncio.to_thread(self._commit, transactions)
            except Exception:
                log.exception("block production failed; transactions requeued")
                self.mempool.requeue([signed.tx_hash for signed in transactions])
                await asyncio.sleep(self.idle_block_ms / 1000)
                continue
            self._needs_seal = bool(transactions)
            # Every transaction of the block was either executed or skipped as a duplicate.
            admitted = self.mempool.remove_committed(
                [info.tx_hash for info in result.tx_infos] + list(result.skipped_duplicates)
            )
            if self.on_commit is not None:
                now = time.monotonic()
                self.on_commit(result, now - started, [now - at for at in admitted])
            self._publish(result)
        # Shutting down: seal the last non-empty block so its data stays provable.
        if self._needs_seal:
            with contextlib.suppress(Exception):
                self._publish(await asyncio.to_thread(self._commit, []))
                self._needs_seal = False

    def _commit(self, transactions: list[SignedTransaction]) -> BlockResult:
        """Make, certify and apply the next block (runs in a worker thread)."""
        proposer = self.validator_keys[0].public.encoded
        block = self.ledger.make_block(transactions, time=self.clock_ms(), proposer=proposer)
        certificate = self._certify(block)
        return self.ledger.apply_block(
            block, certificate=certificate, preverified=self.mempool.preverified_for(transactions), signed=transactions,
        )

    def _certify(self, block: Block) -> CommitCertificate:
        header = block.header
        header_hash = self.ledger.hash_header(header)
        signatures = [
            sign_commit_statement(
                functools.partial(_sign_with, pair),
                pair.public.encoded, self.ledger.ledger_hash, header.height, header_hash, header.epoch,
            )
            for pair in self.validator_keys
        ]
        return assemble_certificate(self.ledger.ledger_hash, header.height, header_hash, header.epoch, signatures)

    # --- publishing and waiting -------------------------------------------------------------------

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
        """Receive every block committed from now on (call from the event loop)."""
        subscription = Subscription(self, max_queue)
        self._subscribers.add(subscription)
        return subscription

    async def wait_for(self, tx_hashes: Sequence[bytes], timeout: float) -> dict[bytes, TransactionInfo]:
        """Wait until the transactions commit (or ``timeout``); return the infos of those that did.

        Registration and the check against the ledger happen in one step of the event loop, and
        blocks are published from the loop, so a commit can never slip in between.
        """
        return await wait_for_commits(self.ledger, self._waiters, tx_hashes, timeout)


def _sign_with(pair: KeyPair, message: bytes) -> bytes:
    return sign(pair.private, message)


# --- wiring: one ledger's runtime, the gateway, a server -----------------------------------------

@dataclass
class LedgerRuntime:
    """Everything the gateway needs for one ledger hosted by this node."""

    ledger: Ledger
    mempool: Mempool
    committer: SoloCommitter


def default_contract_runtime() -> Any:
    """The sandboxed contract engine (``contracts.SandboxRuntime``), or None if it cannot be loaded."""
    try:
        from contracts import EngineSet
    except Exception:  # the node still serves data, transactions with contracts fail with a clear code
        log.warning("contract engine unavailable; contract operations will fail", exc_info=True)
        return None
    return EngineSet()  # the engine each ledger recorded at genesis (legacy sandbox or WebAssembly)


@contextlib.asynccontextmanager
async def solo_runtime(
    ledger: Ledger, validator_keys: Sequence[KeyPair], *, mempool_size: int = 100_000,
    idle_block_ms: int = 50, max_block_txs: int = 2000, metrics: Any = None,
) -> AsyncIterator[LedgerRuntime]:
    """A running mempool + committer for ``ledger`` (the ledger stays open; the caller closes it)."""
    mempool = Mempool.for_ledger(ledger, max_size=mempool_size)
    committer = SoloCommitter(
        ledger, mempool, validator_keys, idle_block_ms=idle_block_ms, max_block_txs=max_block_txs,
    )
    runtime = LedgerRuntime(ledger, mempool, committer)
    async with committer:
        yield runtime


async def serve_solo(
    data_dir: str, ledger_hash: str, key_file: str, password: str, host: str = "127.0.0.1", port: int = 8080,
    *, settings: Any = None, ready: Callable[[int], None] | None = None,
    stop_event: asyncio.Event | None = None, idle_block_ms: int = 50, max_block_txs: int = 2000,
) -> None:
    """Run one ledger with a solo committer and the HTTP gateway until SIGINT/SIGTERM (or ``stop_event``).

    Shutdown order: stop accepting HTTP and end streams, let the committer finish and seal its last
    block, close the ledger. ``ready(port)`` is called once the server accepts connections.
    """
    import signal

    from ledger.store.directory import open_ledger
    from node.gateway.app import GatewaySettings, create_app
    from node.process import tune_garbage_collector

    tune_garbage_collector()
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    key = load_key(key_file, password)
    ledger = open_ledger(data_dir, ledger_hash, runtime=default_contract_runtime())
    try:
        async with solo_runtime(ledger, [key], idle_block_ms=idle_block_ms, max_block_txs=max_block_txs) as runtime:
            app = create_app({ledger_hash: runtime}, settings or GatewaySettings.from_env())
            sock = bound_socket(host, port)
            bound = sock.getsockname()[1]
            log.info("solo node for ledger %s serving on http://%s:%d", ledger_hash, host, bound)
            try:
                await serve_app(app, sock, stop, None if ready is None else lambda: ready(bound),
                                on_stop=app.state.shutting_down.set)  # open SSE streams end: prompt shutdown
            finally:
                sock.close()
    finally:
        ledger.close()
        for signum in installed:
            loop.remove_signal_handler(signum)


async def wait_for_commits(
    ledger: Ledger,
    waiters: dict[bytes, list[asyncio.Future[TransactionInfo]]],
    tx_hashes: Sequence[bytes],
    timeout: float,
) -> dict[bytes, TransactionInfo]:
    """Wait until the transactions commit (or ``timeout``); return the infos of those that did.

    Shared by the solo committer and the replica: both resolve the futures registered in
    ``waiters`` from the event loop when a block commits, so a commit cannot slip in between.
    """
    loop = asyncio.get_running_loop()
    done: dict[bytes, TransactionInfo] = {}
    futures: dict[bytes, asyncio.Future[TransactionInfo]] = {}
    for tx_hash in tx_hashes:
        try:
            done[tx_hash] = ledger.get_transaction(tx_hash).info
            continue
        except Archived:
            continue  # committed in a block archived since: nothing to wait for (a read answers ARCHIVED)
        except NotFound:
            pass
        future: asyncio.Future[TransactionInfo] = loop.create_future()
        waiters.setdefault(tx_hash, []).append(future)
        futures[tx_hash] = future
    if futures:
        await asyncio.wait(list(futures.values()), timeout=timeout)
    for tx_hash, future in futures.items():
        if future.done() and not future.cancelled():
            done[tx_hash] = future.result()
        else:
            future.cancel()
            waiting = waiters.get(tx_hash)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del waiters[tx_hash]
    return done
