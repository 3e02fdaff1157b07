"""The validator node process: ``python -m node.server --config node.toml``.

:func:`run_node` hosts every ledger of the configuration, each with its :class:`node.replica.Replica`
(consensus instance, mempool, LevelDB), one gRPC server for peers and high-rate clients
(:mod:`consensus.network`) and the HTTP gateway (:mod:`node.gateway`, with /metrics).

Lifecycle: startup (open ledgers, bind ports, catch up from peers, start consensus) → serve
→ on SIGTERM/SIGINT: stop accepting HTTP, stop consensus, finish applying the committed
blocks in flight, close stores and ledgers. A restart resumes from the data directory.

Logs go to stderr, one JSON object per line (``ts``, ``level``, ``logger``, ``msg`` and any
extra fields such as ``ledger`` or ``peer``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import grpc
import msgpack
from fastapi import Request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from consensus.network import (
    GET_CONSENSUS_ROOT_METHOD,
    GET_LEDGER_BLOCKS_METHOD,
    GET_SNAPSHOT_METHOD,
    GRPC_OPTIONS,
    NetworkServer,
    PeerSender,
    call_unary,
)
from ledger.crypto import KeyPair, PublicKey, sign, to_base58
from ledger.errors import ConfigError, JadechainError, StorageError
from ledger.ledger import Ledger
from node.backup import add_backup_route
from node.config import NodeConfig, load_node_config
from node.gateway.deps import TokenBuckets
from node.mempool import registered_user_check
from node.process import GC_SECONDS, tune_garbage_collector
from node.replica import Replica
from node.tls import TlsFiles, peer_node_key_bytes, secure_channel, server_credentials
from node.serving import bound_socket, serve_app
from node.solo import LedgerRuntime, default_contract_runtime, load_key

__all__ = ["NodeTransport", "main", "run_node", "setup_json_logging"]

log = logging.getLogger("jadechain.node")

SUBMIT_MAX_BYTES = 8 << 20
"""Largest gRPC Submit request (the HTTP gateway's body limit)."""
SUBMIT_MAX_TXS = 5000
"""Most transactions in one gRPC Submit call (the HTTP gateway's batch limit)."""


def submit_client(context: Any) -> str:
    """Who is calling gRPC Submit, for its rate limit: the TLS certificate (its SHA-256) when the
    caller presented one, else the caller's address without the port (a new connection gets no
    fresh bucket)."""
    try:
        pems = context.auth_context().get("x509_pem_cert") or []
    except Exception:
        pems = []
    if pems:
        return "cert:" + hashlib.sha256(pems[0]).hexdigest()
    try:
        peer = str(context.peer())
    except Exception:
        return "unknown"
    # "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:/path"
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6") and ":" in rest:
        rest = rest.rsplit(":", 1)[0]
    return f"{kind}:{rest}"


def submit_rate_gate(rate: float, burst: float) -> Callable[[Any], bytes | None]:
    """A gRPC Submit gate with the gateway's POST token bucket (``[gateway] post_rate``/``post_burst``)
    per client (:func:`submit_client`): a caller over its budget gets one RATE_LIMITED refusal, as
    HTTP answers 429 RATE_LIMITED."""
    buckets = TokenBuckets(rate, burst)

    def gate(context: Any) -> bytes | None:
        if buckets.take(submit_client(context)):
            return None
        packed: bytes = msgpack.packb([[None, "RATE_LIMITED", "too many Submit calls from this client; retry shortly"]])
        return packed

    return gate

_STANDARD_LOG_FIELDS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_LOG_FIELDS and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def setup_json_logging(level: int = logging.INFO, node: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if node is not None:
        factory = logging.getLogRecordFactory()

        def with_node(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            record.node = node
            return record

        logging.setLogRecordFactory(with_node)
    for noisy in ("uvicorn", "uvicorn.error", "grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class NodeTransport:
    """The replicas' view of the network: one :class:`PeerSender` and one sync channel per peer.

    The peers follow the ledgers: each replica reports its ledger's participants
    (:meth:`set_ledger_peers`); the transport connects to new ones (validators and nodes waiting to
    join) and drops deactivated ones. Addresses come from the ``[[peers]]`` of the configuration
    when it names the key (an operator's override: proxies, NAT), else from the address registered
    on chain. ``on_change(keys)`` tells the gRPC server which senders to accept.
    """

    def __init__(self, config: NodeConfig, keypair: KeyPair) -> None:
        self.keypair = keypair
        self.senders: dict[bytes, PeerSender] = {}
        self.addresses: dict[bytes, str] = {}
        self.names: dict[bytes, str] = {}
        self._configured: dict[bytes, tuple[str, str]] = {}
        self._ledger_peers: dict[str, dict[bytes, tuple[str, str] | None]] = {}
        self._started = False
        self._accepted: set[bytes] = set()
        self._stopping_senders: set[asyncio.Task[None]] = set()
        self.on_change: Callable[[dict[bytes, PublicKey]], None] | None = None
        self.tls: TlsFiles | None = (TlsFiles(config.tls.ca_file, config.tls.cert_file, config.tls.key_file)
                                     if config.tls is not None else None)
        for peer in config.peers:
            author = peer.public_key_bytes
            self._configured[author] = (peer.name, peer.address)
            self._add(author, peer.name, peer.address)
        self._channels: dict[bytes, Any] = {}

    def _sign_envelope(self, message: bytes) -> bytes:
        return sign(self.keypair.private, message)

    def _add(self, author: bytes, name: str, address: str) -> None:
        sender = PeerSender(name, address, self.keypair.public.encoded, self._sign_envelope,
                            channel_factory=self._open_channel if self.tls is not None else None)
        self.senders[author] = sender
        self.addresses[author] = address
        self.names[author] = name
        if self._started:
            sender.start()

    def _drop(self, author: bytes) -> None:
        sender = self.senders.pop(author, None)
        self.addresses.pop(author, None)
        self.names.pop(author, None)
        channel = self._channels.pop(author, None)
        if self._started and (sender is not None or channel is not None):
            task = asyncio.get_running_loop().create_task(self._close(sender, channel))
            self._stopping_senders.add(task)
            task.add_done_callback(self._stopping_senders.discard)

    @staticmethod
    async def _close(sender: PeerSender | None, channel: Any) -> None:
        with contextlib.suppress(Exception):
            if sender is not None:
                await sender.stop()
            if channel is not None:
                await channel.close()

    def set_ledger_peers(self, ledger: str, peers: dict[bytes, tuple[str, str] | None]) -> None:
        """``peers``: participant key → (name, registered address) or None if deactivated."""
        self._ledger_peers[ledger] = dict(peers)
        wanted: dict[bytes, tuple[str, str]] = {}
        deactivated: set[bytes] = set()
        accepted: set[bytes] = set()
        for view in self._ledger_peers.values():
            for author, item in view.items():
                if item is None:
                    deactivated.add(author)
                    continue
                accepted.add(author)  # a participant without a published address may still send to us
                name, address = item
                configured = self._configured.get(author)
                address = configured[1] if configured is not None else address
                if address:
                    wanted[author] = (name, address)
        known = {author for view in self._ledger_peers.values() for author in view}
        for author, (name, address) in self._configured.items():
            if author not in known:
                wanted[author] = (name, address)  # not a participant of any hosted ledger: keep as configured
        for author in deactivated:
            if not any(view.get(author) is not None for view in self._ledger_peers.values()):
                wanted.pop(author, None)
        changed = False
        for author in list(self.senders):
            if author not in wanted or self.addresses.get(author) != wanted[author][1]:
                self._drop(author)
                changed = True
                log.info("peer dropped", extra={"peer": to_base58(author)})
        for author, (name, address) in wanted.items():
            if author not in self.senders:
                self._add(author, name, address)
                changed = True
                log.info("peer added", extra={"peer": to_base58(author), "peer_name": name, "address": address})
        accepted |= set(self.senders)
        if (changed or accepted != self._accepted) and self.on_change is not None:
            self._accepted = accepted
            self.on_change(self.peer_keys())

    def peer_keys(self) -> dict[bytes, PublicKey]:
        """The keys whose envelopes the gRPC server accepts: peers and the ledgers' active participants."""
        keys = {}
        for author in self._accepted | set(self.senders):
            with contextlib.suppress(Exception):
                keys[author] = PublicKey.from_encoded(author)
        return keys

    def start(self) -> None:
        self._started = True
        for sender in self.senders.values():
            sender.start()

    async def stop(self) -> None:
        for sender in self.senders.values():
            await sender.stop()
        for task in list(self._stopping_senders):
            with contextlib.suppress(Exception):
                await task
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def send(self, author: bytes, message: bytes) -> None:
        sender = self.senders.get(author)
        if sender is not None:
            sender.send(message)

    def broadcast(self, message: bytes) -> None:
        for sender in self.senders.values():
            sender.send(message)

    def peer_authors(self) -> list[bytes]:
        return list(self.senders)

    def connected_peers(self) -> int:
        return sum(1 for sender in self.senders.values() if sender.connected)

    def _open_channel(self, address: str) -> Any:
        if self.tls is None:
            return grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        return secure_channel(address, self.tls, list(GRPC_OPTIONS))

    def _channel(self, author: bytes) -> Any:
        channel = self._channels.get(author)
        if channel is None:
            channel = self._open_channel(self.addresses[author])
            self._channels[author] = channel
        return channel

    async def get_ledger_blocks(self, author: bytes, request: bytes) -> bytes:
        return await call_unary(self._channel(author), GET_LEDGER_BLOCKS_METHOD, request, timeout=10.0)

    async def get_consensus_root(self, author: bytes, request: bytes) -> bytes:
        return await call_unary(self._channel(author), GET_CONSENSUS_ROOT_METHOD, request, timeout=5.0)

    async def get_snapshot(self, author: bytes, request: bytes) -> bytes:
        return await call_unary(self._channel(author), GET_SNAPSHOT_METHOD, request, timeout=30.0)


class _NodeCollector(Collector):
    """Consensus gauges and counters read at scrape time."""

    def __init__(self, replicas: dict[str, Replica], server: NetworkServer, transport: NodeTransport) -> None:
        self.replicas = replicas
        self.server = server
        self.transport = transport

    def collect(self) -> Any:
        round_ = GaugeMetricFamily("jadechain_consensus_round", "Current consensus round", labels=["ledger"])
        committed_round = GaugeMetricFamily("jadechain_consensus_committed_round", "Round of the last committed consensus block", labels=["ledger"])
        peers = GaugeMetricFamily("jadechain_peers_connected", "Peers whose last send succeeded")
        halted = GaugeMetricFamily("jadechain_divergence", "1 if this replica detected divergence and stopped voting", labels=["ledger"])
        invalid = CounterMetricFamily("jadechain_invalid_messages", "Messages dropped at ingress (bad envelope, malformed or invalid)", labels=["ledger"])
        events = CounterMetricFamily("jadechain_consensus_events", "Consensus core counters", labels=["ledger", "counter"])
        stages = CounterMetricFamily("jadechain_stage_seconds", "Seconds spent per replica stage", labels=["ledger", "stage"])
        network = CounterMetricFamily("jadechain_network_events", "Signed envelopes and messages received from peers",
                                      labels=["counter"])
        for counter in ("envelopes_received", "messages_received"):
            network.add_metric([counter], self.server.counters.get(counter, 0))
        gc_seconds = CounterMetricFamily("jadechain_gc_seconds", "CPU seconds in cyclic garbage collection",
                                         labels=["generation"])
        for generation, seconds in sorted(GC_SECONDS.items()):
            gc_seconds.add_metric([str(generation)], seconds)
        peers.add_metric([], self.transport.connected_peers())
        envelope_invalid = self.server.counters.get("invalid_envelopes", 0)
        for name, replica in self.replicas.items():
            round_.add_metric([name], replica.core.current_round)
            committed_round.add_metric([name], replica.core.tree.root.round)
            halted.add_metric([name], 1 if replica.halted else 0)
            core = replica.core.counters
            invalid.add_metric([name], envelope_invalid + replica.counters.get("invalid_messages", 0)
                               + core.get("dropped_invalid", 0) + core.get("dropped_malformed", 0))
            for counter, value in sorted(core.items()):
                events.add_metric([name, counter], value)
            stage_seconds = replica.timers.snapshot()
            stage_seconds["ingress_verify"] = replica.mempool.verify_seconds
            for stage, seconds in sorted(stage_seconds.items()):
                stages.add_metric([name, stage], seconds)
        yield from (round_, committed_round, peers, halted, invalid, events, stages, network, gc_seconds)


async def run_node(
    config: NodeConfig,
    *,
    stop_event: asyncio.Event | None = None,
    ready: Callable[[dict[str, Any]], None] | None = None,
    install_signals: bool = True,
    shutdown_timeout: float = 15.0,
) -> None:
    """Run the node until SIGTERM/SIGINT (or ``stop_event``); see the module docstring."""
    from ledger.store.directory import open_ledger
    from node.gateway.app import GatewaySettings, create_app

    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if install_signals and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
            installed.append(int(signum))
    keypair = load_key(config.node.key_file, config.read_password())
    transport = NodeTransport(config, keypair)
    peer_keys = transport.peer_keys()
    ledgers: dict[str, Ledger] = {}
    replicas: dict[str, Replica] = {}
    fatal: list[str] = []

    def on_messages(sender: bytes, messages: list[bytes]) -> None:
        for raw in messages:
            try:
                ledger_hash, kind, body = msgpack.unpackb(raw, raw=True)
                replica = replicas.get(to_base58(ledger_hash))
            except Exception:
                server.counters["invalid_envelopes"] = server.counters.get("invalid_envelopes", 0) + 1
                continue
            if replica is not None:
                replica.on_message(sender, kind, body)

    async def get_ledger_blocks(request: bytes) -> bytes:
        try:
            ledger_hash, start, count = msgpack.unpackb(request, raw=True)
            replica = replicas[to_base58(ledger_hash)]
        except Exception:
            empty: bytes = msgpack.packb([0, []])
            return empty
        return await asyncio.to_thread(replica.serve_ledger_blocks, int(start), int(count))

    async def get_consensus_root(request: bytes) -> bytes:
        try:
            (ledger_hash,) = msgpack.unpackb(request, raw=True)
            replica = replicas[to_base58(ledger_hash)]
        except Exception:
            return b""
        return await asyncio.to_thread(replica.serve_consensus_root)

    async def get_snapshot(request: bytes) -> bytes:
        try:
            decoded = msgpack.unpackb(request, raw=True, max_bin_len=64, max_array_len=4)
            replica = replicas[to_base58(decoded[0])]
        except Exception:
            return b""
        return await asyncio.to_thread(replica.snapshot_server.serve, decoded)

    def refusal(code: str, message: str) -> bytes:
        packed: bytes = msgpack.packb([[None, code, message]])
        return packed

    async def submit(request: bytes) -> bytes:
        """``[ledger hash, [encoded tx, ...]]`` → ``[[tx hash | nil, error code | nil, message], ...]``.

        The HTTP gateway's limits hold here too: at most ``SUBMIT_MAX_BYTES`` per call and
        ``SUBMIT_MAX_TXS`` transactions; beyond either, one refusal and nothing is decoded or admitted.
        """
        if len(request) > SUBMIT_MAX_BYTES:
            return refusal("REQUEST_TOO_LARGE", f"a Submit call carries at most {SUBMIT_MAX_BYTES} bytes")
        try:
            ledger_hash, raws = msgpack.unpackb(request, raw=True, max_array_len=SUBMIT_MAX_TXS + 1)
            replica = replicas[to_base58(ledger_hash)]
            if not isinstance(raws, list):
                raise TypeError("not a list")
        except ValueError as exc:
            if "exceeds max_array_len" in str(exc):
                return refusal("BATCH_TOO_LARGE", f"at most {SUBMIT_MAX_TXS} transactions per Submit call")
            return refusal("MALFORMED_ENCODING", "expected [ledger hash, [tx, ...]] for a hosted ledger")
        except Exception:
            return refusal("MALFORMED_ENCODING", "expected [ledger hash, [tx, ...]] for a hosted ledger")
        if len(raws) > SUBMIT_MAX_TXS:
            return refusal("BATCH_TOO_LARGE", f"at most {SUBMIT_MAX_TXS} transactions per Submit call")
        results = await asyncio.to_thread(replica.mempool.submit_many, raws, now_ms=int(time.time() * 1000))
        replica.notify()
        answer: bytes = msgpack.packb([
            [r.tx_hash, None if r.error is None else r.error.code, None if r.error is None else r.error.message]
            for r in results
        ], use_bin_type=True)
        return answer

    server = NetworkServer(
        config.network.grpc_host, config.network.grpc_port, keys=peer_keys,
        on_messages=on_messages, get_ledger_blocks=get_ledger_blocks, submit=submit,
        get_consensus_root=get_consensus_root, get_snapshot=get_snapshot,
        credentials=server_credentials(transport.tls) if transport.tls is not None else None,
        peer_identity=peer_node_key_bytes if transport.tls is not None else None,
        submit_gate=submit_rate_gate(config.gateway.post_rate, config.gateway.post_burst),
    )

    def on_peers_changed(keys: dict[bytes, PublicKey]) -> None:
        server.keys = keys

    transport.on_change = on_peers_changed
    try:
        runtime = default_contract_runtime()
        for item in config.ledgers:
            ledgers[item.hash] = open_ledger(config.node.data_dir, item.hash, runtime=runtime)
        for name, ledger in ledgers.items():
            replicas[name] = Replica(
                ledger, data_dir=config.node.data_dir, keypair=keypair, transport=transport,
                settings=config.consensus,
            )
            replicas[name].on_fatal = lambda reason: (fatal.append(reason), stop.set())
            replicas[name].mempool.signer_registered = registered_user_check(ledger)
        await server.start()
        transport.start()
        for replica in replicas.values():
            await replica.start()
        runtimes = {name: LedgerRuntime(replica.ledger, replica.mempool, replica) for name, replica in replicas.items()}  # type: ignore[arg-type]
        settings = GatewaySettings(admin_token=config.read_admin_token() or os.environ.get("JADECHAIN_ADMIN_TOKEN") or None,
                                   post_rate=config.gateway.post_rate, post_burst=config.gateway.post_burst)
        app = create_app(runtimes, settings)
        app.state.metrics.registry.register(_NodeCollector(replicas, server, transport))
        app.state.node_status = lambda: node_status(config, replicas, transport)
        _add_status_route(app)
        add_backup_route(app, config.node.data_dir, ledgers)
        sock = bound_socket(config.gateway.host, config.gateway.port)
        http_port = sock.getsockname()[1]
        log.info("node started", extra={
            "grpc": f"{config.network.grpc_host}:{server.port}", "http": f"http://{config.gateway.host}:{http_port}",
            "ledgers": ",".join(replicas),
        })

        def on_ready() -> None:
            if ready is not None:
                ready({"grpc_port": server.port, "http_port": http_port})

        try:
            await serve_app(app, sock, stop, on_ready, on_stop=app.state.shutting_down.set)
        finally:
            sock.close()
    finally:
        log.info("node stopping")
        with contextlib.suppress(Exception):
            await server.stop(0.5)
        for replica in replicas.values():
            with contextlib.suppress(Exception):
                await replica.stop(shutdown_timeout)
        with contextlib.suppress(Exception):
            await transport.stop()
        for ledger in ledgers.values():
            ledger.close()
        for number in installed:
            loop.remove_signal_handler(number)
        log.info("node stopped")
    if fatal:
        raise StorageError(f"stopped after a storage failure: {fatal[0]}")


def node_status(config: NodeConfig, replicas: dict[str, Replica], transport: NodeTransport) -> dict[str, Any]:
    return {
        "node": config.node.name,
        "pid": os.getpid(),
        "peers": {
            transport.names.get(author, to_base58(author)): {"connected": sender.connected, "queued": sender.queued}
            for author, sender in list(transport.senders.items())
        },
        "ledgers": {name: replica.status() for name, replica in replicas.items()},
    }


def _add_status_route(app: Any) -> None:
    @app.get("/api/v1/node/status", tags=["system"], summary="Consensus status of this node")  # type: ignore[untyped-decorator]
    def status(request: Request) -> dict[str, Any]:
        result: dict[str, Any] = request.app.state.node_status()
        return result


def make_private(directory: str) -> None:
    """Directories 0700 and files 0600 under the node's data directory (the genesis ledger may have
    been written by a tool that ran with a looser umask), and this process's log when it is a file."""
    import stat

    for fd in (1, 2):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fchmod(fd, 0o600)
    if not os.path.isdir(directory):
        return
    os.chmod(directory, 0o700)
    for root, directories, files in os.walk(directory):
        for name in directories:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o600)


EXIT_STORAGE_FAILURE = 75
"""EX_TEMPFAIL: the disk failed under the node; restart it once the disk is fixed."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.server", description="Run a Jadechain validator node.")
    parser.add_argument("--config", required=True, help="path of node.toml")
    parser.add_argument("--log-level", default=os.environ.get("JADECHAIN_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    os.umask(0o077)  # the ledger's LevelDB, the consensus safety store: this user's only
    try:
        config = load_node_config(args.config)
    except ConfigError as exc:
        print(json.dumps({"level": "error", "code": exc.code, "msg": exc.message}), file=sys.stderr)
        return 2
    make_private(config.node.data_dir)
    setup_json_logging(getattr(logging, args.log_level.upper(), logging.INFO), config.node.name)
    tune_garbage_collector()
    try:
        asyncio.run(run_node(config))
    except StorageError as exc:
        log.error("node failed: %s", exc.message, extra={"code": exc.code})
        return EXIT_STORAGE_FAILURE
    except JadechainError as exc:
        log.error("node failed: %s", exc.message, extra={"code": exc.code})
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
