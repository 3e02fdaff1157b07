"""The push stream: committed blocks, transaction results and contract events as Server-Sent Events.

Every message has the id ``height:index`` where ``index`` counts the messages of that block:
``0`` is the ``block`` message, then each transaction's ``tx`` message followed by its ``event``
messages. A client resumes with ``Last-Event-ID: h:i`` (or ``?from_height=h``): the stream replays
committed history from the ledger, then follows live commits, so each message is delivered exactly
once across reconnects. Live delivery builds a block's messages from what the committer published
for it (header, results, events: the very values the ledger stored), so it reads nothing back per
transaction; replayed and live messages are byte-for-byte the same (a test compares them). Messages
of kinds the client did not ask for are counted (for the ids) but not encoded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Collection, Sequence

from starlette.concurrency import run_in_threadpool

from ledger.ledger import Ledger
from ledger.types import Event
from node.gateway.errors import InvalidParameter
from node.gateway.schemas import block_public, event_public, tx_result_json
from node.solo import CommittedBlock, LedgerRuntime

KINDS = ("block", "tx", "event")
KEEPALIVE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class StreamMessage:
    height: int
    index: int
    kind: str
    data: str

    @property
    def id(self) -> str:
        return f"{self.height}:{self.index}"

    def encode(self) -> bytes:
        return f"id: {self.id}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


def parse_event_id(text: str) -> tuple[int, int]:
    """``"h:i"`` → (h, i): resume after message i of block h."""
    try:
        height_text, index_text = text.strip().split(":", 1)
        height, index = int(height_text), int(index_text)
    except ValueError as exc:
        raise InvalidParameter("Last-Event-ID must be 'height:index'") from exc
    if height < 0 or index < -1:
        raise InvalidParameter("Last-Event-ID must be 'height:index' with non-negative numbers")
    return height, index


def block_messages(
    ledger: Ledger, height: int, committed: CommittedBlock | None = None, kinds: Collection[str] = KINDS,
) -> list[StreamMessage]:
    """Every stream message of one committed block, in order (only ``kinds`` carry data).

    From ``committed`` (what the committer published for this height) when given, else read back
    from the ledger.
    """
    events_of: Callable[[bytes], Sequence[Event]]
    if committed is not None and committed.height == height:
        header, header_hash, infos = committed.header, committed.block_hash, list(committed.tx_infos)
        grouped: dict[bytes, list[Event]] = {}
        for event in committed.events:
            grouped.setdefault(event.tx_hash, []).append(event)
        events_of = lambda tx_hash: grouped.get(tx_hash, ())  # noqa: E731
    else:
        header = ledger.get_header(height)
        header_hash = ledger.hash_header(header)
        infos = [ledger.get_transaction(tx_hash).info for tx_hash in ledger.get_block_tx_hashes(height)]
        events_of = ledger.get_tx_events
    block_data = block_public(header, header_hash, ledger.get_certificate(height) is not None).model_dump_json()
    messages = [StreamMessage(height, 0, "block", block_data if "block" in kinds else "")]
    want_tx, want_events = "tx" in kinds, "event" in kinds
    for info in infos:
        messages.append(StreamMessage(height, len(messages), "tx", tx_result_json(info) if want_tx else ""))
        for event in events_of(info.tx_hash):
            data = event_public(event).model_dump_json() if want_events else ""
            messages.append(StreamMessage(height, len(messages), "event", data))
    return messages


async def stream_messages(
    runtime: LedgerRuntime, start_height: int, skip_through: int, kinds: frozenset[str],
    shutting_down: asyncio.Event,
) -> AsyncIterator[bytes]:
    """Replay from ``start_height`` (skipping its messages with index ≤ ``skip_through``), then follow."""
    ledger = runtime.ledger
    next_height = start_height
    subscription = runtime.committer.subscribe()
    published: dict[int, CommittedBlock] = {}
    yield b": jadechain stream\nretry: 1000\n\n"
    try:
        while not shutting_down.is_set():
            # Catch up with everything committed (replay, and after every wake-up).
            while next_height <= ledger.height and not shutting_down.is_set():
                committed = published.pop(next_height, None)
                messages = await run_in_threadpool(block_messages, ledger, next_height, committed, kinds)
                chunk = b"".join(
                    message.encode() for message in messages
                    if message.kind in kinds and not (next_height == start_height and message.index <= skip_through)
                )
                if chunk:  # one write per block, not one per message
                    yield chunk
                next_height += 1
            waiter = asyncio.ensure_future(subscription.get())
            stopper = asyncio.ensure_future(shutting_down.wait())
            done, _ = await asyncio.wait({waiter, stopper}, timeout=KEEPALIVE_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if waiter not in done:
                waiter.cancel()
                yield b": keepalive\n\n"
                continue
            pushed = waiter.result()
            if pushed is not None and pushed.height >= next_height:
                published[pushed.height] = pushed
            if pushed is None:
                if subscription.lagged:  # fell behind: re-subscribe and catch up from the ledger
                    subscription.close()
                    subscription = runtime.committer.subscribe()
                    continue
                return  # the committer shut down
    finally:
        subscription.close()

