"""Prometheus metrics of the node, one registry per app (so several apps can live in one process)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


TX_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class BatchHistogram(Collector):
    """A labelled histogram that takes a whole batch of observations in one call.

    A committed block brings one latency per transaction; ``prometheus_client.Histogram.observe``
    one at a time (a lock and a bucket scan each) cost a few microseconds per transaction on the
    commit path. Same exposition as that Histogram (``_bucket``/``_count``/``_sum``, cumulative
    ``le`` buckets ending in ``+Inf``), without the ``_created`` sample.
    """

    def __init__(self, name: str, documentation: str, label: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.bounds = tuple(sorted(float(bound) for bound in buckets)) + (float("inf"),)
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe_many(self, label_value: str, values: Iterable[float]) -> None:
        """Count every value in the first bucket whose bound is ≥ it (as ``Histogram.observe``)."""
        bounds = self.bounds
        with self._lock:
            counts = self._counts.setdefault(label_value, [0] * len(bounds))
            total = self._sums.get(label_value, 0.0)
            for value in values:
                counts[bisect_left(bounds, value)] += 1
                total += value  # one value at a time, as observe() sums: the same float
            self._sums[label_value] = total

    def collect(self) -> Any:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self._lock:
            snapshot = [(value, list(counts), self._sums[value]) for value, counts in self._counts.items()]
        for value, counts, total in snapshot:
            cumulative, buckets = 0, []
            for bound, count in zip(self.bounds, counts):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
            family.add_metric([value], buckets, total)
        yield family


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
        self.tx_latency = BatchHistogram(
            "jadechain_tx_latency_seconds", "From admission at this node's mempool to commit, per transaction",
            "ledger", TX_LATENCY_BUCKETS,
        )
        self.registry.register(self.tx_latency)

    def observe_commit(self, result: BlockResult, seconds: float, tx_latencies: list[float]) -> None:
        name = to_base58(result.header.ledger_hash)
        self.blocks.labels(name).inc()
        self.committed.labels(name).inc(len(result.tx_infos))
        self.commit_latency.labels(name).observe(seconds)
        self.tx_latency.observe_many(name, tx_latencies)

    def observe_submitted(self, accepted: int, rejected: int) -> None:
        if accepted:
            self.submitted.labels("accepted").inc(accepted)
        if rejected:
            self.submitted.labels("rejected").inc(rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
