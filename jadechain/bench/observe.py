"""What the benchmark watches: commit notifications (SSE), node processes, stage timers, disk."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

from jadechain.bench.stats import BlockCommit

__all__ = [
    "CommitListener",
    "ProcessSampler",
    "directory_bytes",
    "parse_stage_metrics",
    "read_node_counters",
    "read_stage_seconds",
]


class CommitListener(threading.Thread):
    """Follows one node's SSE stream (``kinds=block,tx``): when each block and each tx was seen.

    The commit notification is what a client that waits for its result gets, so latency is
    measured to it. Reconnects from the last event id if the stream drops.
    """

    def __init__(self, url: str, ledger_hash: str, from_height: int) -> None:
        super().__init__(daemon=True, name="bench-commit-listener")
        self.url = f"{url.rstrip('/')}/api/v1/ledgers/{ledger_hash}/stream"
        self.from_height = from_height
        self.tx_seen: dict[str, float] = {}
        self.tx_status: dict[str, str] = {}
        self.blocks: dict[int, BlockCommit] = {}
        self.tx_height: dict[str, int] = {}
        self.repeated: dict[str, int] = {}
        """Hash → how many more times the transaction appeared in later blocks."""
        self.repeated_status: dict[str, int] = {}
        self.ready = threading.Event()
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._last_id: str | None = None
        self.errors = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            params = {"kinds": "block,tx"}
            headers = {}
            if self._last_id is not None:
                headers["Last-Event-ID"] = self._last_id
            else:
                params["from_height"] = str(self.from_height)
            try:
                with httpx.Client(timeout=httpx.Timeout(5.0, read=30.0)) as client:
                    with client.stream("GET", self.url, params=params, headers=headers) as response:
                        response.raise_for_status()
                        self.ready.set()
                        self._consume(response)
            except (httpx.HTTPError, OSError):
                if self._stop.is_set():
                    return
                self.errors += 1
                time.sleep(0.2)

    def _consume(self, response: httpx.Response) -> None:
        event = ""
        try:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id:"):
                    self._last_id = line[3:].strip()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    self._record(event, json.loads(line[5:]), time.monotonic())
        except httpx.ReadTimeout:
            return  # idle stream: reconnect from the last id

    def _record(self, event: str, data: dict[str, Any], now: float) -> None:
        with self.changed:
            if event == "block" or ("tx_count" in data and "tx_hash" not in data):
                height = int(data["height"])
                self.blocks.setdefault(height, BlockCommit(height, int(data["tx_count"]), int(data["time"]), now))
            elif "tx_hash" in data:
                tx_hash = data["tx_hash"]
                if tx_hash in self.tx_seen:
                    # The same transaction included again in a later block (it fails there as a duplicate).
                    self.repeated[tx_hash] = self.repeated.get(tx_hash, 0) + 1
                    status = data.get("status", "")
                    self.repeated_status[status] = self.repeated_status.get(status, 0) + 1
                else:
                    self.tx_seen[tx_hash] = now
                    self.tx_status[tx_hash] = data.get("status", "")
                    self.tx_height[tx_hash] = int(data.get("height", -1))
            self.changed.notify_all()

    def wait_for(self, hashes: Sequence[str], timeout: float) -> bool:
        """Block until every hash is seen (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                if all(h in self.tx_seen for h in hashes):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))


class ProcessSampler(threading.Thread):
    """Samples CPU seconds and RSS of the node processes once per ``interval``."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        super().__init__(daemon=True, name="bench-process-sampler")
        import psutil

        self.processes = {}
        for name, pid in pids.items():
            try:
                self.processes[name] = psutil.Process(pid)
            except psutil.Error:
                pass
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()

    def sample(self) -> dict[str, Any]:
        import psutil

        now = time.monotonic()
        row: dict[str, Any] = {"t": now, "cpu_s": {}, "rss_mb": {}}
        for name, process in self.processes.items():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    row["cpu_s"][name] = times.user + times.system
                    row["rss_mb"][name] = process.memory_info().rss / 2**20
            except psutil.Error:
                continue
        return row

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def cpu_between(self, start: dict[str, Any], end: dict[str, Any]) -> dict[str, float]:
        return {name: round(end["cpu_s"][name] - start["cpu_s"].get(name, 0.0), 3)
                for name in end["cpu_s"] if name in start["cpu_s"]}

    def peak_rss_mb(self) -> dict[str, float]:
        peak: dict[str, float] = {}
        for row in self.samples:
            for name, value in row["rss_mb"].items():
                peak[name] = round(max(peak.get(name, 0.0), value), 1)
        return peak


def parse_stage_metrics(text: str, ledger_hash: str | None = None) -> dict[str, float]:
    """``jadechain_stage_seconds`` counters of a Prometheus text page: stage → seconds."""
    stages: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("jadechain_stage_seconds") or "{" not in line:
            continue
        labels_text, _, value = line.rpartition("}")
        labels = dict(
            part.split("=", 1) for part in labels_text.split("{", 1)[1].split(",") if "=" in part
        )
        labels = {key.strip(): item.strip().strip('"') for key, item in labels.items()}
        if ledger_hash is not None and labels.get("ledger") not in (None, ledger_hash):
            continue
        stage = labels.get("stage")
        if stage is None:
            continue
        try:
            stages[stage] = stages.get(stage, 0.0) + float(value.strip().split()[0])
        except (ValueError, IndexError):
            continue
    return stages


def read_stage_seconds(urls: Sequence[str], ledger_hash: str) -> dict[str, dict[str, float]]:
    """Per node URL: its stage timers from ``/metrics`` (empty if the node has none, e.g. solo)."""
    out: dict[str, dict[str, float]] = {}
    for url in urls:
        try:
            response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=5.0)
            out[url] = parse_stage_metrics(response.text, ledger_hash)
        except httpx.HTTPError:
            out[url] = {}
    return out


def read_node_counters(urls: Sequence[str], ledger_hash: str) -> dict[str, int]:
    """Summed over the nodes: how gossiped transactions were admitted (``node.gossip``: verified here,
    admitted on f + 1 vouchers, chunks that waited in vain, refused peer transactions), the
    consensus core's counters, throttled proposals, envelopes and messages received, GC milliseconds."""
    total: dict[str, int] = {}
    for url in urls:
        try:
            status = httpx.get(f"{url.rstrip('/')}/api/v1/node/status", timeout=5.0).json()
            counters = dict(status["ledgers"][ledger_hash].get("replica", {}))
            core = status["ledgers"][ledger_hash].get("consensus", {})
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            continue
        for name, value in core.items():
            counters[f"consensus_{name}"] = value
        for name, value in counters.items():
            if name.startswith(("gossip_", "peer_txs", "apply_txs", "consensus_", "proposals")) and isinstance(value, int):
                total[name] = total.get(name, 0) + value
        try:
            metrics = httpx.get(f"{url.rstrip('/')}/metrics", timeout=5.0).text
        except httpx.HTTPError:
            continue
        for line in metrics.splitlines():
            if line.startswith("jadechain_network_events_total{"):
                name = line.split('counter="', 1)[1].split('"', 1)[0]
                total[name] = total.get(name, 0) + int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("jadechain_gc_seconds_total{"):
                name = "gc_ms_generation_" + line.split('generation="', 1)[1].split('"', 1)[0]
                total[name] = total.get(name, 0) + int(1000 * float(line.rsplit(" ", 1)[1]))
    return total


def directory_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of every file under ``path`` (the LevelDB size of a ledger directory)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += Path(root, name).stat().st_size
            except OSError:
                pass
    return total
