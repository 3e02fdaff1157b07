"""Load generators: offer pre-signed transactions over gRPC or HTTP, open or closed loop.

* **open loop** (``--rate R``): batches leave on a fixed schedule (``batch / R`` seconds apart),
  whatever the chain does — the way real independent clients arrive; if the chain is slower,
  its queues and the latency grow, which is what the figures should show.
* **closed loop** (``--clients N``): each of N clients sends a batch, waits until every
  transaction of it is committed (commit notification), then sends the next — the offered load
  follows the chain's pace and in-flight work stays at ``N × batch``.

Both stop offering at the deadline. Submission goes to the nodes in turn. A ``MEMPOOL_FULL``
answer is back-pressure: the transaction is retried after a short pause (and counted).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

import msgpack

from jadechain.bench.workloads import SignedTx

__all__ = ["LoadResult", "Submitter", "run_closed_loop", "run_open_loop", "GrpcSubmitter", "HttpSubmitter"]

Outcome = list[tuple[str, str | None]]
"""Per transaction: (hash, None if accepted else error code)."""


@dataclass
class LoadResult:
    submitted_at: dict[str, float] = field(default_factory=dict)
    """Hash → monotonic time of the acceptance answer (the start of its latency)."""
    outcome: dict[str, int] = field(default_factory=dict)
    first_submit: float | None = None
    last_submit: float | None = None
    offered: int = 0
    pool_exhausted: bool = False
    """Every pre-signed transaction was offered before the deadline (the figure may be capped by it)."""
    rpc_seconds: list[float] = field(default_factory=list)
    """Round trip of every submit call (one batch): the API's share of the latency."""

    def count(self, code: str, amount: int = 1) -> None:
        self.outcome[code] = self.outcome.get(code, 0) + amount


class Submitter:
    """Sends one batch of encoded transactions to node ``target``; answers per transaction."""

    transport = "none"

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, target: int, batch: Sequence[SignedTx]) -> Outcome:
        raise NotImplementedError

    @property
    def targets(self) -> int:
        raise NotImplementedError


class GrpcSubmitter(Submitter):
    """``/jadechain.Tx/Submit``: msgpack ``[ledger hash, [encoded tx, ...]]`` → ``[[hash, code, message], ...]``."""

    transport = "grpc"

    def __init__(self, addresses: Sequence[str], ledger_hash: bytes) -> None:
        self.addresses = list(addresses)
        self.ledger_hash = ledger_hash
        self.channels: list[Any] = []

    async def open(self) -> None:
        import grpc

        from consensus.network import GRPC_OPTIONS

        self.channels = [grpc.aio.insecure_channel(a, options=GRPC_OPTIONS) for a in self.addresses]

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    @property
    def targets(self) -> int:
        return len(self.addresses)

    async def send(self, target: int, batch: Sequence[SignedTx]) -> Outcome:
        from consensus.network import SUBMIT_METHOD, call_unary

        request = msgpack.packb([self.ledger_hash, [raw for _, raw in batch]], use_bin_type=True)
        response = msgpack.unpackb(await call_unary(self.channels[target], SUBMIT_METHOD, request, 60.0), raw=False)
        if len(response) == 1 and len(batch) > 1 and response[0][1] == "RATE_LIMITED":
            return [(tx_hash, "MEMPOOL_FULL") for tx_hash, _ in batch]  # rate limited: same back-off
        return [(tx_hash, code) for (tx_hash, _), (_, code, _message) in zip(batch, response)]


class HttpSubmitter(Submitter):
    """``POST /api/v1/ledgers/{ledger}/txs`` with ``{"txs": [hex, ...]}`` (the gateway's batch form)."""

    transport = "http"

    def __init__(self, urls: Sequence[str], ledger_hash: str) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.ledger_hash = ledger_hash
        self.client: Any = None

    async def open(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=64))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    @property
    def targets(self) -> int:
        return len(self.urls)

    async def send(self, target: int, batch: Sequence[SignedTx]) -> Outcome:
        url = f"{self.urls[target]}/api/v1/ledgers/{self.ledger_hash}/txs"
        response = await self.client.post(url, json={"txs": [raw.hex() for _, raw in batch]})
        if response.status_code == 429:
            return [(tx_hash, "MEMPOOL_FULL") for tx_hash, _ in batch]  # rate limited: same back-off
        response.raise_for_status()
        results = response.json()
        return [(tx_hash, None if item.get("accepted") else (item.get("error") or {}).get("code", "REJECTED"))
                for (tx_hash, _), item in zip(batch, results)]


async def _send_with_retry(submitter: Submitter, target: int, batch: Sequence[SignedTx], result: LoadResult,
                           deadline: float) -> list[str]:
    """Send until every transaction has a final answer (or the deadline); the accepted hashes."""
    pending = list(batch)
    accepted: list[str] = []
    while pending:
        try:
            sent = time.monotonic()
            answers = await submitter.send(target, pending)
            result.rpc_seconds.append(time.monotonic() - sent)
        except Exception as exc:  # a node down or slow: count, move to the next node
            result.count(f"transport_error:{type(exc).__name__}", len(pending))
            if time.monotonic() > deadline:
                return accepted
            target = (target + 1) % submitter.targets
            await asyncio.sleep(0.2)
            continue
        now = time.monotonic()
        raw_by_hash = dict(pending)
        retry = []
        for tx_hash, code in answers:
            if code is None or code == "DUPLICATE_TRANSACTION":
                result.submitted_at.setdefault(tx_hash, now)
                accepted.append(tx_hash)
                result.count("accepted")
            elif code == "MEMPOOL_FULL":
                retry.append((tx_hash, raw_by_hash[tx_hash]))
            else:
                result.count(code)
        if retry:
            result.count("retried_mempool_full", len(retry))
            if time.monotonic() > deadline:
                result.count("dropped_at_deadline", len(retry))
                return accepted
            await asyncio.sleep(0.1)
        pending = retry
    return accepted


async def run_open_loop(
    submitter: Submitter, txs: Sequence[SignedTx], rate: float, batch: int, duration: float,
    on_progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Offer ``txs`` at ``rate`` tx/s in batches of ``batch`` for at most ``duration`` seconds."""
    result = LoadResult()
    await submitter.open()
    try:
        start = time.monotonic()
        result.first_submit = start
        deadline = start + duration
        in_flight: set[asyncio.Task[list[str]]] = set()
        sent = 0
        index = 0
        for offset in range(0, len(txs), batch):
            due = start + sent / rate
            if due >= deadline:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = txs[offset:offset + batch]
            task = asyncio.create_task(_send_with_retry(submitter, index % submitter.targets, chunk, result,
                                                        deadline + 5.0))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += len(chunk)
            index += 1
            result.offered = sent
            if on_progress is not None:
                on_progress(len(chunk))
        if in_flight:
            await asyncio.gather(*in_flight)
        result.last_submit = time.monotonic()
    finally:
        await submitter.close()
    return result


async def run_closed_loop(
    submitter: Submitter, txs: Sequence[SignedTx], clients: int, batch: int, duration: float,
    wait_committed: Callable[[list[str], float], Awaitable[bool]],
    on_progress: Callable[[int], None] | None = None, commit_timeout: float = 60.0,
) -> LoadResult:
    """``clients`` loops of: send a batch, wait for all of it to commit; until ``duration`` or no txs."""
    result = LoadResult()
    await submitter.open()
    cursor = [0]
    try:
        start = time.monotonic()
        result.first_submit = start
        deadline = start + duration

        async def client(number: int) -> None:
            target = number % submitter.targets
            while time.monotonic() < deadline and cursor[0] < len(txs):
                chunk = txs[cursor[0]:cursor[0] + batch]
                cursor[0] += len(chunk)
                result.offered += len(chunk)
                accepted = await _send_with_retry(submitter, target, chunk, result, deadline + 5.0)
                if on_progress is not None:
                    on_progress(len(chunk))
                if accepted and not await wait_committed(accepted, commit_timeout):
                    result.count("client_commit_timeout")
                target = (target + 1) % submitter.targets

        await asyncio.gather(*(client(n) for n in range(clients)))
        result.last_submit = time.monotonic()
        if cursor[0] >= len(txs) and result.last_submit < deadline:
            result.count("pool_exhausted_before_deadline")
    finally:
        await submitter.close()
    return result
