"""Reports: the JSON schema of a run, headline figures, targets and the Markdown summary table."""

from __future__ import annotations

import os
import platform
from typing import Any, Iterable, Mapping

from ledger import _accel as accel

__all__ = [
    "REPORT_KEYS",
    "TARGETS",
    "headline",
    "machine_description",
    "summary_table",
    "target_verdicts",
    "validate_report",
]

REPORT_KEYS: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "machine", "config", "results", "ceiling", "nodes", "profile", "targets"),
    "config": ("nodes", "crypto", "workload", "mode", "transport", "duration_s", "batch", "max_block_txs", "quick"),
    "results": ("committed_tps", "committed_tps_by_header_time", "latency", "offered", "accepted", "committed",
                "uncommitted", "outcome", "blocks", "txs_per_block"),
    "ceiling": ("verifies_per_s_machine", "nodes_verifying_each_tx", "tps_ceiling", "fraction_of_ceiling"),
    "profile": ("stage_seconds", "stage_ms_per_tx", "node_cpu_ms_per_tx", "api_submit_ms"),
}
"""Keys every ``jadechain bench tps`` JSON report has (section → keys; "" is the top level)."""

TARGETS: tuple[dict[str, Any], ...] = (
    {"name": "4 nodes Ed25519 >= 3,000 TPS, p99 <= 2 s", "nodes": 4, "crypto": "classic", "min_tps": 3000.0,
     "max_p99_s": 2.0},
    {"name": "4 nodes SM2 >= 1,000 TPS", "nodes": 4, "crypto": "sm", "min_tps": 1000.0, "max_p99_s": None},
    {"name": "1 node Ed25519 >= 8,000 TPS", "nodes": 1, "crypto": "classic", "min_tps": 8000.0, "max_p99_s": None},
)
"""DESIGN.md's performance targets (KV-write workload); reported against, never asserted."""


def target_verdicts(nodes: int, crypto: str, workload: str, tps: float, p99_s: float | None) -> list[dict[str, Any]]:
    """The targets that apply to this configuration, each with its measured figure and met / not met."""
    verdicts: list[dict[str, Any]] = []
    if workload != "kv-write":
        return verdicts
    for target in TARGETS:
        if target["nodes"] != nodes or target["crypto"] != crypto:
            continue
        met = tps >= target["min_tps"]
        if target["max_p99_s"] is not None:
            met = met and p99_s is not None and p99_s <= target["max_p99_s"]
        verdicts.append({"target": target["name"], "measured_tps": tps, "measured_p99_s": p99_s, "met": met,
                         "tps_ratio": round(tps / target["min_tps"], 3)})
    return verdicts


def machine_description() -> dict[str, Any]:
    """CPU model and count, memory, OS, Python and the load average at the time of the run."""
    model = platform.processor() or platform.machine()
    memory_gb = None
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal"):
                    memory_gb = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    compiled, reason = accel.plan()  # the nodes start from this tree and environment, so they load the same
    pure = accel.pure_requested()
    return {"cpu_model": model, "cpus": os.cpu_count(), "memory_gb": memory_gb, "platform": platform.platform(),
            "python": platform.python_version(), "load_average_at_start": load,
            "compiled_ledger": bool(compiled) and not pure,
            "compiled_ledger_note": f"{accel.PURE_ENV} is set" if compiled and pure else reason}


def validate_report(report: Mapping[str, Any]) -> list[str]:
    """Missing keys of a tps report ("section.key"); empty when the report has the full schema."""
    missing = []
    for section, keys in REPORT_KEYS.items():
        container = report if section == "" else report.get(section)
        if not isinstance(container, Mapping):
            if section not in missing:
                missing.append(section)
            continue
        missing += [f"{section}.{key}" if section else key for key in keys if key not in container]
    return missing


def headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The one-line JSON of headline figures printed last by every bench command."""
    config, results, ceiling = report["config"], report["results"], report["ceiling"]
    latency = results["latency"]
    return {
        "benchmark": report["benchmark"], "nodes": config["nodes"], "crypto": config["crypto"],
        "workload": config["workload"], "committed_tps": results["committed_tps"],
        "p50_s": latency.get("p50_s"), "p90_s": latency.get("p90_s"), "p99_s": latency.get("p99_s"),
        "committed": results["committed"], "tps_ceiling": ceiling["tps_ceiling"],
        "fraction_of_ceiling": ceiling["fraction_of_ceiling"],
        "node_cpu_ms_per_tx": report["profile"]["node_cpu_ms_per_tx"],
        "compiled_ledger": report.get("machine", {}).get("compiled_ledger"),
        "targets_met": [t["met"] for t in report["targets"]],
    }


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:,.{digits}f}"
    return str(value)


def summary_table(reports: Iterable[Mapping[str, Any]]) -> str:
    """A Markdown table, one row per run, for the README and docs/benchmarks.md."""
    lines = [
        "| nodes | crypto | workload | block size | committed TPS | p50 s | p90 s | p99 s | ceiling TPS | TPS/ceiling "
        "| CPU ms/tx (all nodes) | RSS MB/node (peak) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        config, results, ceiling = report["config"], report["results"], report["ceiling"]
        latency = results["latency"]
        rss = [node.get("rss_mb_peak") for node in report["nodes"].values() if node.get("rss_mb_peak") is not None]
        lines.append(
            f"| {config['nodes']} | {config['crypto']} | {config['workload']} | {config['max_block_txs']} "
            f"| {_fmt(float(results['committed_tps']))} | {_fmt(latency.get('p50_s'), 2)} "
            f"| {_fmt(latency.get('p90_s'), 2)} | {_fmt(latency.get('p99_s'), 2)} "
            f"| {_fmt(ceiling['tps_ceiling'])} | {_fmt(ceiling['fraction_of_ceiling'], 2)} "
            f"| {_fmt(report['profile']['node_cpu_ms_per_tx'], 2)} | {_fmt(max(rss) if rss else None)} |"
        )
    return "\n".join(lines) + "\n"
