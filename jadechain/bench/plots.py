"""PNG plots of a scaling run (matplotlib, headless): TPS and p99 against node count and block size."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["scale_plots"]


def scale_plots(runs: Sequence[dict[str, Any]], raft: Sequence[dict[str, Any]], out: Path) -> list[str]:
    """Write ``scale_tps.png``, ``scale_latency.png`` and ``scale_block_size.png``; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    block_sizes = sorted({r["config"]["max_block_txs"] for r in runs})
    node_counts = sorted({r["config"]["nodes"] for r in runs})

    def series(block_size: int, key: str) -> tuple[list[int], list[float]]:
        chosen = sorted((r for r in runs if r["config"]["max_block_txs"] == block_size), key=lambda r: r["config"]["nodes"])
        xs = [r["config"]["nodes"] for r in chosen]
        if key == "tps":
            return xs, [r["results"]["committed_tps"] for r in chosen]
        return xs, [r["results"]["latency"].get(key) or float("nan") for r in chosen]

    paths = []
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for block_size in block_sizes:
        xs, ys = series(block_size, "tps")
        axis.plot(xs, ys, marker="o", label=f"Jadechain, block ≤ {block_size} txs")
    for run in runs[:1]:
        ceiling = run["ceiling"]["verifies_per_s_machine"]
        axis.plot(node_counts, [ceiling / n for n in node_counts], linestyle=":", color="grey",
                  label=f"verify ceiling ({run['ceiling'].get('algorithm', '')})")
    if raft:
        ordered = sorted(raft, key=lambda r: r["nodes"])
        axis.plot([r["nodes"] for r in ordered], [r["ops_per_s"] for r in ordered], marker="s", linestyle="--",
                  label="PySyncObj (Raft, unsigned)")
    axis.set_xlabel("validators")
    axis.set_ylabel("committed TPS")
    axis.set_xticks(node_counts)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("Throughput against node count")
    figure.tight_layout()
    paths.append(str(out / "scale_tps.png"))
    figure.savefig(paths[-1], dpi=120)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for block_size in block_sizes:
        for key, style in (("p50_s", "-"), ("p99_s", "--")):
            xs, ys = series(block_size, key)
            axis.plot(xs, ys, marker="o", linestyle=style, label=f"{key[:3]}, block ≤ {block_size}")
    axis.set_xlabel("validators")
    axis.set_ylabel("submit → commit latency (s)")
    axis.set_xticks(node_counts)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("Latency against node count")
    figure.tight_layout()
    paths.append(str(out / "scale_latency.png"))
    figure.savefig(paths[-1], dpi=120)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for nodes in node_counts:
        chosen = sorted((r for r in runs if r["config"]["nodes"] == nodes), key=lambda r: r["config"]["max_block_txs"])
        axis.plot([r["config"]["max_block_txs"] for r in chosen], [r["results"]["committed_tps"] for r in chosen],
                  marker="o", label=f"{nodes} validators")
    axis.set_xlabel("max transactions per block")
    axis.set_ylabel("committed TPS")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("Throughput against block size")
    figure.tight_layout()
    paths.append(str(out / "scale_block_size.png"))
    figure.savefig(paths[-1], dpi=120)
    plt.close(figure)
    return paths
