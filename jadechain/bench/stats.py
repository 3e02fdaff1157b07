"""The arithmetic of a benchmark run, kept pure so it is unit-tested without a network."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = [
    "BlockCommit",
    "committed_tps_from_blocks",
    "latency_summary",
    "percentile",
    "growth_per_million",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks (NumPy's default).

    NaN for an empty sample: a run that committed nothing has no latency, and a 0 would lie.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside [0, 1]")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def latency_summary(latencies: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean, p50/p90/p99 and max of submit → commit latencies, in seconds (None if empty)."""
    if not latencies:
        return {"count": 0, "mean_s": None, "p50_s": None, "p90_s": None, "p99_s": None, "max_s": None}
    return {
        "count": len(latencies),
        "mean_s": round(sum(latencies) / len(latencies), 4),
        "p50_s": round(percentile(latencies, 0.50), 4),
        "p90_s": round(percentile(latencies, 0.90), 4),
        "p99_s": round(percentile(latencies, 0.99), 4),
        "max_s": round(max(latencies), 4),
    }


@dataclass(frozen=True, slots=True)
class BlockCommit:
    """One committed block as the benchmark saw it."""

    height: int
    tx_count: int
    header_time_ms: int
    """The proposer's timestamp in the block header."""
    seen_at: float
    """Local monotonic time at which the commit notification arrived (SSE)."""


def committed_tps_from_blocks(blocks: Iterable[BlockCommit], start: float | None = None) -> dict[str, float | int]:
    """Committed TPS over a run's blocks, two ways, from block commit times (never client acks).

    ``by_notification``: transactions in the blocks ÷ (last block's commit notification − ``start``,
    the first submission; or the first block's notification when ``start`` is None, not counting
    that block's own transactions). ``by_header_time``: transactions after the first block ÷ the
    span of header times from the first to the last block — the chain's own clock.
    """
    ordered = sorted(blocks, key=lambda block: block.height)
    loaded = [block for block in ordered if block.tx_count > 0]
    result: dict[str, float | int] = {"blocks": len(loaded), "txs": sum(b.tx_count for b in loaded),
                                      "by_notification": 0.0, "by_header_time": 0.0, "txs_per_block": 0.0}
    if not loaded:
        return result
    result["txs_per_block"] = round(result["txs"] / len(loaded), 1)
    if start is not None:
        span = loaded[-1].seen_at - start
        if span > 0:
            result["by_notification"] = round(result["txs"] / span, 1)
    elif len(loaded) > 1:
        span = loaded[-1].seen_at - loaded[0].seen_at
        if span > 0:
            result["by_notification"] = round(sum(b.tx_count for b in loaded[1:]) / span, 1)
    if len(loaded) > 1:
        header_span = (loaded[-1].header_time_ms - loaded[0].header_time_ms) / 1000.0
        if header_span > 0:
            result["by_header_time"] = round(sum(b.tx_count for b in loaded[1:]) / header_span, 1)
    return result


def growth_per_million(samples: Sequence[tuple[int, float]]) -> float | None:
    """Least-squares slope of (transactions committed, quantity) samples, per 10^6 transactions.

    Used by the soak run for RSS and LevelDB size: a slope, not last − first, so one GC or
    compaction at the end does not decide the figure. None with fewer than two distinct x.
    """
    points = [(float(x), float(y)) for x, y in samples]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in points)
    denominator = sum((x - mean_x) ** 2 for x, _ in points)
    return numerator / denominator * 1_000_000
