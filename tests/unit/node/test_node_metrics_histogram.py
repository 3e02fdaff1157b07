"""The per-transaction latency histogram takes a block's latencies in one call and exposes exactly
what prometheus_client's Histogram exposes for the same observations (less its ``_created`` sample)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from node.gateway.metrics import TX_LATENCY_BUCKETS, BatchHistogram

latencies = st.one_of(st.sampled_from(TX_LATENCY_BUCKETS), st.floats(min_value=0, max_value=100, allow_nan=False))
blocks = st.lists(st.tuples(st.sampled_from(["ledgerA", "ledgerB"]), st.lists(latencies, max_size=40)), max_size=8)


def exposition_of_histogram(observed: list[tuple[str, list[float]]]) -> list[str]:
    registry = CollectorRegistry()
    histogram = Histogram("jadechain_tx_latency_seconds", "doc", ["ledger"], registry=registry, buckets=TX_LATENCY_BUCKETS)
    for ledger, values in observed:
        for value in values:
            histogram.labels(ledger).observe(value)
        if not values:
            histogram.labels(ledger)
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def exposition_of_batches(observed: list[tuple[str, list[float]]]) -> list[str]:
    registry = CollectorRegistry()
    histogram = BatchHistogram("jadechain_tx_latency_seconds", "doc", "ledger", TX_LATENCY_BUCKETS)
    registry.register(histogram)
    for ledger, values in observed:
        histogram.observe_many(ledger, values)
    return generate_latest(registry).decode().splitlines()


@settings(max_examples=200, deadline=None)
@given(blocks)
def test_batches_expose_what_one_observation_at_a_time_exposes(observed: list[tuple[str, list[float]]]) -> None:
    assert exposition_of_batches(observed) == exposition_of_histogram(observed)


def test_a_latency_on_a_bucket_bound_counts_in_that_bucket() -> None:
    lines = exposition_of_batches([("L", [0.01, 0.01000001, 30.0, 31.0])])
    assert 'jadechain_tx_latency_seconds_bucket{le="0.01",ledger="L"} 1.0' in lines
    assert 'jadechain_tx_latency_seconds_bucket{le="0.025",ledger="L"} 2.0' in lines
    assert 'jadechain_tx_latency_seconds_bucket{le="30.0",ledger="L"} 3.0' in lines
    assert 'jadechain_tx_latency_seconds_bucket{le="+Inf",ledger="L"} 4.0' in lines
    assert 'jadechain_tx_latency_seconds_count{ledger="L"} 4.0' in lines
