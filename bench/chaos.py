"""Chaos soak: real validators under a client load and a seeded schedule of faults, then the
history checker (``tests/chaos/``).

    .venv/bin/python bench/chaos.py --duration 1800      # the long soak (30 minutes of faults)
    .venv/bin/python bench/chaos.py --quick              # every fault kind once, about 2 minutes
    .venv/bin/python bench/chaos.py --seed 7 --kinds kill9,partition --duration 300

Faults: kill -9 + restart, SIGSTOP/SIGCONT, partition, one-way drop, latency, clock skew
(libfaketime), disk full (a 64 MiB tmpfs under one node; needs root), a corrupted LevelDB
MANIFEST (the node must refuse with LEDGER_CORRUPTED, then is wiped and catches up). At most f
nodes are faulty at a time (``--max-faulty`` to exceed it on purpose).

Writes ``bench/results/chaos.json`` (or ``--out``): faults injected / survived / skipped per kind,
transactions committed, operations checked, violations (must be 0), key leaks in logs (must be 0),
recovery times per kind (min / median / max seconds). The history of every client operation is
kept beside the run directory (``history.jsonl``) for re-checking. The last line printed is one
JSON object of headline figures. The exit status is 1 if there was any violation, never on time.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos.chaos_runner import FAULT_KINDS, ChaosRunner  # noqa: E402


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    per_kind: dict[str, dict[str, Any]] = {}
    for fault in report["faults"]:
        item = per_kind.setdefault(fault["kind"], {"injected": 0, "survived": 0, "skipped": 0, "failed": 0})
        outcome = fault["outcome"]
        if outcome.startswith("skipped"):
            item["skipped"] += 1
            item["skip_reason"] = outcome
        else:
            item["injected"] += 1
            item["survived" if outcome == "survived" else "failed"] += 1
    for kind, times in report["recovery_seconds"].items():
        per_kind.setdefault(kind, {})["recovery_seconds"] = {
            "min": min(times), "median": round(statistics.median(times), 2), "p99": percentile(times, 99),
            "max": max(times), "count": len(times)}
    return per_kind


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by the nearest-rank method (a small sample's p99 is its largest value)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


def recovery_overall(report: dict[str, Any]) -> dict[str, float]:
    times = [t for values in report.get("recovery_seconds", {}).values() for t in values]
    if not times:
        return {}
    return {"p50": round(statistics.median(times), 2), "p99": percentile(times, 99), "max": max(times),
            "count": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=None, help="seconds of faults (a soak); default: --steps")
    parser.add_argument("--quick", action="store_true", help="every fault kind once, short holds (about 2 minutes)")
    parser.add_argument("--steps", type=int, default=len(FAULT_KINDS))
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--crypto", default="classic", choices=["classic", "sm"])
    parser.add_argument("--kinds", default=",".join(FAULT_KINDS))
    parser.add_argument("--clients", type=int, default=2, help="client threads of the load (--quick: 1)")
    parser.add_argument("--max-faulty", type=int, default=None, help="faulty nodes at a time (default f)")
    parser.add_argument("--hold", default=None, metavar="MIN,MAX",
                        help="seconds each fault is held, drawn uniformly (default 2,8; --quick 1.5,3)")
    parser.add_argument("--settle", type=float, default=None, help="seconds between steps (default 3; --quick 1)")
    parser.add_argument("--dir", default=None, help="run directory (default: a temporary one, kept)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "chaos.json"))
    args = parser.parse_args(argv)

    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="jadechain-chaos-"))
    hold = (1.5, 3.0) if args.quick else (2.0, 8.0)
    if args.hold:
        try:
            low, high = (float(part) for part in args.hold.split(","))
        except ValueError:
            parser.error("--hold takes MIN,MAX in seconds, e.g. 1,3")
        if not 0 < low <= high:
            parser.error("--hold needs 0 < MIN <= MAX")
        hold = (low, high)
    settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    runner = ChaosRunner(directory, seed=args.seed, steps=len(kinds) if args.quick else args.steps,
                         nodes=args.nodes, kinds=kinds, max_faulty=args.max_faulty, hold=hold,
                         clients=1 if args.quick else args.clients,
                         settle=settle, crypto=args.crypto,
                         duration=None if args.quick else args.duration)
    # SIGTERM (timeout, CI cancel) unwinds like Ctrl-C, so the runner stops its nodes and unmounts.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"chaos: seed {args.seed}, {args.nodes} nodes, run directory {directory}", file=sys.stderr)
    try:
        report = runner.run().to_json()
    except Exception as exc:
        report_path = directory / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {"violations": [str(exc)], "faults": [],
                                                                                    "recovery_seconds": {}}
        report.setdefault("violations", []).append(f"runner error: {type(exc).__name__}: {exc}")
    result = {
        "benchmark": "chaos",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "seed": args.seed,
        "nodes": args.nodes,
        "kinds": list(kinds),
        "run_directory": str(directory),
        "history": str(directory / "history.jsonl"),
        "duration_seconds": report.get("duration_seconds"),
        "faults_injected": report.get("faults_injected", 0),
        "faults_survived": report.get("faults_survived", 0),
        "faults_skipped": report.get("faults_skipped", 0),
        "per_kind": summarise(report),
        "recovery_seconds": recovery_overall(report),
        "operations_checked": report.get("operations", 0),
        "writes_acknowledged": report.get("writes_acknowledged", 0),
        "reads_checked": report.get("reads", 0),
        "txs_committed": report.get("txs_committed", 0),
        "final_height": report.get("final_height", 0),
        "violations": report.get("violations", []),
        "violation_count": len(report.get("violations", [])),
        "key_leaks": report.get("key_leaks", []),
        "faults": report.get("faults", []),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    for kind, item in result["per_kind"].items():
        print(f"{kind:11s} {json.dumps(item)}")
    headline = {k: result[k] for k in ("seed", "faults_injected", "faults_survived", "faults_skipped",
                                       "txs_committed", "operations_checked", "violation_count", "duration_seconds")}
    headline["key_leaks"] = len(result["key_leaks"])
    headline["recovery_seconds"] = result["recovery_seconds"]
    print(json.dumps(headline))
    failed = any(not f["outcome"] in ("survived",) and not f["outcome"].startswith("skipped") for f in result["faults"])
    return 1 if result["violations"] or result["key_leaks"] or failed else 0


if __name__ == "__main__":
    sys.exit(main())
