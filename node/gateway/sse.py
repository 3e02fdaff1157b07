"""The push stream: committed blocks, transaction results and contract events as Server-Sent Events.

Every message has the id ``height:index`` where ``index`` counts the messages of that block:
``0`` is the ``block`` message, then each transaction's ``tx`` message followed by its ``event``
messages. A client resumes with ``Last-Event-ID: h:i`` (or ``?from_height=h``): the stream replays
committed history from the ledger, then follows live commits, so each message is delivered exactly
once across reconnects. Live delivery reads from the ledger too (the committer's publication is only
the wake-up), so replayed and live messages are byte-for-byte the same.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator

from starlette.concurrency import run_in_threadpool

from ledger.ledger import Ledger
from node.gateway.errors import InvalidParameter
from node.gateway.schemas import block_public, event_public, tx_result_public
from node.solo import LedgerRuntime

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


def block_messages(ledger: Ledger, height: int) -> list[StreamMessage]:
    """Every stream message of one committed block, in order."""
    header = ledger.get_header(height)
    messages = [StreamMessage(height, 0, "block", block_public(
        header, ledger.hash_header(header), ledger.get_certificate(height) is not None).model_dump_json())]
    for tx_hash in ledger.get_block_tx_hashes(height):
        info = ledger.get_transaction(tx_hash).info
        messages.append(StreamMessage(height, len(messages), "tx", tx_result_public(info).model_dump_json()))
        for event in ledger.get_tx_events(tx_hash):
            messages.append(StreamMessage(height, len(messages), "event", event_public(event).model_dump_json()))
    return messages


async def stream_messages(
    runtime: LedgerRuntime, start_height: int, skip_through: int, kinds: frozenset[str],
    shutting_down: asyncio.Event,
) -> AsyncIterator[bytes]:
    """Replay from ``start_height`` (skipping its messages with index ≤ ``skip_through``), then follow."""
    ledger = runtime.ledger
    next_height = start_height
    subscription = runtime.committer.subscribe()
    yield b": jadechain stream\nretry: 1000\n\n"
    try:
        while not shutting_down.is_set():
            # Catch up with everything committed (replay, and after every wake-up).
            while next_height <= ledger.height and not shutting_down.is_set():
                messages = await run_in_threadpool(block_messages, ledger, next_height)
                for message in messages:
                    if next_height == start_height and message.index <= skip_through:
                        continue
                    if message.kind in kinds:
                        yield message.encode()
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
            if waiter.result() is None:
                if subscription.lagged:  # fell behind: re-subscribe and catch up from the ledger
                    subscription.close()
                    subscription = runtime.committer.subscribe()
                    continue
                return  # the committer shut down
    finally:
        subscription.close()

