"""Where one transaction's CPU goes on the ledger path: ingress, then apply.

Usage: ``python bench/profile_tx_path.py [--quick] [--crypto classic|sm] [--out FILE]``.

It builds a dev ledger on LevelDB (``sync=True``, as a node runs it; users with data
accounts, as ``bench/ledger_apply.py`` does), pre-signs KV-write transactions and encodes
them to their wire bytes, then measures CPU time per transaction (process CPU for stages
that use the verify thread pool, this thread's CPU otherwise) of:

ingress  (what a node does for each submitted transaction, ``node.mempool.Mempool``)
  decode       strict canonical decode of the wire bytes (``decode_transaction``)
  hash         the tx hash from the content bytes cut at decode
  verify       ``verify_batch`` of the endpoint signatures (all cores)
  submit       the whole ``Mempool.submit_many`` (decode + checks + hash + verify + admit),
               in chunks of 256 as the gateway submits them
apply    (what every node does for each committed transaction)
  make_block   the proposer's header (tx hashes reused from ingress)
  apply_block  ``Ledger.apply_block(preverified=mempool.preverified_for(txs))``, and a cProfile
               breakdown of it: header check, execution, state tree, accumulator, the
               block's records, the LevelDB write.

Figures go to ``bench/results/profile_tx_path.json`` (or ``--out``); the very last stdout
line is one JSON object of the headline figures (microseconds of CPU per transaction).
It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from ledger_apply import SUITES, DevLedger  # noqa: E402

from ledger import codec  # noqa: E402
from ledger.crypto import PublicKey, shutdown_verify_pool, verify_batch  # noqa: E402
from ledger.executor import decode_transaction  # noqa: E402
from ledger.types import Transaction  # noqa: E402
from jadechain.bench.report import headline as headline_of  # noqa: E402
from node.mempool import Mempool  # noqa: E402

CHUNK = 256
"""Transactions per ``submit_many`` call (what one gateway batch carries)."""


def _per_tx_us(seconds: float, count: int) -> float:
    return round(seconds / count * 1e6, 2)


def _cpu(clock: Callable[[], float], work: Callable[[], Any]) -> tuple[float, Any]:
    start = clock()
    value = work()
    return clock() - start, value


def _best_of_two(work: Callable[[], Any]) -> tuple[float, Any]:
    """This thread's CPU seconds of ``work`` (the lower of two runs: less noise from neighbours)."""
    first, value = _cpu(time.thread_time, work)
    second, _ = _cpu(time.thread_time, work)
    return min(first, second), value


def profile_ingress(dev: DevLedger, raws: list[bytes]) -> tuple[dict[str, float], Mempool]:
    """CPU per transaction of each ingress stage, then of the whole submission."""
    count = len(raws)
    ledger = dev.ledger
    for raw in raws[:200]:  # warm the decoders and caches before measuring
        decode_transaction(raw)
    decode_s, decoded = _best_of_two(lambda: [decode_transaction(raw) for raw in raws])
    old_decode_s, _ = _best_of_two(lambda: [codec.decode(Transaction, raw) for raw in raws])
    prefix = ledger.hash_code.to_bytes(2, "big")
    hash_fn = ledger.hash_fn
    hash_s, hashes = _best_of_two(lambda: [prefix + hash_fn(content) for _, content, _ in decoded])
    reencode_s, _ = _best_of_two(lambda: [codec.encode(tx.content) for tx, _, _ in decoded])
    items = [
        (PublicKey.from_encoded(signature.public_key), tx_hash, signature.signature)
        for (tx, _, _), tx_hash in zip(decoded, hashes)
        for signature in tx.signatures
    ]
    verify_s, checks = _cpu(time.process_time, lambda: verify_batch(items))
    assert all(checks)
    mempool = Mempool.for_ledger(ledger, max_size=count + 1)

    def submit_all() -> list[Any]:
        results = []
        for start in range(0, count, CHUNK):
            results.extend(mempool.submit_many(raws[start : start + CHUNK]))
        return results

    submit_s, results = _cpu(time.process_time, submit_all)
    rejected = [r.error.code for r in results if r.error is not None]
    if rejected:
        raise RuntimeError(f"ingress rejected {len(rejected)} transactions: {set(rejected)}")
    figures = {
        "decode_us": _per_tx_us(decode_s, count),
        "decode_codec_decode_us": _per_tx_us(old_decode_s, count),
        "hash_us": _per_tx_us(hash_s, count),
        "reencode_content_us": _per_tx_us(reencode_s, count),
        "verify_us": _per_tx_us(verify_s, count),
        "submit_us": _per_tx_us(submit_s, count),
    }
    return figures, mempool


_STAGES = {
    "check_header": ("ledger.py", "_check_header"),
    "execute": ("executor.py", "execute_block"),
    "state_tree": ("state_tree.py", "put_batch"),
    "accumulator": ("accumulator.py", "append"),
    "leveldb_write": ("leveldb.py", "commit"),
    "persist_total": ("ledger.py", "_persist_block"),
    "apply_total": ("ledger.py", "apply_block"),
}


def profile_apply(dev: DevLedger, mempool: Mempool, block_txs: int, blocks: int) -> dict[str, Any]:
    """CPU per transaction of make_block and apply_block over ``blocks`` blocks from the pool."""
    make_s = apply_s = 0.0
    applied = 0
    profile = cProfile.Profile()
    profiled_txs = 0
    for number in range(blocks + 1):
        txs = mempool.pull_signed(block_txs)
        if not txs:
            break
        dev.clock += 1000
        cpu_make, block = _cpu(
            time.thread_time,
            lambda: dev.ledger.make_block(txs, time=dev.clock, proposer=dev.admin.public.encoded),
        )
        last = number == blocks
        if last:
            profile.enable()
        cpu_apply, result = _cpu(
            time.thread_time, lambda: dev.ledger.apply_block(block, preverified=mempool.preverified_for(txs), signed=txs)
        )
        if last:
            profile.disable()
            profiled_txs = len(txs)
        else:
            make_s += cpu_make
            apply_s += cpu_apply
            applied += len(txs)
        failed = {info.status for info in result.tx_infos} - {"SUCCESS"}
        if failed:
            raise RuntimeError(f"block {block.header.height} had failures: {failed}")
        mempool.remove_committed([info.tx_hash for info in result.tx_infos])
    stats = pstats.Stats(profile)
    breakdown: dict[str, float] = {}
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (file_suffix, function) in _STAGES.items():
            if name == function and filename.endswith(os.sep + file_suffix):
                breakdown[stage] = breakdown.get(stage, 0.0) + cumulative
    share = {stage: round(seconds / breakdown.get("apply_total", 1.0), 3) for stage, seconds in breakdown.items()}
    return {
        "blocks": applied // block_txs,
        "block_txs": block_txs,
        "make_block_us": _per_tx_us(make_s, applied),
        "apply_block_us": _per_tx_us(apply_s, applied),
        "apply_tps_per_cpu_s": round(applied / apply_s, 1),
        "profiled_block_share": share,
        "profiled_block_us_under_cprofile": {stage: _per_tx_us(s, profiled_txs) for stage, s in breakdown.items()},
    }


# --- whole node processes under a benchmark (``--nodes N``) ------------------------------------

NODE_STAGES: list[tuple[str, tuple[tuple[str, str], ...]]] = [
    ("gateway submit (HTTP/gRPC request, hex/JSON)", (
        ("routers/txs.py", "submit"), ("server.py", "submit"), ("routers/txs.py", "_decode_body"))),
    ("ingress decode", (("mempool.py", "_decode"), ("mempool.py", "decode_ingress"))),
    ("ingress checks + admit", (("mempool.py", "submit_many"), ("replica_parts.py", "submit_many"))),
    ("signature verify", (("batch.py", "_verify_chunk"), ("batch.py", "verify_batch"))),
    ("gossip (out + in)", (("replica.py", "_flush_gossip"), ("replica.py", "_admit_from_peer"))),
    ("proposal build", (("replica.py", "pull"),)),
    ("proposal decode + validate", (
        ("replica.py", "_validate_payload"), ("replica.py", "_note_block_txs"), ("replica_parts.py", "execute"),
        ("types.py", "decode_message"), ("replica.py", "_enqueue_committed"))),
    ("consensus (core, votes, QCs)", (("replica.py", "_feed"), ("replica.py", "on_message"))),
    ("apply: make block", (("ledger.py", "make_block"), ("replica.py", "_apply_committed"), ("solo.py", "_commit"))),
    ("apply: execute", (("ledger.py", "apply_block"), ("executor.py", "execute_block"))),
    ("apply: state tree + accumulator", (("state_tree.py", "put_batch"), ("accumulator.py", "append"))),
    ("storage write (LevelDB batch)", (("leveldb.py", "commit"),)),
    ("commit bookkeeping + attestation", (
        ("replica.py", "_after_apply"), ("replica.py", "_attest"), ("replica.py", "_on_attestation"),
        ("solo.py", "_certify"))),
    ("catch-up (ledger sync probes and fetches)", (
        ("replica.py", "_sync_once"), ("replica.py", "serve_ledger_blocks"), ("replica.py", "_backfill_certificates"))),
    ("result stream (SSE, JSON)", (
        ("sse.py", "stream_messages"), ("sse.py", "block_messages"), ("replica.py", "_publish"),
        ("solo.py", "_publish"))),
]
"""Stages of a node's CPU and the functions that enter them (file suffix, function name). A function's
own time goes to the stage of its nearest stage-entering caller (shares follow the call edges, as gprof
does); what no stage entered is "event loop, network, other"."""

OTHER_STAGE = "event loop, network, other"
STARTUP_STAGE = "startup (imports, key decryption; not per transaction)"
_STARTUP_ROOTS = (
    ("<frozen importlib._bootstrap>", "_find_and_load"), ("keystore.py", "decrypt_private_key"),
    ("~", "<built-in method builtins.compile>"), ("~", "<built-in method builtins.__build_class__>"),
    ("~", "<built-in method marshal.loads>"), ("~", "<built-in method gc.collect>"), ("_parser.py", "_parse"),
)
"""Work a node does once (imports, class and regex building, code generation, key decryption, the
startup collection): left out of the per-transaction shares."""


def profiler_cost_per_call() -> float:
    """CPU seconds ``cProfile`` (on the thread clock) adds to each call it records, measured here.

    Profiles are corrected by it: a function's own time minus this cost per call it made, so
    call-heavy Python code is not inflated against native work (signature checks, LevelDB).
    """
    def nothing() -> None:
        return None

    calls = 200_000

    def run() -> None:
        for _ in range(calls):
            nothing()

    plain = min(_cpu(time.thread_time, run)[0] for _ in range(3))
    profile = cProfile.Profile(time.thread_time)
    profiled = []
    for _ in range(3):
        profile.enable()
        start = time.thread_time()
        run()
        profiled.append(time.thread_time() - start)
        profile.disable()
    return max(0.0, (min(profiled) - plain) / calls)


def _stage_of_roots() -> dict[tuple[str, str], str]:
    roots = {root: stage for stage, roots in NODE_STAGES for root in roots}
    roots.update({root: STARTUP_STAGE for root in _STARTUP_ROOTS})
    return roots


def attribute_stages(
    stats: pstats.Stats, top: dict[str, float] | None = None, per_call: float = 0.0
) -> dict[str, float]:
    """CPU seconds per stage of one merged profile (own time of every function, shared along call edges).

    ``per_call``: the profiler's own cost per recorded call, taken off each function's own time."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    roots = _stage_of_roots()

    def root_stage(function: Any) -> str | None:
        filename, _, name = function
        for (suffix, root_name), stage in roots.items():
            if name == root_name and filename.endswith(suffix):
                return stage
        return None

    shares: dict[Any, dict[str, float]] = {}
    visiting: set[Any] = set()

    def share(function: Any) -> dict[str, float]:
        found = shares.get(function)
        if found is not None:
            return found
        stage = root_stage(function)
        if stage is not None:
            result = {stage: 1.0}
        elif function in visiting:
            return {}  # recursion: this path decides nothing; the other callers do
        else:
            visiting.add(function)
            _, _, _, cumulative, callers = table[function]
            result = {}
            total = sum(edge[3] for edge in callers.values()) or 0.0
            if total <= 0:
                result = {OTHER_STAGE: 1.0}
            else:
                for caller, edge in callers.items():
                    weight = edge[3] / total
                    caller_share = share(caller) if caller in table else {OTHER_STAGE: 1.0}
                    for name, fraction in caller_share.items():
                        result[name] = result.get(name, 0.0) + weight * fraction
                decided = sum(result.values())
                result = {name: value / decided for name, value in result.items()} if decided > 0 else {}
            visiting.discard(function)
            if not result:
                if visiting:
                    return {}  # only cyclic paths so far: the callers outside the cycle decide
                result = {OTHER_STAGE: 1.0}
        shares[function] = result
        return result

    seconds: dict[str, float] = {}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    for function, (_, calls, own, _, _) in table.items():
        own = max(0.0, own - per_call * calls)
        for name, fraction in share(function).items():
            seconds[name] = seconds.get(name, 0.0) + own * fraction
            if top is not None:
                label = f"{name} | {Path(function[0]).name}:{function[1]}:{function[2]}"
                top[label] = top.get(label, 0.0) + own * fraction
    return seconds


def profile_nodes(
    nodes: int, duration: float, extra: list[str], keep: Path | None = None, analyze_only: bool = False
) -> dict[str, Any]:
    """Run ``bench/tps.py tps --quick --nodes N`` twice: plain (for CPU per transaction) and with every
    node process under a per-thread CPU profiler (for the shares of the stages)."""
    import subprocess

    root = Path(__file__).resolve().parent
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jadechain-nodeprof-") as directory:
        if keep is not None:
            directory = str(keep)
        for profiled in (False, True):
            if analyze_only:
                report = json.loads(next((Path(directory) / ("profiled" if profiled else "plain")).glob("tps_*.json")).read_text())
                results["profiled" if profiled else "plain"] = headline = headline_of(report)
                if profiled:
                    results["stages"] = _node_stage_table(Path(directory) / "profiled" / "prof", headline)
                continue
            env = dict(os.environ)
            out = Path(directory) / ("profiled" if profiled else "plain")
            if profiled:
                env["JADECHAIN_CPU_PROFILE"] = str(out / "prof")
                env["JADECHAIN_CPU_PROFILE_SKIP_PARENT"] = str(os.getpid())
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "cpu_profile"), env.get("PYTHONPATH")]))
            command = [sys.executable, str(root / "tps.py"), "tps", "--quick", "--nodes", str(nodes),
                       "--duration", str(duration), "--out", str(out), *extra]
            completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
            if completed.returncode != 0 or not lines:
                raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
            headline = json.loads(lines[-1])
            results["profiled" if profiled else "plain"] = headline
            if profiled:
                results["stages"] = _node_stage_table(out / "prof", headline)
    plain = results["plain"]
    committed_cpu_ms = plain.get("node_cpu_ms_per_tx")
    stages = results["stages"]
    per_node_us = (committed_cpu_ms or 0.0) * 1000 / nodes
    stages["us_per_tx_per_node"] = {
        name: round(fraction * per_node_us, 1) for name, fraction in stages["share"].items()
    }
    stages["node_cpu_us_per_tx_per_node_unprofiled"] = round(per_node_us, 1)
    return results


def _node_stage_table(directory: Path, headline: dict[str, Any]) -> dict[str, Any]:
    by_process: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.prof")):
        by_process.setdefault(path.name.split("-")[0], []).append(str(path))
    seconds: dict[str, float] = {}
    top: dict[str, float] = {}
    processes = 0
    per_call = profiler_cost_per_call()
    for pid, files in by_process.items():
        argv = (directory / f"{pid}.argv").read_text() if (directory / f"{pid}.argv").exists() else ""
        if "node/server.py" not in argv and "node.server" not in argv and not argv.startswith("-c "):
            continue  # not a node: the replica (`-m node.server`) or the solo committer (`-c <code>`)
        stats = None
        for path in files:
            try:
                stats = pstats.Stats(path) if stats is None else stats.add(path)
            except TypeError:
                continue  # a thread that ran no Python code wrote an empty profile
        if stats is None:
            continue
        processes += 1
        for name, value in attribute_stages(stats, top, per_call).items():
            seconds[name] = seconds.get(name, 0.0) + value
    startup = seconds.pop(STARTUP_STAGE, 0.0)
    total = sum(seconds.values()) or 1.0
    order = [name for name, _ in NODE_STAGES] + [OTHER_STAGE]
    committed = headline.get("committed") or 0
    return {
        "processes": processes,
        "profiler_cost_per_call_us": round(per_call * 1e6, 3),
        "corrected_cpu_s": round(total, 2),
        "startup_cpu_s": round(startup, 2),
        "corrected_us_per_tx_per_node": round(total / max(1, committed) / max(1, processes) * 1e6, 1),
        "share": {name: round(seconds.get(name, 0.0) / total, 4) for name in order},
        "committed_txs_profiled_run": headline.get("committed_txs") or headline.get("committed"),
        "top_functions_s": {label: round(value, 3) for label, value in sorted(top.items(), key=lambda kv: -kv[1])[:60]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer transactions (about half a minute)")
    parser.add_argument("--crypto", choices=["classic", "sm"], default="classic")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "profile_tx_path.json"))
    parser.add_argument("--nodes", type=int, default=0,
                        help="profile whole node processes under `bench/tps.py tps --quick --nodes N` instead")
    parser.add_argument("--duration", type=float, default=20.0, help="with --nodes: seconds of load per run")
    parser.add_argument("--keep-profiles", default="", help="with --nodes: keep the runs and the raw profiles here")
    parser.add_argument("--analyze", action="store_true",
                        help="with --nodes and --keep-profiles: tabulate the runs kept there instead of running")
    args = parser.parse_args()
    if args.nodes:
        return main_nodes(args)
    block_txs = 2000
    blocks = 3 if args.quick else 8
    name, algorithm, hash_name = SUITES[args.crypto]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jadechain-profile-") as directory:
        dev = DevLedger(directory, algorithm, hash_name)
        try:
            dev.register_users()
            txs = dev.kv_transactions(block_txs * (blocks + 1), "path")
            raws = [codec.encode(tx) for tx in txs]
            del txs
            ingress, mempool = profile_ingress(dev, raws)
            apply = profile_apply(dev, mempool, block_txs, blocks)
        finally:
            dev.close()
            shutdown_verify_pool()
    print(f"{name} on a {hash_name} ledger, LevelDB sync=True, {len(raws)} KV-write transactions")
    print("ingress, CPU us per transaction:")
    for key, value in ingress.items():
        print(f"  {key:28} {value:10.2f}")
    print(f"apply ({apply['blocks']} blocks of {block_txs}), CPU us per transaction:")
    print(f"  {'make_block_us':28} {apply['make_block_us']:10.2f}")
    print(f"  {'apply_block_us':28} {apply['apply_block_us']:10.2f}   ({apply['apply_tps_per_cpu_s']:,.0f} tx per CPU-s)")
    print("  share of one profiled apply_block:")
    for stage, fraction in sorted(apply["profiled_block_share"].items(), key=lambda item: -item[1]):
        print(f"    {stage:26} {fraction:8.1%}")
    node_us = ingress["submit_us"] + apply["make_block_us"] + apply["apply_block_us"]
    print(f"one node's ledger-path CPU per transaction (submit + make + apply): {node_us:.1f} us")
    headline = {
        "crypto": name,
        "ingress_submit_us": ingress["submit_us"],
        "ingress_decode_us": ingress["decode_us"],
        "ingress_verify_us": ingress["verify_us"],
        "make_block_us": apply["make_block_us"],
        "apply_block_us": apply["apply_block_us"],
        "apply_tps_per_cpu_s": apply["apply_tps_per_cpu_s"],
        "node_ledger_path_us": round(node_us, 1),
    }
    report = {
        "benchmark": "profile_tx_path",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_end": os.getloadavg()},
        "seconds": time.perf_counter() - started,
        "ingress": ingress,
        "apply": apply,
        "headline": headline,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    print(json.dumps(headline))
    return 0


def main_nodes(args: argparse.Namespace) -> int:
    """Per-stage CPU of real node processes: the table of docs/benchmarks.md."""
    started = time.perf_counter()
    extra = ["--crypto", args.crypto]
    keep = Path(args.keep_profiles) if args.keep_profiles else None
    results = profile_nodes(args.nodes, args.duration, extra, keep, analyze_only=args.analyze)
    stages = results["stages"]
    print(f"{args.nodes} node(s), {args.crypto}, kv-write: node CPU per committed transaction "
          f"{results['plain']['node_cpu_ms_per_tx']} ms over all nodes (unprofiled run, "
          f"{results['plain']['committed_tps']} TPS)")
    print(f"{'stage':50} {'share':>7} {'us/tx/node':>11}")
    for name, fraction in stages["share"].items():
        print(f"{name:50} {fraction:7.1%} {stages['us_per_tx_per_node'][name]:11.1f}")
    report = {
        "benchmark": "profile_tx_path_nodes", "nodes": args.nodes, "crypto": args.crypto,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_end": os.getloadavg()},
        "seconds": time.perf_counter() - started, **results,
    }
    out = Path(args.out).with_name(f"profile_tx_path_{args.nodes}n.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    headline = {"nodes": args.nodes, "node_cpu_ms_per_tx": results["plain"]["node_cpu_ms_per_tx"],
                "node_cpu_us_per_tx_per_node": stages["node_cpu_us_per_tx_per_node_unprofiled"],
                "stage_us_per_tx_per_node": stages["us_per_tx_per_node"]}
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
