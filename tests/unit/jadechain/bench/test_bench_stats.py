"""Percentile math, TPS from block commit times, growth slopes (jadechain.bench.stats)."""

import math

import pytest

from jadechain.bench.stats import BlockCommit, committed_tps_from_blocks, growth_per_million, latency_summary, percentile


def test_percentile_interpolates_like_numpy_linear():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 4.0
    assert percentile(values, 0.5) == pytest.approx(2.5)
    assert percentile(values, 0.9) == pytest.approx(3.7)


def test_percentile_ignores_input_order_and_handles_one_value():
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_of_nothing_is_nan_and_bad_quantile_is_refused():
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_p99_of_a_hundred_latencies_sits_near_the_top():
    latencies = [i / 100 for i in range(1, 101)]  # 0.01 … 1.00 s
    summary = latency_summary(latencies)
    assert summary["count"] == 100
    assert summary["p50_s"] == pytest.approx(0.505)
    assert summary["p99_s"] == pytest.approx(0.9901)
    assert summary["max_s"] == 1.0


def test_latency_summary_of_an_empty_run_has_no_figures():
    assert latency_summary([]) == {"count": 0, "mean_s": None, "p50_s": None, "p90_s": None, "p99_s": None,
                                   "max_s": None}


def test_committed_tps_from_blocks_uses_commit_times_not_acks():
    blocks = [
        BlockCommit(10, 0, 1_000, 100.0),   # empty block: not counted
        BlockCommit(11, 500, 2_000, 101.0),
        BlockCommit(12, 500, 3_000, 102.0),
        BlockCommit(13, 1000, 4_000, 103.0),
    ]
    figures = committed_tps_from_blocks(blocks, start=100.5)
    assert figures["blocks"] == 3
    assert figures["txs"] == 2000
    assert figures["by_notification"] == pytest.approx(2000 / 2.5)
    # header clock: the 1500 txs after the first loaded block, over 2 s of header time
    assert figures["by_header_time"] == pytest.approx(750.0)
    assert figures["txs_per_block"] == pytest.approx(666.7)


def test_committed_tps_without_a_start_excludes_the_first_blocks_own_txs():
    blocks = [BlockCommit(1, 100, 0, 10.0), BlockCommit(2, 300, 1000, 11.0)]
    assert committed_tps_from_blocks(blocks)["by_notification"] == pytest.approx(300.0)


def test_committed_tps_of_no_blocks_is_zero():
    figures = committed_tps_from_blocks([])
    assert figures["by_notification"] == 0.0 and figures["blocks"] == 0


def test_growth_per_million_is_the_least_squares_slope():
    samples = [(0, 100.0), (250_000, 110.0), (500_000, 120.0), (1_000_000, 140.0)]
    assert growth_per_million(samples) == pytest.approx(40.0)
    assert growth_per_million([(5, 1.0), (5, 2.0)]) is None
