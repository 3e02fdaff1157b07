"""Monitoring: scrape every node's ``/health`` and ``/metrics``; derive height, last commit age,
tx/s, mempool, peers; call a network degraded (with the reason) when a node is down or lags."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

LAG_BLOCKS = 10
"""A node this many blocks behind the highest is lagging."""
STALE_SECONDS = 60.0
"""No new block for this long while transactions wait: the network is stalled."""
HISTORY = 300


@dataclass
class NodeSample:
    at: float
    up: bool
    height: int | None = None
    committed: float | None = None
    mempool: int | None = None
    peers: int | None = None
    last_block_time_ms: int | None = None
    halted: bool = False
    error: str = ""


@dataclass
class NodeView:
    node: str
    url: str
    up: bool
    health: str
    height: int | None
    last_commit_age_s: float | None
    tx_per_s: float | None
    mempool: int | None
    peers: int | None
    error: str = ""
    halted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def parse_metrics(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name] += sample.value
            else:
                values[sample.name] = sample.value
    return values


def scrape(url: str, ledger_hash: str | None, timeout: float = 2.0) -> NodeSample:
    now = time.time()
    try:
        with httpx.Client(timeout=timeout) as http:
            health = http.get(url + "/health")
            if health.status_code != 200:
                return NodeSample(now, False, error=f"/health answered {health.status_code}")
            body = health.json()
            metrics = parse_metrics(http.get(url + "/metrics").text)
            block_time = None
            if ledger_hash:
                latest = http.get(f"{url}/api/v1/ledgers/{ledger_hash}/blocks/latest")
                if latest.status_code == 200:
                    block_time = latest.json().get("header", {}).get("time") or latest.json().get("time")
    except (httpx.HTTPError, ValueError) as error:
        return NodeSample(now, False, error=f"unreachable: {type(error).__name__}")
    heights = body.get("ledgers", {})
    height = heights.get(ledger_hash) if ledger_hash else (max(heights.values()) if heights else None)
    peers = metrics.get("jadechain_peers_connected", metrics.get("jadechain_peers"))
    return NodeSample(
        now, body.get("status") == "ok", height=height,
        committed=metrics.get("jadechain_transactions_committed_total"),
        mempool=int(metrics["jadechain_mempool_size"]) if "jadechain_mempool_size" in metrics else None,
        peers=int(peers) if peers is not None else None, last_block_time_ms=block_time,
        halted=metrics.get("jadechain_divergence", 0) > 0,
        error="" if body.get("status") == "ok" else f"status {body.get('status')}",
    )


class Monitor:
    """Keeps the last samples of every node in memory (the charts need minutes, not months)."""

    def __init__(self) -> None:
        self._samples: dict[int, deque[NodeSample]] = {}
        self._lock = threading.Lock()

    def observe(self, node_id: int, sample: NodeSample) -> None:
        with self._lock:
            self._samples.setdefault(node_id, deque(maxlen=HISTORY)).append(sample)

    def samples(self, node_id: int) -> list[NodeSample]:
        with self._lock:
            return list(self._samples.get(node_id, ()))

    def view(self, node_id: int, name: str, url: str, with_history: bool = False) -> NodeView:
        samples = self.samples(node_id)
        if not samples:
            return NodeView(name, url, False, "unknown", None, None, None, None, None, "not scraped yet")
        last = samples[-1]
        rate = None
        window = [s for s in samples if s.up and s.committed is not None and s.at >= last.at - 30]
        if len(window) >= 2 and window[-1].at > window[0].at:
            rate = max(0.0, (window[-1].committed - window[0].committed) / (window[-1].at - window[0].at))  # type: ignore[operator]
        age = None
        if last.last_block_time_ms:
            age = max(0.0, last.at - last.last_block_time_ms / 1000)
        history = []
        if with_history:
            previous = None
            for sample in samples:
                tps = None
                if previous is not None and sample.committed is not None and previous.committed is not None \
                        and sample.at > previous.at:
                    tps = max(0.0, (sample.committed - previous.committed) / (sample.at - previous.at))
                history.append({"at": sample.at, "height": sample.height, "tx_per_s": tps, "up": sample.up})
                previous = sample
        return NodeView(name, url, last.up, "halted" if last.halted else ("ok" if last.up else "down"), last.height,
                        age, rate, last.mempool, last.peers, last.error, last.halted, history)


def network_health(views: list[NodeView], expected_peers: int,
                   last_errors: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """``healthy`` or ``degraded`` (with reasons) or ``down``; ``last_errors``: node name → its last log error."""
    if not views:
        return "empty", ["the network has no running node"]
    reasons: list[str] = []
    up = [v for v in views if v.up]
    for view in views:
        if not view.up:
            reason = f"{view.node} is down ({view.error or view.health})"
            if last_errors and last_errors.get(view.node):
                reason += f": {last_errors[view.node]}"
            reasons.append(reason)
    heights = [v.height for v in up if v.height is not None]
    if heights:
        top = max(heights)
        for view in up:
            if view.height is not None and top - view.height >= LAG_BLOCKS:
                reasons.append(f"{view.node} lags {top - view.height} blocks behind")
    for view in up:
        if view.halted:
            reasons.append(f"{view.node} halted: it stopped voting (divergence or a block it could not apply; see its log)")
        if view.peers is not None and view.peers < expected_peers:
            reasons.append(f"{view.node} sees {view.peers} of {expected_peers} peers")
        if view.mempool and view.last_commit_age_s is not None and view.last_commit_age_s > STALE_SECONDS:
            reasons.append(f"{view.node}: {view.mempool} txs waiting, no block for {view.last_commit_age_s:.0f}s")
    if not up:
        return "down", reasons
    return ("degraded" if reasons else "healthy"), reasons


def view_dict(view: NodeView) -> dict[str, Any]:
    return asdict(view)
