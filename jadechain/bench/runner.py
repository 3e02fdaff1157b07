"""Runners: ``run_tps`` (one configuration), ``run_scale`` (a grid + PySyncObj), ``run_soak``.

``run_tps`` in order: measure the signature-verify ceiling (same run, same algorithm, all cores);
start a network (``jadechain.devnet.net``) or attach to existing gateways; create the workload's accounts
and contracts; pre-sign the transactions; start the commit listener (SSE of node 0) and the
process sampler; offer the load (open or closed loop, gRPC or HTTP); wait a bounded time for the
accepted transactions to commit; read the stage timers; stop what it started. Every figure comes
from commit notifications and block headers, never from client acknowledgements.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from jadechain.bench import observe, report as reports, stats
from jadechain.bench.load import GrpcSubmitter, HttpSubmitter, LoadResult, run_closed_loop, run_open_loop
from jadechain.bench.workloads import Workload

__all__ = ["TpsConfig", "run_tps", "run_scale", "run_soak", "Target"]

DEFAULT_RESULTS = Path("bench") / "results"  # under the working directory (a checkout: the ignored bench/results)


@dataclass
class TpsConfig:
    nodes: int = 4
    crypto: str = "classic"
    duration: float = 60.0
    workload: str = "kv-write"
    rate: float | None = None
    """Open loop at this many tx/s; None → closed loop with ``clients``."""
    clients: int = 16
    batch: int = 200
    transport: str = "grpc"
    gateways: list[str] = field(default_factory=list)
    net_dir: str | None = None
    """An existing ``jadechain net up`` directory (keys, gRPC addresses, pids); or where to create one."""
    key_file: str | None = None
    password_file: str | None = None
    max_block_txs: int = 2000
    pool: int | None = None
    """Pre-signed transactions (default: enough for the duration at the ceiling)."""
    quick: bool = False
    out: str | None = None
    drain_timeout: float | None = None
    progress: bool = True
    sample_interval: float = 1.0
    soak: bool = False
    solo: bool = True
    """``--nodes 1``: run the single-validator solo committer (see ``_open_solo``)."""


@dataclass
class Target:
    """Where the load goes and what can be watched there."""

    ledger_hash: str
    urls: list[str]
    grpc_addresses: list[str]
    pids: dict[str, int]
    data_dirs: dict[str, str]
    admin: Any
    layout_dir: str | None
    started: bool
    validators: int | None = None
    """Validators of the ledger (each verifies every transaction); None → one per node process."""
    temporary: bool = False
    """The bench created ``layout_dir`` in the temp directory: removed when the run ends."""


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _algorithm(crypto: str) -> Any:
    from ledger.crypto import ED25519, SM2

    if crypto not in ("classic", "sm"):
        raise ValueError("crypto must be classic or sm")
    return SM2 if crypto == "sm" else ED25519


# --- the network ------------------------------------------------------------------------------

def _open_target(config: TpsConfig) -> Target:
    from jadechain.devnet.net import create_network, load_layout, start_node, wait_for_height
    from node.solo import load_key

    if config.gateways and not config.net_dir:
        if not config.key_file or not config.password_file:
            raise ValueError("with --gateway, give --key and --password-file of a key allowed to register "
                             "accounts (or --net-dir of a `jadechain net up` network)")
        import httpx

        admin = load_key(config.key_file, Path(config.password_file).read_text().strip())
        base = config.gateways[0].rstrip('/')
        ledger_hash = httpx.get(f"{base}/api/v1/ledgers", timeout=10).json()[0]["hash"]
        validator_set = httpx.get(f"{base}/api/v1/ledgers/{ledger_hash}/validators", timeout=10).json()
        return Target(ledger_hash, list(config.gateways), [], {}, {}, admin, None, False,
                      validators=len(validator_set["public_keys"]))
    if config.nodes == 1 and not config.net_dir and config.solo:
        return _open_solo(config)
    if config.net_dir and Path(config.net_dir, "network.json").exists():
        layout = load_layout(config.net_dir)
        started = False
        for node in layout.nodes:
            started = start_node(layout, node.name) is not None or started
    else:
        directory = config.net_dir or tempfile.mkdtemp(prefix="jadechain-bench-")
        _log(f"creating a {config.nodes}-node {config.crypto} network in {directory}")
        layout = create_network(directory, config.nodes, config.crypto, consensus={
            "max_block_txs": config.max_block_txs, "idle_block_ms": 20, "round_timeout_ms": 2000,
        })
        for node in layout.nodes:
            start_node(layout, node.name)
        started = True
    wait_for_height(layout, 1, 120)
    password = Path(layout.password_file).read_text().strip()
    admin = load_key(layout.nodes[0].key_file, password)
    from jadechain.devnet.net import _read_pid  # the pid files written by start_node

    pids = {node.name: pid for node in layout.nodes if (pid := _read_pid(node)) is not None}
    urls = list(config.gateways) or layout.urls
    return Target(layout.ledger_hash, urls, [n.grpc_address for n in layout.nodes], pids,
                  {n.name: str(Path(n.data_dir) / "ledgers") for n in layout.nodes}, admin, layout.directory,
                  started, temporary=not config.net_dir)


_SOLO_MAIN = """
import asyncio, sys
from node.solo import serve_solo
data_dir, ledger_hash, key_file, password_file, port, block = sys.argv[1:7]
asyncio.run(serve_solo(data_dir, ledger_hash, key_file, open(password_file).read().strip(), port=int(port),
                       idle_block_ms=20, max_block_txs=int(block)))
"""


def _open_solo(config: TpsConfig) -> Target:
    """One validator: the solo committer + gateway (``node.solo.serve_solo``) in its own process.

    A one-validator network of ``node.server`` replicas would be the same chain; the solo committer
    is the node's single-validator mode and has no peers to vote with, so it measures the ledger,
    ingress and gateway without consensus messages. It takes HTTP batches only (no gRPC server).
    """
    import os
    import subprocess

    import httpx

    from jadechain.devnet.net import _free_ports
    from node.subprocesses import SOURCE_ROOT, child_environment, python_code_command
    from jadechain.devnet.solo import create_dev_solo

    directory = tempfile.mkdtemp(prefix="jadechain-bench-solo-")
    _log(f"creating a single-validator {config.crypto} ledger (solo committer) in {directory}")
    solo = create_dev_solo(directory, config.crypto)
    password_file = str(Path(directory) / "keys" / "PASSWORD")
    if not Path(password_file).exists():
        password_file = str(Path(directory) / "bench-password")
        Path(password_file).write_text(solo.password)
        os.chmod(password_file, 0o600)
    port = _free_ports(1)[0]
    log_file = open(Path(directory) / "solo.log", "ab")
    process = subprocess.Popen(
        python_code_command(_SOLO_MAIN, solo.data_dir, solo.ledger_hash, solo.key_file, password_file, str(port),
                            str(config.max_block_txs)),
        stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL, cwd=str(SOURCE_ROOT), env=child_environment())
    log_file.close()
    _SOLO_PROCESSES[process.pid] = process
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the solo node did not start; see {directory}/solo.log")
        time.sleep(0.2)
    return Target(solo.ledger_hash, [url], [], {"node0": process.pid},
                  {"node0": str(Path(solo.data_dir) / "ledgers")}, solo.key, directory, True, temporary=True)


_SOLO_PROCESSES: dict[int, Any] = {}


def _close_target(target: Target, keep: bool) -> None:
    import shutil

    process = _SOLO_PROCESSES.pop(target.pids.get("node0", -1), None)
    if process is not None:
        process.terminate()
        try:
            process.wait(30)
        except Exception:
            process.kill()
            process.wait()
    elif target.started and target.layout_dir and not keep:
        from jadechain.devnet.net import net_down

        net_down(target.layout_dir, timeout=30)
    if target.temporary and target.layout_dir:
        shutil.rmtree(target.layout_dir, ignore_errors=True)
        target.layout_dir = None


# --- one run ---------------------------------------------------------------------------------

def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=_console(), transient=False)


class _NullProgress:
    def __enter__(self) -> "_NullProgress":
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None


def _setup(target: Target, workload: Workload) -> int:
    """Submit the workload's setup transactions and wait for them; the next height."""
    from jadechain.sdk import JadechainClient

    with JadechainClient([target.urls[0]], retry_timeout=30) as client:
        ledger = client.ledger(target.ledger_hash)
        for tx in workload.setup_transactions(ledger.builder, target.admin):
            result = ledger.submit(tx, wait=True, timeout=60)
            if not result.committed or result.status != "SUCCESS":
                raise RuntimeError(f"workload setup transaction failed: {result.status or 'not committed'}")
        return ledger.get_block("latest").height + 1


def _builder_factory(target: Target) -> Callable[[], Any]:
    from ledger.crypto import from_base58
    from ledger.transactions import TransactionBuilder

    ledger_hash = from_base58(target.ledger_hash)
    now = int(time.time() * 1000)
    return lambda: TransactionBuilder(ledger_hash, time_ms=now)


def _stage_totals(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for url, stages in after.items():
        for stage, seconds in stages.items():
            totals[stage] = totals.get(stage, 0.0) + seconds - before.get(url, {}).get(stage, 0.0)
    return {stage: round(seconds, 3) for stage, seconds in sorted(totals.items())}


def run_tps(config: TpsConfig, on_sample: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One benchmark run; returns the report (see ``report.REPORT_KEYS``) and writes it under ``out``."""
    from jadechain.bench.ceiling import measure_verify_ceiling

    algorithm = _algorithm(config.crypto)
    if config.quick and not config.soak:
        config.duration = min(config.duration, 15.0)
    started_at = time.time()
    machine = reports.machine_description()
    _log(f"measuring the {algorithm.name} verify ceiling on all cores…")
    ceiling_machine = measure_verify_ceiling(algorithm, 1.0 if config.quick else 3.0)
    target = _open_target(config)
    nodes = target.validators or (len(target.pids) if target.pids else len(target.urls))
    workload = Workload(config.workload, run_id=f"b{int(started_at) % 100000}")
    progress_cm = _progress() if config.progress else _NullProgress()
    try:
        start_height = _setup(target, workload)
        ceiling_network = ceiling_machine / max(1, nodes)
        if config.pool is not None:
            pool = config.pool
        elif config.rate is not None:
            pool = int(config.rate * config.duration) + config.batch
        else:
            # Enough for the duration at 1.5x the ceiling, or at a floor above anything seen on a small machine
            # (the ceiling measured on a busy machine can be low): running out would cap the figure.
            floor = 400.0 if config.crypto == "sm" else 1200.0
            pool = int(min(max(1.5 * ceiling_network, floor) * config.duration, 400_000)) + config.clients * config.batch
        if config.quick and config.pool is None:
            pool = min(pool, 30_000)  # keeps --quick short; `pool_exhausted` in the report says if it capped the run
        if workload.is_read:
            pool = min(pool, 5_000 if config.quick else 20_000)
        with progress_cm as progress:
            signing = progress.add_task("pre-signing", total=pool)
            txs = workload.generate(pool, _builder_factory(target), target.admin,
                                    progress=lambda n: progress.advance(signing, n))
            listener = observe.CommitListener(target.urls[0], target.ledger_hash, start_height)
            listener.start()
            listener.ready.wait(15)
            if workload.is_read:
                return _run_reads(config, target, workload, txs, listener, progress, machine, ceiling_machine, nodes)
            sampler = observe.ProcessSampler(target.pids, config.sample_interval)
            sampler.start()
            before_sample = sampler.sample()
            client_cpu_start = time.process_time()
            stages_before = observe.read_stage_seconds(target.urls, target.ledger_hash)
            gossip_before = observe.read_node_counters(target.urls, target.ledger_hash)
            result, soak_samples = _offer(config, target, txs, listener, progress, sampler, on_sample)
            accepted = list(result.submitted_at)
            drain = config.drain_timeout if config.drain_timeout is not None else max(15.0, min(120.0, config.duration))
            waiting = progress.add_task("waiting for commits", total=len(accepted))
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline:
                seen = sum(1 for h in accepted if h in listener.tx_seen)
                progress.update(waiting, completed=seen)
                if seen == len(accepted):
                    break
                time.sleep(0.25)
            end_sample = sampler.sample()
            end_sample["client_cpu_s"] = round(time.process_time() - client_cpu_start, 2)
            sampler.stop()
            stages_after = observe.read_stage_seconds(target.urls, target.ledger_hash)
            gossip_after = observe.read_node_counters(target.urls, target.ledger_hash)
            listener.stop()
            result.pool_exhausted = result.offered >= len(txs)
        _log(f"measuring the {algorithm.name} verify ceiling again (after the load)…")
        ceiling_after = measure_verify_ceiling(algorithm, 1.0 if config.quick else 3.0)
        ceiling_machine_both = (ceiling_machine, ceiling_after)
        ceiling_machine = max(ceiling_machine_both)
        disk = {name: observe.directory_bytes(path) for name, path in target.data_dirs.items()}
    finally:
        _close_target(target, keep=bool(config.net_dir))
    report = _tps_report(config, machine, ceiling_machine, nodes, target, result, listener, sampler,
                         before_sample, end_sample, stages_before, stages_after, disk, soak_samples, started_at)
    if nodes > 1:
        report["profile"]["gossip_and_network"] = {
            name: gossip_after[name] - gossip_before.get(name, 0) for name in sorted(gossip_after)
            if gossip_after[name] != gossip_before.get(name, 0)
        }
    report["ceiling"]["verifies_per_s_before_and_after_load"] = [round(x, 0) for x in ceiling_machine_both]
    report["ceiling"]["note"] = ("the higher of two measurements (before and after the load), all cores, "
                                 "verify_batch on a thread pool; other processes on the machine lower it")
    _write(config, report, report.pop("report_stem"))
    return report


def _offer(config: TpsConfig, target: Target, txs: list[tuple[str, bytes]], listener: observe.CommitListener,
           progress: Any, sampler: observe.ProcessSampler,
           on_sample: Callable[[dict[str, Any]], None] | None) -> tuple[LoadResult, list[dict[str, Any]]]:
    from ledger.crypto import from_base58

    if config.transport == "grpc" and target.grpc_addresses:
        submitter: Any = GrpcSubmitter(target.grpc_addresses, from_base58(target.ledger_hash))
    else:
        submitter = HttpSubmitter(target.urls, target.ledger_hash)
    task = progress.add_task(f"offering ({submitter.transport}, "
                             f"{'open loop %.0f tx/s' % config.rate if config.rate else 'closed loop x%d' % config.clients})",
                             total=len(txs))
    soak_samples: list[dict[str, Any]] = []

    async def wait_committed(hashes: list[str], timeout: float) -> bool:
        return await asyncio.to_thread(listener.wait_for, hashes, timeout)

    async def watch(stop: asyncio.Event) -> None:
        """Soak samples: committed count, RSS per node and LevelDB bytes, every 10 s."""
        interval = 2.0 if config.quick else 10.0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
            row = sampler.sample()
            row["committed"] = len(listener.tx_seen)
            row["disk_bytes"] = {name: observe.directory_bytes(path) for name, path in target.data_dirs.items()}
            soak_samples.append(row)
            if on_sample is not None:
                on_sample(row)

    async def main() -> LoadResult:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(stop)) if config.soak else None
        try:
            if config.rate is not None:
                return await run_open_loop(submitter, txs, config.rate, config.batch, config.duration,
                                           on_progress=lambda n: progress.advance(task, n))
            return await run_closed_loop(submitter, txs, config.clients, config.batch, config.duration,
                                         wait_committed, on_progress=lambda n: progress.advance(task, n))
        finally:
            stop.set()
            if watcher is not None:
                await watcher

    result = asyncio.run(main())
    result_transport = submitter.transport
    result.outcome.setdefault("transport:" + result_transport, 0)
    return result, soak_samples


def _tps_report(config: TpsConfig, machine: dict[str, Any], ceiling_machine: float, nodes: int, target: Target,
                result: LoadResult, listener: observe.CommitListener, sampler: observe.ProcessSampler,
                before: dict[str, Any], after: dict[str, Any], stages_before: Any, stages_after: Any,
                disk: dict[str, int], soak_samples: list[dict[str, Any]], started_at: float) -> dict[str, Any]:
    accepted = list(result.submitted_at)
    committed = [h for h in accepted if h in listener.tx_seen]
    latencies = [listener.tx_seen[h] - result.submitted_at[h] for h in committed]
    statuses: dict[str, int] = {}
    for tx_hash in committed:
        status = listener.tx_status.get(tx_hash, "")
        statuses[status] = statuses.get(status, 0) + 1
    ours = {listener.tx_seen[h] for h in committed}
    first, last = (min(ours), max(ours)) if ours else (None, None)
    # The blocks that carried this run's transactions (between the first and last commit seen).
    # The blocks that carried this run's transactions, counting only this run's distinct committed
    # transactions (a header's tx_count also counts slots whose transactions were dropped at execution).
    per_height: dict[int, int] = {}
    for tx_hash in committed:
        height = listener.tx_height.get(tx_hash, -1)
        per_height[height] = per_height.get(height, 0) + 1
    blocks = [stats.BlockCommit(b.height, per_height.get(b.height, 0), b.header_time_ms, b.seen_at)
              for b in listener.blocks.values() if b.height in per_height]
    block_slots = sum(b.tx_count for b in listener.blocks.values() if b.height in per_height)
    by_blocks = stats.committed_tps_from_blocks(blocks, start=result.first_submit)
    span = (last - result.first_submit) if last is not None and result.first_submit is not None else 0.0
    tps = round(len(committed) / span, 1) if span > 0 else 0.0
    latency = stats.latency_summary(latencies)
    # Latency by window of submission (1 s for runs up to a minute, else 5 s): a tail from warm-up,
    # from a stall or from a growing queue looks different here.
    window_s = 1.0 if config.duration <= 60 else 5.0
    windows: dict[int, list[float]] = {}
    if result.first_submit is not None:
        for tx_hash in committed:
            window = int((result.submitted_at[tx_hash] - result.first_submit) // window_s)
            windows.setdefault(window, []).append(listener.tx_seen[tx_hash] - result.submitted_at[tx_hash])
    latency_windows = [
        {"from_s": window_s * window, **{k: v for k, v in stats.latency_summary(values).items() if k in ("count", "p50_s", "p99_s")}}
        for window, values in sorted(windows.items())
    ]
    ceiling_tps = ceiling_machine / max(1, nodes)
    cpu = sampler.cpu_between(before, after)
    rss_peak = sampler.peak_rss_mb()
    node_rows: dict[str, Any] = {}
    for name in sorted(set(cpu) | set(rss_peak) | set(disk)):
        node_rows[name] = {
            "cpu_s": cpu.get(name), "cpu_ms_per_tx": round(1000 * cpu[name] / len(committed), 3)
            if committed and name in cpu else None,
            "rss_mb_peak": rss_peak.get(name), "rss_mb_end": round(after["rss_mb"].get(name, math.nan), 1)
            if name in after["rss_mb"] else None,
            "ledger_dir_mb": round(disk[name] / 2**20, 2) if name in disk else None,
        }
    stage_seconds = _stage_totals(stages_before, stages_after)
    report: dict[str, Any] = {
        "benchmark": "tps" if not config.soak else "soak",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "machine": machine,
        "config": {
            "nodes": nodes, "crypto": config.crypto, "workload": config.workload,
            "mode": f"open-loop {config.rate:g} tx/s" if config.rate is not None else f"closed-loop {config.clients} clients",
            "transport": "grpc" if config.transport == "grpc" and target.grpc_addresses else "http",
            "duration_s": config.duration, "batch": config.batch, "max_block_txs": config.max_block_txs,
            "quick": config.quick, "gateways": target.urls, "network_started_by_bench": target.started,
        },
        "results": {
            "committed_tps": tps,
            "committed_tps_by_header_time": by_blocks["by_header_time"],
            "committed_tps_by_block_notifications": by_blocks["by_notification"],
            "latency": latency,
            "latency_by_window": latency_windows,
            "latency_definition": "submit acknowledgement -> commit notification (SSE of node 0)",
            "offered": result.offered, "accepted": len(accepted), "committed": len(committed),
            "uncommitted": len(accepted) - len(committed), "statuses": statuses, "outcome": result.outcome,
            "blocks": by_blocks["blocks"], "txs_per_block": by_blocks["txs_per_block"],
            "load_seconds": round((result.last_submit or 0) - (result.first_submit or 0), 2),
            "commit_span_seconds": round(span, 2),
            "pool_exhausted": result.pool_exhausted,
            "block_tx_slots": block_slots,
            "block_slots_per_committed_tx": round(block_slots / len(committed), 3) if committed else None,
            "block_slots_note": "sum of header tx_count over the blocks that committed this run's transactions; "
                                "above 1 means blocks carried transactions that were not executed again "
                                "(already included by an earlier block) - wasted block space",
            "repeated_inclusions": sum(listener.repeated.get(h, 0) for h in committed),
            "repeated_inclusion_statuses": dict(listener.repeated_status),
            "repeated_inclusion_note": "committed transactions that later blocks included again (executed as "
                                       "failures); block space the chain spent on them",
            "client_cpu_s": after.get("client_cpu_s"),
            "client_cpu_note": "CPU of the benchmark process itself (load generator + SSE listener), on the same cores",
        },
        "ceiling": {
            "algorithm": _algorithm(config.crypto).name,
            "verifies_per_s_machine": round(ceiling_machine, 0), "nodes_verifying_each_tx": nodes,
            "tps_ceiling": round(ceiling_tps, 0),
            "fraction_of_ceiling": round(tps / ceiling_tps, 3) if ceiling_tps else None,
        },
        "nodes": node_rows,
        "profile": {
            "stage_seconds": stage_seconds,
            "stage_ms_per_tx": {stage: round(1000 * seconds / len(committed), 3) for stage, seconds in stage_seconds.items()}
            if committed else {},
            "stage_note": "summed over all nodes; wall seconds of each replica stage (/metrics jadechain_stage_seconds); "
                          "execution includes the LevelDB write batch (storage); ingress_verify runs on a thread pool",
            "node_cpu_ms_per_tx": round(1000 * sum(cpu.values()) / len(committed), 3) if committed and cpu else None,
            "api_submit_ms": {key.replace("_s", "_ms"): None if value is None else round(1000 * value, 2)
                              for key, value in stats.latency_summary(result.rpc_seconds).items() if key != "count"},
            "api_submit_calls": len(result.rpc_seconds),
        },
        "targets": reports.target_verdicts(nodes, config.crypto, config.workload, tps, latency.get("p99_s")),  # type: ignore[arg-type]
    }
    if soak_samples:
        report["soak"] = _soak_figures(soak_samples)
    report["report_stem"] = f"{report['benchmark']}_{config.workload}_{nodes}n_{config.crypto}"
    if config.max_block_txs != 2000:
        report["report_stem"] += f"_b{config.max_block_txs}"
    return report


def _soak_figures(samples: list[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({name for row in samples for name in row["rss_mb"]})
    rss_growth = {name: stats.growth_per_million([(row["committed"], row["rss_mb"][name]) for row in samples
                                                  if name in row["rss_mb"]]) for name in names}
    disk_growth = {name: stats.growth_per_million([(row["committed"], row["disk_bytes"][name] / 2**20)
                                                   for row in samples if name in row.get("disk_bytes", {})])
                   for name in sorted({n for row in samples for n in row.get("disk_bytes", {})})}
    return {
        "samples": [{"t": round(row["t"] - samples[0]["t"], 1), "committed": row["committed"],
                     "rss_mb": {k: round(v, 1) for k, v in row["rss_mb"].items()},
                     "disk_mb": {k: round(v / 2**20, 2) for k, v in row.get("disk_bytes", {}).items()}}
                    for row in samples],
        "rss_mb_per_million_tx": {k: None if v is None else round(v, 1) for k, v in rss_growth.items()},
        "ledger_mb_per_million_tx": {k: None if v is None else round(v, 1) for k, v in disk_growth.items()},
    }


def _run_reads(config: TpsConfig, target: Target, workload: Workload, txs: list[tuple[str, bytes]],
               listener: observe.CommitListener, progress: Any, machine: dict[str, Any], ceiling: float,
               nodes: int) -> dict[str, Any]:
    """kv-read: write the keys first (committed), then N clients query them over HTTP for ``duration``."""
    import httpx

    from ledger.crypto import from_base58

    write = progress.add_task("writing keys to read", total=len(txs))
    submitter = GrpcSubmitter(target.grpc_addresses, from_base58(target.ledger_hash)) if target.grpc_addresses \
        else HttpSubmitter(target.urls, target.ledger_hash)
    result = asyncio.run(run_closed_loop(
        submitter, txs, 4, config.batch, 600.0, lambda h, t: asyncio.to_thread(listener.wait_for, h, t),
        on_progress=lambda n: progress.advance(write, n)))
    listener.stop()
    keys = workload.read_keys(len(txs))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    reading = progress.add_task(f"reading (closed loop x{config.clients})", total=None)

    async def reader(number: int, client: Any, deadline: float) -> None:
        index = number
        while time.monotonic() < deadline:
            account, key = keys[index % len(keys)]
            url = f"{target.urls[index % len(target.urls)]}/api/v1/ledgers/{target.ledger_hash}/accounts/{account}/entry"
            sent = time.monotonic()
            try:
                response = await client.get(url, params={"key": key})
                if response.status_code == 200:
                    latencies.append(time.monotonic() - sent)
                else:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            progress.advance(reading, 1)
            index += config.clients

    async def main() -> float:
        async with httpx.AsyncClient(timeout=30.0) as client:
            start = time.monotonic()
            await asyncio.gather(*(reader(n, client, start + config.duration) for n in range(config.clients)))
            return time.monotonic() - start

    seconds = asyncio.run(main())
    _close_target(target, keep=bool(config.net_dir))
    latency = stats.latency_summary(latencies)
    report = {
        "benchmark": "tps", "machine": machine,
        "config": {"nodes": nodes, "crypto": config.crypto, "workload": "kv-read",
                   "mode": f"closed-loop {config.clients} clients", "transport": "http", "duration_s": config.duration,
                   "batch": 1, "max_block_txs": config.max_block_txs, "quick": config.quick},
        "results": {"committed_tps": 0.0, "committed_tps_by_header_time": 0.0, "latency": latency,
                    "reads_per_s": round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
                    "offered": len(latencies) + sum(errors.values()), "accepted": len(latencies),
                    "committed": 0, "uncommitted": 0, "outcome": {"read_errors": errors, "setup_writes": result.outcome},
                    "blocks": 0, "txs_per_block": 0.0},
        "ceiling": {"verifies_per_s_machine": round(ceiling, 0), "nodes_verifying_each_tx": nodes,
                    "tps_ceiling": round(ceiling / max(1, nodes), 0), "fraction_of_ceiling": None},
        "nodes": {}, "profile": {"stage_seconds": {}, "stage_ms_per_tx": {}, "node_cpu_ms_per_tx": None,
                                 "api_submit_ms": None},
        "targets": [],
    }
    _write(config, report, f"tps_kv-read_{nodes}n_{config.crypto}")
    return report


def _write(config: TpsConfig, report: dict[str, Any], stem: str) -> None:
    out = Path(config.out) if config.out else DEFAULT_RESULTS / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{stem}.md").write_text(reports.summary_table([report]))
    report["report_file"] = str(path)


# --- scaling and the PySyncObj comparison -------------------------------------------------------

def run_raft_baseline(nodes: int, quick: bool) -> dict[str, Any]:
    """PySyncObj ordering payloads of one signed KV-write each, at ``nodes`` nodes (bench/raft_baseline.py)."""
    from jadechain.bench import raft_baseline

    ops = 1_500 if quick else 10_000
    return raft_baseline.run(nodes, ops, raft_baseline.payload_size())


def run_scale(node_counts: Sequence[int], block_sizes: Sequence[int], base: TpsConfig,
              with_raft: bool = True) -> dict[str, Any]:
    """TPS and latency for every (node count, block size) and PySyncObj at each node count; plots."""
    from jadechain.bench import plots

    runs: list[dict[str, Any]] = []
    for nodes in node_counts:
        for block_size in block_sizes:
            config = TpsConfig(**{**asdict(base), "nodes": nodes, "max_block_txs": block_size, "net_dir": None,
                                  "gateways": []})
            _log(f"scale: {nodes} nodes, block size {block_size}")
            runs.append(run_tps(config))
    raft: list[dict[str, Any]] = []
    if with_raft:
        for nodes in node_counts:
            _log(f"scale: PySyncObj baseline, {nodes} nodes")
            raft.append(run_raft_baseline(nodes, base.quick))
    out = Path(base.out) if base.out else DEFAULT_RESULTS / "bench"
    out.mkdir(parents=True, exist_ok=True)
    comparison = comparison_rows(runs, raft)
    images = plots.scale_plots(runs, raft, out)
    summary = reports.summary_table(runs) + "\n" + comparison_table(comparison)
    document = {"benchmark": "scale", "machine": reports.machine_description(),
                "node_counts": list(node_counts), "block_sizes": list(block_sizes), "runs": runs,
                "raft_baseline": raft, "comparison": comparison, "plots": images}
    (out / "scale.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    (out / "scale.md").write_text(summary)
    document["summary_markdown"] = summary
    return document


def comparison_rows(runs: Sequence[dict[str, Any]], raft: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per node count: Jadechain's best committed TPS beside PySyncObj's ordered ops/s, and the ratio."""
    rows = []
    for baseline in raft:
        ours = [r for r in runs if r["config"]["nodes"] == baseline["nodes"]]
        if not ours:
            continue
        best = max(ours, key=lambda r: r["results"]["committed_tps"])
        tps = best["results"]["committed_tps"]
        rows.append({"nodes": baseline["nodes"], "jadechain_tps": tps,
                     "jadechain_p99_s": best["results"]["latency"]["p99_s"],
                     "pysyncobj_ops_per_s": baseline["ops_per_s"], "pysyncobj_p99_ms": baseline["latency_p99_ms"],
                     "payload_bytes": baseline["payload_bytes"],
                     "ratio": round(tps / baseline["ops_per_s"], 3) if baseline["ops_per_s"] else None,
                     "target_2x_met": bool(baseline["ops_per_s"]) and tps >= 2 * baseline["ops_per_s"]})
    return rows


def comparison_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| nodes | Jadechain TPS (BFT, signed, executed) | PySyncObj ops/s (Raft, opaque bytes) | ratio | ≥ 2× |",
             "|---:|---:|---:|---:|---|"]
    for row in rows:
        lines.append(f"| {row['nodes']} | {row['jadechain_tps']:,.0f} | {row['pysyncobj_ops_per_s']:,.0f} "
                     f"| {row['ratio']} | {'yes' if row['target_2x_met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def run_soak(base: TpsConfig, on_sample: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """A long open-loop run at a sustainable rate, sampling RSS and LevelDB size against committed txs."""
    config = TpsConfig(**{**asdict(base), "soak": True})
    if config.rate is None:
        config.rate = 150.0 if config.crypto == "sm" else 300.0
    if config.quick:
        config.duration = min(config.duration, 60.0)  # a soak's --quick is one minute
    return run_tps(config, on_sample)


def iter_headlines(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for run in document.get("runs", []):
        yield reports.headline(run)
