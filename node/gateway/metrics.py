"""Prometheus metrics of the node, one registry per app (so several apps can live in one process)."""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.crypto import to_base58
from ledger.ledger import BlockResult


class _RuntimeCollector(Collector):
    """Height, mempool and verify-queue gauges read at scrape time from every hosted ledger."""

    def __init__(self, runtimes: Callable[[], dict[str, Any]]) -> None:
        self.runtimes = runtimes

    def collect(self) -> Any:
        height = GaugeMetricFamily("jadechain_height", "Committed height", labels=["ledger"])
        pending = GaugeMetricFamily("jadechain_mempool_size", "Transactions waiting in the mempool", labels=["ledger"])
        in_flight = GaugeMetricFamily("jadechain_mempool_in_flight", "Transactions in blocks being committed", labels=["ledger"])
        verifying = GaugeMetricFamily("jadechain_verify_queue", "Signatures being verified at ingress", labels=["ledger"])
        for name, runtime in self.runtimes().items():
            stats = runtime.mempool.stats()
            height.add_metric([name], runtime.ledger.height)
            pending.add_metric([name], stats.pending)
            in_flight.add_metric([name], stats.in_flight)
            verifying.add_metric([name], stats.verifying)
        yield from (height, pending, in_flight, verifying)


class GatewayMetrics:
    def __init__(self, runtimes: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_RuntimeCollector(runtimes))
        self.committed = Counter("jadechain_transactions_committed", "Transactions committed (rate = tx/s)",
                                 ["ledger"], registry=self.registry)
        self.blocks = Counter("jadechain_blocks_committed", "Blocks committed", ["ledger"], registry=self.registry)
        self.submitted = Counter("jadechain_transactions_submitted", "Transactions submitted at this gateway",
                                 ["outcome"], registry=self.registry)
        self.commit_latency = Histogram(
            "jadechain_commit_latency_seconds", "Time to make, execute, certify and persist one block",
            ["ledger"], registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.tx_latency = Histogram(
            "jadechain_tx_latency_seconds", "From admission at this node's mempool to commit, per transaction",
            ["ledger"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )

    def observe_commit(self, result: BlockResult, seconds: float, tx_latencies: list[float]) -> None:
        name = to_base58(result.header.ledger_hash)
        self.blocks.labels(name).inc()
        self.committed.labels(name).inc(len(result.tx_infos))
        self.commit_latency.labels(name).observe(seconds)
        histogram = self.tx_latency.labels(name)
        for latency in tx_latencies:
            histogram.observe(latency)

    def observe_submitted(self, accepted: int, rejected: int) -> None:
        if accepted:
            self.submitted.labels("accepted").inc(accepted)
        if rejected:
            self.submitted.labels("rejected").inc(rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
