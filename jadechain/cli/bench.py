"""``jadechain bench``: the TPS harness (tps, scale, soak, raft).

Each command prints progress on stderr (Rich), writes JSON (+ Markdown, + PNG for ``scale``) under
``--out`` (default ``bench/results/bench/``) and prints ONE JSON object of headline figures as
its very last line on stdout. ``--quick`` bounds a command to about two minutes. Figures are
measured and reported against DESIGN.md's targets; nothing passes or fails on wall time.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

bench_app = typer.Typer(help="Benchmarks: committed TPS, latency, ceilings, scaling, soak.", no_args_is_help=True)

NodesOpt = Annotated[int, typer.Option("--nodes", help="validators to start: 1, 4, 7 or 10")]
CryptoOpt = Annotated[str, typer.Option("--crypto", help="classic (Ed25519, SHA-256) or sm (SM2, SM3)")]
DurationOpt = Annotated[float, typer.Option("--duration", help="seconds of load")]
WorkloadOpt = Annotated[str, typer.Option(
    "--workload", help="kv-write | kv-read | contract | trace | event | evidence | mix")]
RateOpt = Annotated[Optional[float], typer.Option("--rate", help="open loop: offered tx/s")]
ClientsOpt = Annotated[int, typer.Option("--clients", help="closed loop: clients (each waits for its batch to commit)")]
BatchOpt = Annotated[int, typer.Option("--batch", help="transactions per submission")]
TransportOpt = Annotated[str, typer.Option("--transport", help="grpc (/jadechain.Tx/Submit) or http (batch POST)")]
GatewayOpt = Annotated[Optional[list[str]], typer.Option("--gateway", help="existing gateway URL (repeat)")]
NetDirOpt = Annotated[Optional[str], typer.Option("--net-dir", help="an existing `jadechain net up` directory")]
KeyOpt = Annotated[Optional[str], typer.Option("--key", help="keystore of a key that may register accounts")]
PasswordOpt = Annotated[Optional[str], typer.Option("--password-file", help="password of --key")]
BlockOpt = Annotated[int, typer.Option("--max-block-txs", help="block size of a network the bench starts")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="a short run (at most about two minutes)")]
OutOpt = Annotated[Optional[str], typer.Option("--out", help="directory for JSON, Markdown and plots")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Rich progress bars on stderr")]


def _check(nodes: int, crypto: str, workload: str, transport: str) -> None:
    from jadechain.bench.workloads import WORKLOADS

    if nodes < 1:
        raise typer.BadParameter("--nodes must be at least 1")
    if crypto not in ("classic", "sm"):
        raise typer.BadParameter("--crypto must be classic or sm")
    if workload not in WORKLOADS:
        raise typer.BadParameter(f"--workload must be one of {', '.join(WORKLOADS)}")
    if transport not in ("grpc", "http"):
        raise typer.BadParameter("--transport must be grpc or http")


def _print_last(headline: dict[str, Any]) -> None:
    typer.echo(json.dumps(headline, default=str))


@bench_app.command("tps")
def tps(
    nodes: NodesOpt = 4, crypto: CryptoOpt = "classic", duration: DurationOpt = 60.0,
    workload: WorkloadOpt = "kv-write", rate: RateOpt = None, clients: ClientsOpt = 16, batch: BatchOpt = 200,
    transport: TransportOpt = "grpc", gateway: GatewayOpt = None, net_dir: NetDirOpt = None, key: KeyOpt = None,
    password_file: PasswordOpt = None, max_block_txs: BlockOpt = 2000, quick: QuickOpt = False,
    out: OutOpt = None, progress: ProgressOpt = True,
    solo: Annotated[bool, typer.Option("--solo/--replica", help="--nodes 1: solo committer process (default) "
                                       "or a one-validator node.server replica")] = True,
) -> None:
    """Committed TPS, latency p50/p90/p99, CPU and memory per node, and TPS / verify ceiling."""
    from jadechain.bench.report import headline, summary_table
    from jadechain.bench.runner import TpsConfig, run_tps

    _check(nodes, crypto, workload, transport)
    config = TpsConfig(nodes=nodes, crypto=crypto, duration=duration, workload=workload, rate=rate, clients=clients,
                       batch=batch, transport=transport, gateways=list(gateway or []), net_dir=net_dir, key_file=key,
                       password_file=password_file, max_block_txs=max_block_txs, quick=quick, out=out,
                       progress=progress, solo=solo)
    report = run_tps(config)
    typer.echo(summary_table([report]), err=True)
    typer.echo(f"report: {report.get('report_file')}", err=True)
    line = headline(report)
    if workload == "kv-read":
        line["reads_per_s"] = report["results"].get("reads_per_s")
    _print_last(line)


@bench_app.command("scale")
def scale(
    nodes: Annotated[str, typer.Option("--nodes", help="comma list of node counts")] = "1,4,7",
    block_sizes: Annotated[str, typer.Option("--block-sizes", help="comma list of max txs per block")] = "500,2000",
    crypto: CryptoOpt = "classic", duration: DurationOpt = 30.0, workload: WorkloadOpt = "kv-write",
    rate: RateOpt = None, clients: ClientsOpt = 16, batch: BatchOpt = 200, transport: TransportOpt = "grpc",
    raft: Annotated[bool, typer.Option("--raft/--no-raft", help="run the PySyncObj baseline too")] = True,
    quick: QuickOpt = False, out: OutOpt = None, progress: ProgressOpt = True,
) -> None:
    """TPS and latency against node count and block size, PNG plots, and PySyncObj side by side."""
    from jadechain.bench.runner import TpsConfig, run_scale

    try:
        node_counts = [int(x) for x in nodes.split(",") if x.strip()]
        sizes = [int(x) for x in block_sizes.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter("--nodes and --block-sizes are comma lists of integers") from exc
    _check(min(node_counts), crypto, workload, transport)
    if quick:  # about two minutes in all: few short runs
        node_counts, sizes, duration = node_counts[:2], sizes[:2], min(duration, 5.0)
    base = TpsConfig(crypto=crypto, duration=duration, workload=workload, rate=rate, clients=clients, batch=batch,
                     transport=transport, quick=quick, out=out, progress=progress, drain_timeout=10.0 if quick else None)
    document = run_scale(node_counts, sizes, base, with_raft=raft)
    typer.echo(document["summary_markdown"], err=True)
    for path in document["plots"]:
        typer.echo(f"plot: {path}", err=True)
    best = {str(r["config"]["nodes"]) + "n/" + str(r["config"]["max_block_txs"]): r["results"]["committed_tps"]
            for r in document["runs"]}
    _print_last({"benchmark": "scale", "crypto": crypto, "tps": best,
                 "vs_pysyncobj": {str(row["nodes"]): row["ratio"] for row in document["comparison"]},
                 "plots": document["plots"]})


@bench_app.command("soak")
def soak(
    nodes: NodesOpt = 4, crypto: CryptoOpt = "classic", duration: DurationOpt = 1800.0,
    workload: WorkloadOpt = "kv-write", rate: RateOpt = None, batch: BatchOpt = 100,
    transport: TransportOpt = "grpc", max_block_txs: BlockOpt = 2000, quick: QuickOpt = False, out: OutOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """A long run at a sustainable rate: memory growth and LevelDB size per 10^6 transactions."""
    from jadechain.bench.report import headline
    from jadechain.bench.runner import TpsConfig, run_soak

    _check(nodes, crypto, workload, transport)
    config = TpsConfig(nodes=nodes, crypto=crypto, duration=duration, workload=workload, rate=rate, batch=batch,
                       transport=transport, max_block_txs=max_block_txs, quick=quick, out=out, progress=progress)
    report = run_soak(config)
    line = headline(report)
    line["benchmark"] = "soak"
    line["rss_mb_per_million_tx"] = report.get("soak", {}).get("rss_mb_per_million_tx")
    line["ledger_mb_per_million_tx"] = report.get("soak", {}).get("ledger_mb_per_million_tx")
    _print_last(line)


@bench_app.command("raft")
def raft(
    nodes: NodesOpt = 4, quick: QuickOpt = False,
) -> None:
    """PySyncObj (Raft) alone, same payload size as one signed KV-write transaction."""
    from jadechain.bench.runner import run_raft_baseline

    result = run_raft_baseline(nodes, quick)
    _print_last({"benchmark": "raft", **result})
