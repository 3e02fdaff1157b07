"""Node-to-node transport on gRPC (grpcio's asyncio API), raw bytes, no generated code.

Three services, each a generic handler over bytes:

- ``/jadechain.Consensus/Send`` — a signed envelope ``[sender public key, message bytes,
  signature]`` (canonical msgpack). ``message bytes`` is a msgpack list of messages, so a
  sender batches what queued up while its previous call was in flight and signs once per
  batch. The envelope is verified at ingress: an unknown sender or a bad signature is
  dropped, counted in :attr:`NetworkServer.counters` and logged; the messages of a good one
  go to ``on_messages(sender, messages)``. The reply is empty.
- ``/jadechain.Sync/GetLedgerBlocks`` and ``/jadechain.Sync/GetConsensusRoot`` —
  request/response bytes handled by the node (catch-up of far-behind replicas).
- ``/jadechain.Tx/Submit`` — high-rate client submission; bytes handled by the node.

Outgoing traffic goes through one :class:`PeerSender` per peer: a bounded queue and a task
that connects, sends and reconnects with exponential backoff. A peer being down never
blocks the others; when a queue is full the oldest messages are dropped (consensus recovers
lost messages by its timeouts and sync).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from typing import Any, Awaitable, Callable, Iterable, Mapping

import grpc
import msgpack

from consensus.errors import InvalidMessage
from ledger.crypto import PublicKey, verify
from ledger.errors import CryptoError

__all__ = [
    "ENVELOPE_DOMAIN",
    "GRPC_OPTIONS",
    "NetworkServer",
    "PeerSender",
    "call_unary",
    "open_envelope",
    "seal_envelope",
]

log = logging.getLogger("jadechain.network")

ENVELOPE_DOMAIN = b"JADECHAIN/NETWORK/ENVELOPE/v1\x00"
"""Prefix of the bytes a node signs, so an envelope signature is never valid elsewhere."""

SEND_METHOD = "/jadechain.Consensus/Send"
GET_LEDGER_BLOCKS_METHOD = "/jadechain.Sync/GetLedgerBlocks"
GET_CONSENSUS_ROOT_METHOD = "/jadechain.Sync/GetConsensusRoot"
GET_SNAPSHOT_METHOD = "/jadechain.Sync/GetSnapshot"
SUBMIT_METHOD = "/jadechain.Tx/Submit"

GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 128 << 20),
    ("grpc.max_receive_message_length", 128 << 20),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.min_reconnect_backoff_ms", 100),
]


def _identity(data: bytes) -> bytes:
    return data


def seal_envelope(public_key: bytes, sign: Callable[[bytes], bytes], messages: Iterable[bytes]) -> bytes:
    """The wire bytes of a batch of messages signed by this node."""
    body: bytes = msgpack.packb(list(messages), use_bin_type=True)
    packed: bytes = msgpack.packb([public_key, body, sign(ENVELOPE_DOMAIN + body)], use_bin_type=True)
    return packed


def open_envelope(
    raw: bytes, keys: Mapping[bytes, PublicKey]
) -> tuple[bytes, list[bytes]] | str:
    """``(sender, messages)`` of a well-formed envelope from a known sender, else the reason to drop it."""
    try:
        items = msgpack.unpackb(raw, raw=True, max_bin_len=len(raw), max_array_len=4)
    except Exception:  # msgpack raises many types on garbage
        return "malformed envelope"
    if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
        return "malformed envelope"
    sender, body, signature = items
    key = keys.get(sender)
    if key is None:
        return "unknown sender"
    try:
        valid = verify(key, ENVELOPE_DOMAIN + body, signature)
    except CryptoError:
        valid = False
    if not valid:
        return "bad envelope signature"
    try:
        messages = msgpack.unpackb(body, raw=True, max_bin_len=len(body))
    except Exception:
        return "malformed message batch"
    if not isinstance(messages, list) or not all(isinstance(m, bytes) for m in messages):
        return "malformed message batch"
    return sender, messages


class NetworkServer:
    """The gRPC server of a node. Use as ``async with NetworkServer(...) as server``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        keys: Mapping[bytes, PublicKey],
        on_messages: Callable[[bytes, list[bytes]], None],
        get_ledger_blocks: Callable[[bytes], Awaitable[bytes]],
        submit: Callable[[bytes], Awaitable[bytes]],
        get_consensus_root: Callable[[bytes], Awaitable[bytes]] | None = None,
        get_snapshot: Callable[[bytes], Awaitable[bytes]] | None = None,
        verify_in_thread: bool = False,
        credentials: Any = None,
        peer_identity: Callable[[Any], bytes | None] | None = None,
        submit_gate: Callable[[Any], bytes | None] | None = None,
    ) -> None:
        """``keys``: the peers allowed to send (encoded public key → parsed key).

        ``credentials``: gRPC server credentials (mutual TLS) — None serves plaintext.
        ``peer_identity(context)``: the node key the caller's certificate is bound to; when given,
        an envelope is accepted only from the key of the certificate that carried it.
        ``submit_gate(context)``: called before each client Submit; a returned response (a refusal,
        e.g. a rate limit) is sent instead of calling ``submit``.
        """
        self.submit_gate = submit_gate
        self.credentials = credentials
        self.peer_identity = peer_identity
        self.host = host
        self.port = port
        self.keys = dict(keys)
        self.on_messages = on_messages
        self.get_ledger_blocks = get_ledger_blocks
        self.submit = submit
        self.get_consensus_root = get_consensus_root
        self.get_snapshot = get_snapshot
        self.verify_in_thread = verify_in_thread
        self.counters: dict[str, int] = {}
        self._server: Any = None

    def _count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    async def _send(self, request: bytes, context: Any) -> bytes:
        if self.verify_in_thread:
            opened = await asyncio.to_thread(open_envelope, request, self.keys)
        else:
            opened = open_envelope(request, self.keys)
        if isinstance(opened, str):
            self._count("invalid_envelopes")
            log.warning("dropped envelope from %s: %s", context.peer(), opened)
            return b""
        sender, messages = opened
        if self.peer_identity is not None and self.peer_identity(context) != sender:
            self._count("invalid_envelopes")
            log.warning("dropped envelope from %s: its sender is not the node its TLS certificate names", context.peer())
            return b""
        self._count("envelopes_received")
        self._count("messages_received", len(messages))
        try:
            self.on_messages(sender, messages)
        except Exception:  # a handler bug must not kill the transport
            log.exception("message handler failed")
        return b""

    async def _get_ledger_blocks(self, request: bytes, context: Any) -> bytes:
        return await self.get_ledger_blocks(request)

    async def _submit(self, request: bytes, context: Any) -> bytes:
        if self.submit_gate is not None:
            refused = self.submit_gate(context)
            if refused is not None:
                self._count("submits_refused")
                return refused
        return await self.submit(request)

    async def _get_consensus_root(self, request: bytes, context: Any) -> bytes:
        if self.get_consensus_root is None:
            return b""
        return await self.get_consensus_root(request)

    async def _get_snapshot(self, request: bytes, context: Any) -> bytes:
        if self.get_snapshot is None:
            return b""
        return await self.get_snapshot(request)

    async def start(self) -> None:
        server = grpc.aio.server(options=GRPC_OPTIONS)

        def unary(fn: Callable[[bytes, Any], Awaitable[bytes]]) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=_identity, response_serializer=_identity
            )

        handlers = [
            grpc.method_handlers_generic_handler("jadechain.Consensus", {"Send": unary(self._send)}),
            grpc.method_handlers_generic_handler(
                "jadechain.Sync",
                {
                    "GetLedgerBlocks": unary(self._get_ledger_blocks),
                    "GetConsensusRoot": unary(self._get_consensus_root),
                    "GetSnapshot": unary(self._get_snapshot),
                },
            ),
            grpc.method_handlers_generic_handler("jadechain.Tx", {"Submit": unary(self._submit)}),
        ]
        server.add_generic_rpc_handlers(handlers)
        if self.credentials is not None:
            bound = server.add_secure_port(f"{self.host}:{self.port}", self.credentials)
        else:
            bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC port {self.host}:{self.port}")
        self.port = bound
        await server.start()
        self._server = server

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    async def __aenter__(self) -> "NetworkServer":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class PeerSender:
    """Sends signed message batches to one peer, reconnecting with backoff; never blocks callers."""

    def __init__(
        self,
        name: str,
        address: str,
        public_key: bytes,
        sign: Callable[[bytes], bytes],
        *,
        max_queue: int = 10_000,
        max_batch_bytes: int = 16 << 20,
        call_timeout: float = 5.0,
        channel_factory: Callable[[str], Any] | None = None,
    ) -> None:
        """``channel_factory(address)`` opens the gRPC channel (mutual TLS); default: plaintext."""
        self.channel_factory = channel_factory
        self.name = name
        self.address = address
        self.public_key = public_key
        self.sign = sign
        self.max_queue = max_queue
        self.max_batch_bytes = max_batch_bytes
        self.call_timeout = call_timeout
        self.connected = False
        """True after the last call succeeded."""
        self.counters: dict[str, int] = {}
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._channel: Any = None
        self._stopping = False

    def _count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def send(self, message: bytes) -> None:
        """Queue a message (call from the event loop)."""
        if len(self._queue) >= self.max_queue:
            self._queue.popleft()
            self._count("dropped_queue_full")
        self._queue.append(message)
        self._wakeup.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"peer-sender-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def _take_batch(self) -> list[bytes]:
        batch: list[bytes] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0]) <= self.max_batch_bytes):
            message = self._queue.popleft()
            batch.append(message)
            size += len(message)
        return batch

    async def _run(self) -> None:
        backoff = 0.05
        if self.channel_factory is not None:
            self._channel = self.channel_factory(self.address)
        else:
            self._channel = grpc.aio.insecure_channel(self.address, options=GRPC_OPTIONS)
        call = self._channel.unary_unary(
            SEND_METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        while not self._stopping:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            envelope = seal_envelope(self.public_key, self.sign, batch)
            try:
                await call(envelope, timeout=self.call_timeout, wait_for_ready=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.info("peer %s (%s) unreachable: %s", self.name, self.address, _short(exc))
                self.connected = False
                self._count("send_failures")
                self._count("dropped_unreachable", len(batch))
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 2.0)
                continue
            if not self.connected:
                log.info("peer %s (%s) connected", self.name, self.address)
            self.connected = True
            backoff = 0.05
            self._count("messages_sent", len(batch))


def _short(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return repr(exc)


async def call_unary(channel: Any, method: str, request: bytes, timeout: float) -> bytes:
    """One raw-bytes unary call on an open channel."""
    stub = channel.unary_unary(method, request_serializer=_identity, response_deserializer=_identity)
    response = await stub(request, timeout=timeout)
    if not isinstance(response, bytes):  # the peer's answer: checked, never assumed
        raise InvalidMessage(f"{method} answered {type(response).__name__}, not bytes")
    return response
