"""The chaos runner: real validator processes on 127.0.0.1, a client load that logs its history,
and a schedule of faults drawn from a seed; then the history checker.

``ChaosRunner(directory, seed=7, duration=60).run()`` returns a :class:`ChaosReport`:

- the network: ``nodes`` validators (f = (nodes - 1) // 3), peers wired through a TCP proxy mesh
  (:class:`ChaosMesh`, a :class:`tests.support.network_fault_kit.ProxyMesh` whose proxies can also drop one
  direction and add latency);
- the load: ``clients`` threads writing KV registers with expected versions (a compare-and-set
  chain per key) and reading them back, every operation in a :class:`chaos_history.History`;
- the faults (:data:`FAULT_KINDS`), drawn by ``random.Random(seed)``: at most ``max_faulty``
  (default f) nodes are faulty at a time. Each fault is injected, held, healed; the runner then
  measures the victim's *recovery time* (until it passes the height the others had when the fault
  was healed and votes again) and
  checks the healthy nodes kept committing while it was down (liveness);
- the end: every fault healed, every node at the same tip, :func:`chaos_history.check_history` over the
  whole history, and every node log searched for the private keys of the network.

Fault kinds:

``kill9``       SIGKILL, then restart from the data directory
``pause``       SIGSTOP ... SIGCONT
``partition``   every proxy to and from the node cut (both directions)
``oneway``      only the node's outbound messages dropped (it still hears the others)
``latency``     100-400 ms added to every chunk to and from the node
``clock_skew``  restart the node under libfaketime (wall clock +-2..8 s; monotonic untouched),
                hold, restart it with the true clock (skipped if libfaketime is not installed)
``disk_full``   the node's data directory is a 64 MiB tmpfs; a filler file takes all free space,
                then is deleted; the node is restarted if it died or halted (skipped without root)
``corrupt_db``  SIGKILL, a LevelDB MANIFEST corrupted: the node must refuse to start with
                LEDGER_CORRUPTED; then ``jadechain node repair`` rebuilds it from genesis and it
                catches up from peers
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.chaos.chaos_history import History, check_history, collect_final_state, format_violations
from tests.support.network_fault_kit import ProxyMesh, network_summary

from ledger import codec  # noqa: E402
from ledger.crypto import address_from_public_key, generate_keypair, to_base58  # noqa: E402
from ledger.transactions import hash_transaction_content  # noqa: E402
from ledger.types import Block as LedgerBlock  # noqa: E402
from jadechain.devnet.net import (  # noqa: E402
    NetworkLayout,
    create_network,
    kill_node,
    node_alive,
    start_node,
    stop_node,
)
from jadechain.sdk import JadechainClient  # noqa: E402
from jadechain.sdk.client import ApiError  # noqa: E402
from node.repair import repair_node  # noqa: E402
from node.solo import load_key  # noqa: E402

__all__ = ["FAULT_KINDS", "ChaosMesh", "ChaosReport", "ChaosRunner", "Fault", "make_schedule"]

FAULT_KINDS = ("kill9", "pause", "partition", "oneway", "latency", "clock_skew", "disk_full", "corrupt_db")
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DEFAULT_CONSENSUS = {"round_timeout_ms": 500, "max_round_timeout_ms": 2000, "fast_forward_rounds": 20}


# --- the proxy mesh with one-way drops and latency ---------------------------------------------

class ChaosMesh(ProxyMesh):
    """:class:`ProxyMesh` with one-way drops and latency."""

    def drop_outbound(self, name: str) -> None:
        """Messages the node sends are lost; it still receives everyone's."""
        def cut() -> None:
            for (source, _), proxy in self.proxies.items():
                if source == name:
                    proxy.cut()
        self.loop.call_soon_threadsafe(cut)

    def set_latency(self, name: str, seconds: float) -> None:
        def apply() -> None:
            for (source, target), proxy in self.proxies.items():
                if name in (source, target):
                    proxy.delay = seconds
        self.loop.call_soon_threadsafe(apply)

    def heal_all(self) -> None:
        def open_all() -> None:
            for proxy in self.proxies.values():
                proxy.blocked = False
                proxy.delay = 0.0
        self.loop.call_soon_threadsafe(open_all)


# --- the schedule ---------------------------------------------------------------------------------

@dataclass
class Fault:
    kind: str
    target: str
    hold: float
    """Seconds the fault lasts before it is healed."""
    detail: dict[str, Any] = field(default_factory=dict)
    # Filled in while running:
    injected_at: float = 0.0
    recovery_seconds: float | None = None
    outcome: str = "pending"
    """``survived`` | ``skipped: <reason>`` | ``failed: <reason>``."""
    notes: list[str] = field(default_factory=list)


def make_schedule(seed: int, count: int, names: list[str], kinds: tuple[str, ...] = FAULT_KINDS,
                  max_faulty: int = 1, hold: tuple[float, float] = (2.0, 5.0)) -> list[list[Fault]]:
    """``count`` steps; each step is a group of at most ``max_faulty`` faults on distinct nodes."""
    rng = random.Random(seed)
    steps: list[list[Fault]] = []
    # Every kind once (in a seeded order) before any repeats, so that short runs cover them all.
    first = list(kinds)
    rng.shuffle(first)
    for _ in range(count):
        size = rng.randint(1, max(1, max_faulty))
        targets = rng.sample(names, size)
        group = []
        for target in targets:
            kind = first.pop(0) if first else rng.choice(kinds)
            detail: dict[str, Any] = {}
            if kind == "latency":
                detail["seconds"] = round(rng.uniform(0.1, 0.4), 3)
            elif kind == "clock_skew":
                detail["skew_seconds"] = round(rng.choice((-1, 1)) * rng.uniform(2.0, 8.0), 1)
            group.append(Fault(kind, target, round(rng.uniform(*hold), 2), detail))
        steps.append(group)
    return steps


# --- the load ---------------------------------------------------------------------------------

class HistoryLoad:
    """Client threads writing KV registers with compare-and-set versions and reading them back."""

    def __init__(self, layout: NetworkLayout, history: History, clients: int = 2, keys_per_client: int = 3,
                 seed: int = 0, pause: float = 0.05) -> None:
        self.layout = layout
        self.history = history
        self.pause = pause
        password = Path(layout.password_file).read_text().strip()
        self.admin = load_key(layout.nodes[0].key_file, password)
        pair = generate_keypair(self.admin.public.algorithm)
        self.account = address_from_public_key(pair.public)
        with JadechainClient(layout.urls, retry_timeout=60) as client:
            ledger = client.ledger()
            registered = ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(self.admin))
            assert registered.status == "SUCCESS", registered
        self.keys = {f"c{c}": [f"c{c}-r{k}" for k in range(keys_per_client)] for c in range(clients)}
        self.skip: set[str] = set()
        self.errors: list[str] = []
        self.acknowledged = 0
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._threads = [threading.Thread(target=self._run, args=(client,), daemon=True) for client in self.keys]

    @property
    def all_keys(self) -> list[str]:
        return [key for keys in self.keys.values() for key in keys]

    def _live(self) -> list[Any]:
        return [n for n in self.layout.nodes if n.name not in self.skip and node_alive(n)]

    def _read(self, client: str, node: Any, key: str) -> int | None:
        op_id = self.history.new_id()
        try:
            with JadechainClient([node.url], retry_timeout=0, timeout=5) as http:
                entry = http.ledger(self.layout.ledger_hash).get_entry(self.account, key)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                self.history.record("read", op_id, client, node=node.name, key=key, outcome="missing")
                return -1
            return None
        except Exception:
            return None
        self.history.record("read", op_id, client, node=node.name, key=key, version=entry.version,
                            value=entry.value, outcome="ok")
        return entry.version

    def _run(self, client: str) -> None:
        known: dict[str, int | None] = {key: -1 for key in self.keys[client]}
        sequence = 0
        turn = self._rng.randrange(len(self.layout.nodes))
        while not self._stop.is_set():
            live = self._live()
            if not live:
                time.sleep(0.1)
                continue
            turn += 1
            node = live[turn % len(live)]
            for key in known:
                if known[key] is None:
                    known[key] = self._read(client, node, key)
            writable = [key for key, version in known.items() if version is not None]
            if not writable:
                time.sleep(self.pause)
                continue
            batch: list[tuple[int, str, str]] = []
            txs = []
            try:
                with JadechainClient([node.url], retry_timeout=0, timeout=10) as http:
                    ledger = http.ledger(self.layout.ledger_hash)
                    for key in writable:
                        sequence += 1
                        value = f"{client}-{sequence}"
                        expected = known[key]
                        assert expected is not None
                        tx = ledger.builder().kv_set(self.account, key, value, expected_version=expected).sign(self.admin)
                        op_id = self.history.new_id()
                        tx_hash = to_base58(hash_transaction_content(tx.content))
                        self.history.record("submit", op_id, client, node=node.name, tx_hash=tx_hash, key=key,
                                            value=value, expected_version=expected)
                        batch.append((op_id, tx_hash, key))
                        txs.append(tx)
                    results = ledger.submit_many(txs, wait=True, timeout=8)
            except Exception as exc:  # a node going down mid-request is part of the scenario
                self.errors.append(f"{node.name}: {type(exc).__name__}")
                for op_id, tx_hash, key in batch:
                    self.history.record("result", op_id, client, node=node.name, tx_hash=tx_hash, outcome="info",
                                        error=type(exc).__name__)
                    known[key] = None
                time.sleep(self.pause)
                continue
            for (op_id, tx_hash, key), result in zip(batch, results):
                if isinstance(result, ApiError):
                    definite = result.code not in ("DUPLICATE_TRANSACTION",)
                    self.history.record("result", op_id, client, node=node.name, tx_hash=tx_hash,
                                        outcome="fail" if definite else "info", error=result.code)
                    known[key] = None
                elif result.committed:
                    self.history.record("result", op_id, client, node=node.name, tx_hash=tx_hash, outcome="ok",
                                        status=result.status, height=result.height)
                    self.acknowledged += 1
                    if result.status == "SUCCESS":
                        current = known[key]
                        known[key] = None if current is None else current + 1
                    else:
                        known[key] = None
                else:
                    self.history.record("result", op_id, client, node=node.name, tx_hash=tx_hash, outcome="info",
                                        error="not committed before the wait timed out")
                    known[key] = None
            self._maybe_read_back(client, node)
            time.sleep(self.pause)

    def _maybe_read_back(self, client: str, node: Any) -> None:
        if self._rng.random() < 0.5:
            self._read(client, node, self._rng.choice(self.keys[client]))

    def start(self) -> "HistoryLoad":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(40)


# --- the runner ---------------------------------------------------------------------------------

@dataclass
class ChaosReport:
    seed: int
    nodes: int
    duration_seconds: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    faults_injected: int = 0
    faults_survived: int = 0
    faults_skipped: int = 0
    operations: int = 0
    writes_acknowledged: int = 0
    reads: int = 0
    txs_committed: int = 0
    final_height: int = 0
    violations: list[str] = field(default_factory=list)
    key_leaks: list[str] = field(default_factory=list)
    recovery_seconds: dict[str, list[float]] = field(default_factory=dict)
    client_errors: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations and not self.key_leaks and not any(
            f["outcome"].startswith("failed") for f in self.faults)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class ChaosRunner:
    """One chaos run; see the module docstring."""

    def __init__(self, directory: str | Path, seed: int = 1, steps: int = 4, nodes: int = 4,
                 kinds: tuple[str, ...] = FAULT_KINDS, max_faulty: int | None = None, clients: int = 2,
                 hold: tuple[float, float] = (2.0, 5.0), settle: float = 2.0, recovery_timeout: float = 90.0,
                 crypto: str = "classic", duration: float | None = None,
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> None:
        self.directory = Path(directory)
        self.seed = seed
        self.steps = steps
        self.node_count = nodes
        self.f = (nodes - 1) // 3
        self.max_faulty = self.f if max_faulty is None else max_faulty
        self.kinds = kinds
        self.clients = clients
        self.hold = hold
        self.settle = settle
        self.recovery_timeout = recovery_timeout
        self.crypto = crypto
        self.duration = duration
        self.log = log
        self.layout: NetworkLayout | None = None
        self.mesh: ChaosMesh | None = None
        self.load: HistoryLoad | None = None
        self.history = History()
        self.tmpfs_node: str | None = None
        self.faulty: set[str] = set()
        self._rng = random.Random(seed ^ 0x5EED)

    # -- network lifecycle --

    def _setup(self) -> NetworkLayout:
        self.directory.mkdir(parents=True, exist_ok=True)
        layout = create_network(self.directory / "net", self.node_count, self.crypto, consensus=dict(DEFAULT_CONSENSUS))
        self.layout = layout
        self.mesh = ChaosMesh(layout)
        if "disk_full" in self.kinds:
            self.tmpfs_node = self._mount_tmpfs(layout.nodes[-1].name)
        for node in layout.nodes:
            start_node(layout, node.name)
        self._wait(lambda: all(self._height(n.name) >= 1 for n in layout.nodes), 90, "every node to commit height 1")
        self.history = History(self.directory / "history.jsonl")
        self.load = HistoryLoad(layout, self.history, clients=self.clients, seed=self.seed).start()
        return layout

    def _mount_tmpfs(self, name: str) -> str | None:
        assert self.layout is not None
        data_dir = Path(self.layout.node(name).data_dir)
        if os.geteuid() != 0 or shutil.which("mount") is None:
            return None
        saved = data_dir.with_name(data_dir.name + ".saved")
        shutil.copytree(data_dir, saved)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data_dir)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(saved)
            self.log(f"chaos: no tmpfs for disk_full ({result.stderr.strip()})")
            return None
        shutil.copytree(saved, data_dir, dirs_exist_ok=True)
        shutil.rmtree(saved)
        return name

    def _teardown(self) -> None:
        if self.load is not None:
            self.load.stop()
        if self.layout is not None:
            for node in self.layout.nodes:
                with contextlib.suppress(Exception):
                    stop_node(self.layout, node.name, timeout=15)
            if self.tmpfs_node is not None:
                subprocess.run(["umount", "-l", self.layout.node(self.tmpfs_node).data_dir], capture_output=True)
        if self.mesh is not None:
            self.mesh.close()
        self.history.close()

    # -- observation --

    def _height(self, name: str) -> int:
        assert self.layout is not None
        try:
            response = httpx.get(f"{self.layout.node(name).url}/health", timeout=2)
            return int(response.json()["ledgers"][self.layout.ledger_hash])
        except Exception:
            return -1

    def _halted(self, name: str) -> bool:
        assert self.layout is not None
        try:
            status = httpx.get(f"{self.layout.node(name).url}/api/v1/node/status", timeout=2).json()
            return bool(status["ledgers"][self.layout.ledger_hash]["halted"])
        except Exception:
            return False

    def _serving(self, name: str) -> bool:
        """The node answers its status and its replica is not halted."""
        assert self.layout is not None
        try:
            status = httpx.get(f"{self.layout.node(name).url}/api/v1/node/status", timeout=2).json()
            return not status["ledgers"][self.layout.ledger_hash]["halted"]
        except Exception:
            return False

    def _supervise(self, name: str, settle: float = 30.0) -> bool:
        """What a process supervisor does once the disk has space again: restart a node that exited
        (a fail-stop exits with code 75) or is halted; leave a serving one alone. True if restarted.

        A fail-stopping node is alive but answers nothing while it shuts down; one look at that
        moment saw "alive, not halted" and never restarted it (the ~90 s disk-full "recoveries" were
        the runner's later repair step). So this polls until the node serves or is gone."""
        assert self.layout is not None
        node = self.layout.node(name)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            if not node_alive(node):
                self._restart(name)
                return True
            if self._serving(name):
                return False
            time.sleep(0.2)
        self._restart(name)  # alive but neither serving nor exiting: a hung node is restarted too
        return True

    def _votes(self, name: str) -> int:
        assert self.layout is not None
        try:
            status = httpx.get(f"{self.layout.node(name).url}/api/v1/node/status", timeout=2).json()
            return int(status["ledgers"][self.layout.ledger_hash]["consensus"].get("votes_sent", 0))
        except Exception:
            return -1

    @staticmethod
    def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    def _healthy(self) -> list[str]:
        assert self.layout is not None
        return [n.name for n in self.layout.nodes if n.name not in self.faulty]

    # -- faults --

    def _inject(self, fault: Fault) -> Callable[[], None] | None:
        """Inject; return the healing action, or None if the fault was skipped."""
        layout, mesh, load = self.layout, self.mesh, self.load
        assert layout is not None and mesh is not None and load is not None
        name = fault.target
        if fault.kind == "kill9":
            kill_node(layout, name, signal.SIGKILL)
            load.skip.add(name)
            return lambda: self._restart(name)
        if fault.kind == "pause":
            kill_node(layout, name, signal.SIGSTOP)
            load.skip.add(name)
            return lambda: kill_node(layout, name, signal.SIGCONT)
        if fault.kind == "partition":
            mesh.isolate(name)
            load.skip.add(name)
            return lambda: mesh.heal(name)
        if fault.kind == "oneway":
            mesh.drop_outbound(name)
            return lambda: mesh.heal(name)
        if fault.kind == "latency":
            mesh.set_latency(name, fault.detail["seconds"])
            return lambda: mesh.set_latency(name, 0.0)
        if fault.kind == "clock_skew":
            if not Path(LIBFAKETIME).exists():
                fault.outcome = "skipped: libfaketime is not installed (apt-get install faketime)"
                return None
            load.skip.add(name)
            stop_node(layout, name, timeout=15)
            self._start_with_env(name, {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"{fault.detail['skew_seconds']:+}s",
                                        "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1"})
            load.skip.discard(name)

            def unskew() -> None:
                load.skip.add(name)
                stop_node(layout, name, timeout=15)
                start_node(layout, name)
            return unskew
        if fault.kind == "disk_full":
            if self.tmpfs_node is None:
                fault.outcome = "skipped: no size-limited tmpfs (needs root and mount)"
                return None
            fault.target = name = self.tmpfs_node
            filler = Path(layout.node(name).data_dir) / "filler.bin"
            written = 0
            with contextlib.suppress(OSError), open(filler, "wb") as handle:
                chunk = b"\0" * (1 << 20)
                while True:
                    handle.write(chunk)
                    handle.flush()
                    written += len(chunk)
            fault.detail["filled_bytes"] = written
            log_path = Path(layout.node(name).log)
            log_offset = log_path.stat().st_size if log_path.exists() else 0

            def free() -> None:
                with contextlib.suppress(OSError):
                    filler.unlink()
                with contextlib.suppress(OSError), open(log_path, "rb") as handle:
                    handle.seek(log_offset)
                    fault.detail["errors_logged_while_full"] = handle.read().count(b'"level":"error"')
                returned = time.monotonic()
                if self._supervise(name):
                    fault.notes.append("node fail-stopped on ENOSPC: restarted")
                # recovery_seconds counts from the end of healing; this is the part before it
                fault.detail["restart_wait_seconds"] = round(time.monotonic() - returned, 2)
            return free
        if fault.kind == "corrupt_db":
            return self._corrupt_db(fault)
        raise ValueError(f"unknown fault kind {fault.kind}")

    def _start_with_env(self, name: str, extra: dict[str, str]) -> None:
        assert self.layout is not None
        saved = {key: os.environ.get(key) for key in extra}
        os.environ.update(extra)
        try:
            start_node(self.layout, name)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _restart(self, name: str) -> None:
        assert self.layout is not None
        if node_alive(self.layout.node(name)):
            stop_node(self.layout, name, timeout=15)
        start_node(self.layout, name)

    def _corrupt_db(self, fault: Fault) -> Callable[[], None]:
        layout, load = self.layout, self.load
        assert layout is not None and load is not None
        name = fault.target
        node = layout.node(name)
        kill_node(layout, name, signal.SIGKILL)
        load.skip.add(name)
        ledger_dir = Path(node.data_dir) / "ledgers" / layout.ledger_hash
        manifests = sorted(ledger_dir.glob("MANIFEST-*"))
        if not manifests:
            raise RuntimeError(f"no LevelDB MANIFEST under {ledger_dir}")
        data = bytearray(manifests[-1].read_bytes())
        for index in range(len(data) // 3, len(data)):
            data[index] ^= 0xA5
        manifests[-1].write_bytes(bytes(data))
        log_size = Path(node.log).stat().st_size if Path(node.log).exists() else 0
        start_node(layout, name)
        try:
            self._wait(lambda: not node_alive(node), 60, f"{name} to refuse its corrupted database")
        except TimeoutError:
            stop_node(layout, name, timeout=5)
            fault.outcome = "failed: the node started on a corrupted database"
        with open(node.log, "rb") as handle:
            handle.seek(log_size)
            tail = handle.read().decode(errors="replace")
        refused = "LEDGER_CORRUPTED" in tail
        fault.detail["refused_with_LEDGER_CORRUPTED"] = refused
        if not refused and not fault.outcome.startswith("failed"):
            fault.outcome = "failed: the node did not report LEDGER_CORRUPTED"

        def wipe_and_catch_up() -> None:
            # What the operator runs: `jadechain node repair` (the damaged ledger set aside, safety
            # data kept), then starts the node, which catches up from its peers and votes again.
            # Replay, not a snapshot: the history checker reads every block of every node from height 1
            # (a snapshot-synced node answers HISTORY_NOT_AVAILABLE below its snapshot; see
            # tests/scenario/test_snapshot_sync.py for repair through a snapshot).
            result = repair_node(node.config, self._genesis(), snapshot=False)
            item = result["ledgers"][layout.ledger_hash]
            fault.detail["repair"] = item["status"]
            if "backup" in item:  # the operator's post-mortem copy; on the small tmpfs it would fill the disk
                shutil.rmtree(Path(item["backup"]).parent, ignore_errors=True)
            start_node(layout, name)
        return wipe_and_catch_up

    def _genesis(self) -> LedgerBlock:
        assert self.layout is not None
        genesis = json.loads((Path(self.layout.directory) / "genesis.json").read_text())
        return codec.decode(LedgerBlock, bytes.fromhex(genesis["block"]))

    def _repair(self, fault: Fault) -> None:
        """What an operator does to a node that did not recover by itself: restart it; if it then
        refuses its database, wipe it to genesis so that it catches up. Keeps later steps within f."""
        layout = self.layout
        assert layout is not None
        name = fault.target
        node = layout.node(name)
        log_size = Path(node.log).stat().st_size if Path(node.log).exists() else 0
        stop_node(layout, name, timeout=10)
        start_node(layout, name)
        with contextlib.suppress(TimeoutError):
            self._wait(lambda: not node_alive(node) or self._height(name) >= 0, 60, f"{name} to restart")
        with open(node.log, "rb") as handle:
            handle.seek(log_size)
            corrupted = b"LEDGER_CORRUPTED" in handle.read()
        if not node_alive(node) or corrupted:
            fault.notes.append("repair: the restarted node refused its database (LEDGER_CORRUPTED): repaired from genesis")
            stop_node(layout, name, timeout=5)
            for item in repair_node(node.config, self._genesis(), force=True, snapshot=False)["ledgers"].values():
                if "backup" in item:
                    shutil.rmtree(Path(item["backup"]).parent, ignore_errors=True)
            start_node(layout, name)
        else:
            fault.notes.append("repair: restarted")
        others = [n.name for n in layout.nodes if n.name != name]
        try:
            target = max(self._height(n) for n in others)
            seconds = self._wait(lambda: self._height(name) >= target, self.recovery_timeout, f"{name} to catch up after repair")
            fault.notes.append(f"repair: caught up in {seconds:.1f}s")
        except TimeoutError as exc:
            fault.notes.append(f"repair failed: {exc}")

    # -- the run --

    def _run_step(self, group: list[Fault], report: ChaosReport) -> None:
        assert self.layout is not None and self.load is not None
        healers: list[tuple[Fault, Callable[[], None]]] = []
        for fault in group:
            fault.injected_at = time.time()
            healer = self._inject(fault)
            self.log(f"chaos: inject {fault.kind} on {fault.target} for {fault.hold}s {fault.detail or ''}")
            if healer is None:
                report.faults_skipped += 1
                continue
            report.faults_injected += 1
            self.faulty.add(fault.target)
            healers.append((fault, healer))
        healthy = self._healthy()
        start = {name: self._height(name) for name in healthy}
        time.sleep(min(h.hold for h in group))
        with contextlib.suppress(TimeoutError):
            self._wait(lambda: all(self._height(n) >= start[n] + 1 for n in healthy),
                       max(h.hold for h in group) + 30, "the healthy nodes to commit during the fault")
        progressed = all(self._height(n) >= start[n] + 1 for n in healthy)
        for fault, healer in healers:
            try:
                healer()
            except Exception as exc:
                fault.outcome = f"failed: healing raised {type(exc).__name__}: {exc}"
        for fault, _ in healers:
            if not progressed and len(self.faulty) <= self.f:
                fault.outcome = "failed: the healthy nodes stopped committing during the fault (liveness)"
        for fault, _ in healers:
            others = [n for n in healthy if n != fault.target] or healthy
            # Recovered: the victim reached the height the others had when the fault was healed
            # (under load the tip keeps moving; the end of the run checks that all tips meet).
            # It must also commit new blocks and vote again: a node that follows the chain by sync but
            # cannot persist its votes is a silent second fault, not a recovered node.
            target = max(self._height(n) for n in others) + 2
            votes = max(0, self._votes(fault.target))
            try:
                seconds = self._wait(lambda: self._height(fault.target) >= target and not self._halted(fault.target)
                                     and self._votes(fault.target) >= votes + 2,
                                     self.recovery_timeout, f"{fault.target} to recover (commit and vote) from {fault.kind}")
                fault.recovery_seconds = round(seconds, 2)
                report.recovery_seconds.setdefault(fault.kind, []).append(fault.recovery_seconds)
                if fault.outcome == "pending":
                    fault.outcome = "survived"
                    report.faults_survived += 1
            except TimeoutError as exc:
                fault.outcome = f"failed: {exc}"
                summary = network_summary(self.layout)  # before the repair restarts the victim
                fault.notes.append(f"status at the timeout:\n{summary}")
                self.log(f"chaos: {fault.target} did not recover from {fault.kind}; status:\n{summary}")
                self._repair(fault)
            self.faulty.discard(fault.target)
            self.load.skip.discard(fault.target)
            self.log(f"chaos: healed {fault.kind} on {fault.target}: {fault.outcome}, "
                     f"recovered in {fault.recovery_seconds}s")
        time.sleep(self.settle)

    def run(self) -> ChaosReport:
        started = time.monotonic()
        report = ChaosReport(seed=self.seed, nodes=self.node_count, duration_seconds=0.0)
        try:
            layout = self._setup()
            names = [n.name for n in layout.nodes]
            if self.duration is not None:
                steps = make_schedule(self.seed, 100_000, names, self.kinds, self.max_faulty, self.hold)
            else:
                steps = make_schedule(self.seed, self.steps, names, self.kinds, self.max_faulty, self.hold)
            time.sleep(self.settle)
            for group in steps:
                if self.duration is not None and time.monotonic() - started > self.duration:
                    break
                self._run_step(group, report)
                report.faults.extend(asdict(f) for f in group)
            self._finish(report)
        except Exception as exc:
            report.violations.append(f"runner error: {type(exc).__name__}: {exc}")
            raise
        finally:
            report.duration_seconds = round(time.monotonic() - started, 1)
            self._teardown()
            report.key_leaks = self._scan_logs_for_keys()
            (self.directory / "report.json").write_text(json.dumps(report.to_json(), indent=2, default=str))
        return report

    def _finish(self, report: ChaosReport) -> None:
        layout, load, mesh = self.layout, self.load, self.mesh
        assert layout is not None and load is not None and mesh is not None
        time.sleep(self.settle)
        load.stop()
        mesh.heal_all()
        for node in layout.nodes:
            if not node_alive(node):
                start_node(layout, node.name)
        tips: dict[str, str] = {}

        def same_tip() -> bool:
            tips.clear()
            for node in layout.nodes:
                try:
                    tips[node.name] = httpx.get(f"{node.url}/api/v1/ledgers/{layout.ledger_hash}/blocks/latest",
                                                timeout=3).json()["hash"]
                except Exception:
                    return False
            return len(set(tips.values())) == 1
        try:
            self._wait(same_tip, self.recovery_timeout, "every node to reach the same tip")
        except TimeoutError:
            report.violations.append(f"nodes did not converge to one tip: {tips}")
        final = collect_final_state({n.name: n.url for n in layout.nodes}, layout.ledger_hash, load.account,
                                    load.all_keys)
        violations = check_history(self.history, final)
        if violations:
            report.violations.extend(v.render() for v in violations)
            self.log(format_violations(violations))
        ops = self.history.operations
        report.operations = len(ops)
        report.writes_acknowledged = sum(1 for op in ops if op.kind == "result" and op.outcome == "ok")
        report.reads = sum(1 for op in ops if op.kind == "read")
        report.txs_committed = len(final.chain_txs)
        report.final_height = max((len(chain) for chain in final.blocks.values()), default=0)
        report.client_errors = len(load.errors)

    def _scan_logs_for_keys(self) -> list[str]:
        """Private key material of every node key, searched in every log (raw hex, base58, base64)."""
        if self.layout is None:
            return []
        import base64

        from ledger.crypto import decrypt_private_key, load_keystore
        password = Path(self.layout.password_file).read_text().strip()
        needles: dict[str, str] = {password: "keystore password"} if len(password) >= 8 else {}
        for node in self.layout.nodes:
            private = decrypt_private_key(load_keystore(node.key_file), password)
            for raw in (private.raw, private.encoded):
                needles[raw.hex()] = f"{node.name} private key (hex)"
                needles[to_base58(raw)] = f"{node.name} private key (base58)"
                needles[base64.b64encode(raw).decode()] = f"{node.name} private key (base64)"
        leaks = []
        for log_file in Path(self.layout.directory, "logs").glob("*.log"):
            text = log_file.read_text(errors="replace")
            for needle, what in needles.items():
                if needle and re.search(re.escape(needle), text, re.IGNORECASE):
                    leaks.append(f"{what} found in {log_file.name}")
        return leaks
