"""Tools for process-level fault scenarios: a TCP proxy mesh, a load generator, invariants.

- :class:`ProxyMesh`: one asyncio TCP proxy per (source node, destination node) pair, in a
  background thread; node configs point each peer at its proxy, so the test can cut any
  node off (both directions) and heal it, without touching the kernel's network.
- :class:`Load`: a thread submitting KV writes through the SDK to the live gateways in turn;
  it remembers every transaction reported committed (``wait=commit``).
- :func:`assert_consistent`: every node has every committed transaction, the same block
  hashes and the same roots up to a common height.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from ledger.crypto import address_from_public_key, generate_keypair
from jadechain.devnet.net import (
    NetworkLayout,
    create_network,
    net_down,
    node_alive,
    start_node,
    wait_for_height,
    write_node_config,
)
from jadechain.sdk import JadechainClient
from node.solo import load_key
from tests.support import waiting


class _Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.blocked = False
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.delay = 0.0  # seconds added before each forwarded chunk (the chaos suite's latency fault)
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections.update((writer, upstream_writer))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while not self.blocked:
                    data = await source.read(65536)
                    if not data:
                        break
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self.connections.discard(writer)
        self.connections.discard(upstream_writer)

    def cut(self) -> None:
        self.blocked = True
        for writer in list(self.connections):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.connections.clear()


class ProxyMesh:
    """Proxies for every ordered pair of nodes, run on a private event loop thread."""

    def __init__(self, layout: NetworkLayout) -> None:
        self.layout = layout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxies: dict[tuple[str, str], _Proxy] = {}
        for source, target in itertools.permutations([n.name for n in layout.nodes], 2):
            proxy = _Proxy(layout.node(target).grpc_port)
            asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(10)
            self.proxies[(source, target)] = proxy
        for node in layout.nodes:
            addresses = {
                target: f"127.0.0.1:{self.proxies[(node.name, target)].port}"
                for target in (n.name for n in layout.nodes) if target != node.name
            }
            write_node_config(layout, node.name, peer_addresses=addresses)

    def _each(self, name: str) -> list[_Proxy]:
        return [p for (source, target), p in self.proxies.items() if name in (source, target)]

    def isolate(self, name: str) -> None:
        def cut_all() -> None:
            for proxy in self._each(name):
                proxy.cut()
        self.loop.call_soon_threadsafe(cut_all)

    def heal(self, name: str) -> None:
        def open_all() -> None:
            for proxy in self._each(name):
                proxy.blocked = False
        self.loop.call_soon_threadsafe(open_all)

    def close(self) -> None:
        async def stop_all() -> None:
            for proxy in self.proxies.values():
                proxy.cut()
                if proxy.server is not None:
                    proxy.server.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop_all(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class Load:
    """Submits KV writes (``wait=commit``) to the live gateways in turn, from a thread."""

    def __init__(self, layout: NetworkLayout, batch: int = 20, pause: float = 0.05) -> None:
        self.layout = layout
        self.batch = batch
        self.pause = pause
        password = Path(layout.password_file).read_text().strip()
        self.admin = load_key(layout.nodes[0].key_file, password)
        pair = generate_keypair(self.admin.public.algorithm)
        self.account = address_from_public_key(pair.public)
        with JadechainClient(layout.urls, retry_timeout=30) as client:
            ledger = client.ledger()
            registered = ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(self.admin))
            assert registered.status == "SUCCESS", f"{registered}\n{network_summary(layout)}"
        self.committed: dict[str, int] = {}
        """tx hash → height, for every transaction a gateway reported committed."""
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._counter = 0
        self.skip: set[str] = set()
        """Names of nodes not to send to (paused or cut off)."""

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            live = [n for n in self.layout.nodes if n.name not in self.skip and node_alive(n)]
            if not live:
                time.sleep(0.1)
                continue
            node = live[turn % len(live)]
            turn += 1
            try:
                with JadechainClient([node.url], retry_timeout=0, timeout=10) as client:
                    ledger = client.ledger()
                    txs = []
                    for _ in range(self.batch):
                        self._counter += 1
                        txs.append(ledger.builder().kv_set(self.account, f"k{self._counter}", self._counter).sign(self.admin))
                    for result in ledger.submit_many(txs, wait=True, timeout=15):
                        if getattr(result, "committed", False):
                            self.committed[result.tx_hash] = result.height
            except Exception as exc:  # a node going down mid-request is part of the scenario
                self.errors.append(f"{node.name}: {type(exc).__name__}")
            time.sleep(self.pause)

    def start(self) -> "Load":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(40)


def get(url: str, path: str, timeout: float = 5.0) -> Any:
    response = httpx.get(url + path, timeout=timeout)
    response.raise_for_status()
    return response.json()


def height_of(layout: NetworkLayout, name: str) -> int:
    try:
        return int(get(layout.node(name).url, "/health", 2)["ledgers"][layout.ledger_hash])
    except Exception:
        return -1


def network_summary(layout: NetworkLayout) -> str:
    """One line per node from its status (what a timeout message should show to be diagnosable)."""
    lines = []
    for node in layout.nodes:
        try:
            status = get(node.url, "/api/v1/node/status", 3)["ledgers"][layout.ledger_hash]
        except Exception as exc:
            lines.append(f"  {node.name}: no status ({type(exc).__name__})")
            continue
        core, replica = status["consensus"], status["replica"]
        # every counter that moved: the one that explains a stall is rarely the one expected
        picked = {k: v for k, v in core.items() if isinstance(v, int) and not isinstance(v, bool) and v}
        lines.append(f"  {node.name}: height {status['height']} round {status['round']} committed_round "
                     f"{status['committed_round']} mempool {status['mempool']} peers {status['peers_connected']} "
                     f"halted {status['halted']} core {picked} replica {replica}")
    return "\n".join(lines)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, layout: NetworkLayout | None = None) -> None:
    """:func:`tests.support.waiting.wait_until`, and on a timeout the state of every node of ``layout``."""
    try:
        waiting.wait_until(predicate, timeout, what, interval=0.25)
    except AssertionError as error:
        if layout is None:
            raise
        raise AssertionError(f"{error}\n{network_summary(layout)}") from None


def caught_up(layout: NetworkLayout, name: str, slack: int = 1) -> bool:
    """``name`` is within ``slack`` blocks of the highest other node.

    The others are read first and the node last: under load the tip moves while the HTTP calls
    run, and reading the node first compared an old height of it with newer heights of the others
    (a node in step then looked a block or two behind, for ever, on a busy machine).
    """
    tip = max(height_of(layout, n.name) for n in layout.nodes if n.name != name)
    return height_of(layout, name) >= tip - slack


def wait_progress(layout: NetworkLayout, names: list[str], blocks: int, timeout: float) -> None:
    """Every named node's height grows by ``blocks``."""
    start = {name: height_of(layout, name) for name in names}
    wait_until(lambda: all(height_of(layout, n) >= start[n] + blocks for n in names), timeout,
               f"{names} to commit {blocks} more blocks", layout)


def consensus_votes(layout: NetworkLayout, name: str) -> tuple[int, int]:
    """``(fast-forwards, votes sent)`` of a node's replica; (-1, -1) while it does not answer.

    The vote counter belongs to the consensus core, which a fast-forward replaces (counting
    from zero again), so progress is judged on the pair.
    """
    try:
        status = get(layout.node(name).url, "/api/v1/node/status", 3)["ledgers"][layout.ledger_hash]
    except Exception:
        return -1, -1
    return int(status["replica"].get("fast_forwards", 0)), int(status["consensus"].get("votes_sent", 0))


def wait_voting(layout: NetworkLayout, name: str, votes: int, timeout: float) -> None:
    """The node sends ``votes`` more votes than it had sent when this was called (a node that
    only catches up its ledger but takes no part in consensus never gets there)."""
    baseline = consensus_votes(layout, name)

    def voted() -> bool:
        fast_forwards, sent = consensus_votes(layout, name)
        if fast_forwards < 0:
            return False
        if fast_forwards != baseline[0] or baseline[1] < 0:
            return sent >= votes
        return sent >= baseline[1] + votes

    wait_until(voted, timeout, f"{name} to send {votes} more consensus votes", layout)


def assert_consistent(
    layout: NetworkLayout, committed: dict[str, int], timeout: float = 60.0, check_on: str | None = None,
) -> int:
    """Same tip certified everywhere, same hashes and roots at every height, every committed tx present."""
    base = layout.ledger_hash

    def same_tip() -> bool:
        tips = [get(n.url, f"/api/v1/ledgers/{base}/blocks/latest") for n in layout.nodes]
        return len({t["hash"] for t in tips}) == 1

    wait_until(same_tip, timeout, "every node to reach the same tip")
    tip = get(layout.nodes[0].url, f"/api/v1/ledgers/{base}/blocks/latest")["height"]
    with httpx.Client(timeout=10) as client:
        for height in range(1, tip + 1):
            views = {
                (b["hash"], b["state_root"], b["accumulator_root"], b["accumulator_size"])
                for b in (client.get(f"{n.url}/api/v1/ledgers/{base}/blocks/{height}").json() for n in layout.nodes)
            }
            assert len(views) == 1, f"nodes disagree at height {height}: {views}"
        # Equal block hashes at every height mean equal transaction roots: checking each committed
        # transaction on one node (the one the scenario hurt last is the interesting one) covers all.
        node = layout.node(check_on) if check_on else layout.nodes[-1]
        for tx_hash, height in committed.items():
            found = client.get(f"{node.url}/api/v1/ledgers/{base}/txs/{tx_hash}")
            assert found.status_code == 200, f"{node.name} lost committed tx {tx_hash}"
            assert found.json()["height"] == height, f"{node.name} has {tx_hash} at another height"
    return int(tip)


@contextlib.contextmanager
def started_network(layout: NetworkLayout) -> Iterator[NetworkLayout]:
    """Every node of ``layout`` started and the network past height 1; every node stopped at the end."""
    try:
        for node in layout.nodes:
            start_node(layout, node.name)
        wait_for_height(layout, 1, 60)
        yield layout
    finally:
        net_down(layout.directory, timeout=20)


@contextlib.contextmanager
def running_network(directory: Path, consensus: dict[str, Any] | None = None) -> Iterator[NetworkLayout]:
    """A new 4-node network, started and past height 1; every node stopped at the end."""
    layout, _ = make_network(directory, consensus=consensus)
    with started_network(layout):
        yield layout


def make_network(directory: Path, crypto: str = "classic", proxies: bool = False,
                 consensus: dict[str, Any] | None = None) -> tuple[NetworkLayout, ProxyMesh | None]:
    layout = create_network(directory, 4, crypto, consensus=consensus or {
        "round_timeout_ms": 500, "max_round_timeout_ms": 2000, "fast_forward_rounds": 20,
    })
    mesh = ProxyMesh(layout) if proxies else None
    return layout, mesh
