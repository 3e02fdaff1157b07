"""Consensus benchmark: committed TPS and latency of N validator processes on this machine.

Starts ``--nodes`` validators (real processes, gRPC between them, as ``jadechain net up``
does), registers a data account, pre-signs KV-write transactions and submits them over gRPC
(``/jadechain.Tx/Submit``, batches) to every node in turn at an offered rate. Commit times come
from node0's SSE stream (``kinds=tx``): latency = commit notification − submit acknowledgement.
Committed TPS = transactions / (last commit − first submit) of a phase.

Phase 1 offers more than the network can commit (``--rate``): it measures throughput; its
latency includes queueing. Phase 2 then offers half the measured TPS: its p50/p99 are the
latency of a loaded but not saturated network.

The signature-verify ceiling is measured in the same run (``jadechain/bench/ceiling.py``, all cores):
every node verifies every transaction once, so the ceiling for the network is
``verifies per second / nodes``; the TPS is reported as a fraction of it. The profile is each
replica's per-stage timers (ingress verify, consensus core, execution, attestation signing)
plus the CPU seconds each node process used.

Writes bench/results/consensus.json (or consensus_sm.json); the very last line printed is one
JSON object of headline figures. Never passes or fails on wall time.

    .venv/bin/python bench/consensus.py [--quick] [--nodes 4] [--crypto classic|sm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
import httpx  # noqa: E402
import msgpack  # noqa: E402

from jadechain.bench.ceiling import measure_verify_ceiling  # noqa: E402
from consensus.network import GRPC_OPTIONS, SUBMIT_METHOD, call_unary  # noqa: E402
from ledger import codec  # noqa: E402
from ledger.crypto import ED25519, SM2, address_from_public_key, from_base58, generate_keypair, to_base58  # noqa: E402
from ledger.transactions import hash_transaction_content  # noqa: E402
from jadechain.devnet.net import create_network, net_down, start_node, wait_for_height  # noqa: E402
from jadechain.sdk import JadechainClient  # noqa: E402
from node.solo import load_key  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


class CommitListener(threading.Thread):
    """Reads node0's SSE stream of tx results; records when each tx hash was seen."""

    def __init__(self, url: str, ledger_hash: str, from_height: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/api/v1/ledgers/{ledger_hash}/stream"
        self.from_height = from_height
        self.seen: dict[str, float] = {}
        self.heights: dict[str, int] = {}
        self.stop = False
        self.ready = threading.Event()

    def run(self) -> None:
        params = {"kinds": "tx", "from_height": str(self.from_height)}
        with httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client:
            with client.stream("GET", self.url, params=params) as response:
                self.ready.set()
                for line in response.iter_lines():
                    if self.stop:
                        return
                    if line.startswith("data:"):
                        now = time.monotonic()
                        data = json.loads(line[5:])
                        self.seen.setdefault(data["tx_hash"], now)
                        self.heights.setdefault(data["tx_hash"], data["height"])


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return float("nan")


async def submit_all(
    addresses: list[str], ledger_hash: bytes, batches: list[list[tuple[str, bytes]]], rate: float,
    submitted: dict[str, float],
) -> dict[str, int]:
    """Open-loop submission: one batch every ``len(batch)/rate`` seconds, nodes in turn."""
    channels = [grpc.aio.insecure_channel(a, options=GRPC_OPTIONS) for a in addresses]
    outcome: dict[str, int] = {}
    in_flight: set[asyncio.Task[None]] = set()

    async def send(channel: Any, batch: list[tuple[str, bytes]]) -> None:
        pending = batch
        for _ in range(50):
            request = msgpack.packb([ledger_hash, [raw for _, raw in pending]], use_bin_type=True)
            response = msgpack.unpackb(await call_unary(channel, SUBMIT_METHOD, request, 30.0), raw=False)
            now = time.monotonic()
            retry = []
            for (tx_hash, raw), (_, code, _message) in zip(pending, response):
                if code is None:
                    submitted[tx_hash] = now
                    outcome["accepted"] = outcome.get("accepted", 0) + 1
                elif code == "MEMPOOL_FULL":
                    retry.append((tx_hash, raw))
                else:
                    outcome[code] = outcome.get(code, 0) + 1
            if not retry:
                return
            outcome["retried_mempool_full"] = outcome.get("retried_mempool_full", 0) + len(retry)
            pending = retry
            await asyncio.sleep(0.2)

    start = time.monotonic()
    sent = 0
    for index, batch in enumerate(batches):
        due = start + sent / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(channels[index % len(channels)], batch))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        sent += len(batch)
    if in_flight:
        await asyncio.gather(*in_flight)
    for channel in channels:
        await channel.close()
    return outcome


def drain(layout: Any, timeout: float = 180.0) -> None:
    """Wait until every node has an empty mempool, nothing in flight and the same height."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            views = [httpx.get(f"{n.url}/api/v1/node/status", timeout=5).json()["ledgers"][layout.ledger_hash]
                     for n in layout.nodes]
        except (httpx.HTTPError, KeyError):
            time.sleep(0.5)
            continue
        if len({v["height"] for v in views}) == 1 and all(v["mempool"] == 0 and v["in_flight"] == 0 for v in views):
            return
        time.sleep(0.5)


def run_phase(layout: Any, ledger_hash: bytes, txs: list[tuple[str, bytes]], rate: float, batch: int,
              listener: CommitListener) -> dict[str, Any]:
    """Submit ``txs`` at ``rate``; wait for their commits; TPS and latencies of this phase."""
    batches = [txs[i:i + batch] for i in range(0, len(txs), batch)]
    submitted: dict[str, float] = {}
    started = time.monotonic()
    outcome = asyncio.run(submit_all([n.grpc_address for n in layout.nodes], ledger_hash, batches, rate, submitted))
    submit_seconds = time.monotonic() - started
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and any(h not in listener.seen for h in submitted):
        time.sleep(0.2)
    wall = time.monotonic() - started
    committed = [h for h in submitted if h in listener.seen]
    latencies = [listener.seen[h] - submitted[h] for h in committed]
    if committed:
        span = max(listener.seen[h] for h in committed) - min(submitted[h] for h in committed)
    else:
        span = float("nan")
    return {
        "offered_rate": rate, "submitted_at": submitted, "committed_hashes": committed, "latencies": latencies,
        "committed_tps": round(len(committed) / span, 1) if committed and span > 0 else 0.0,
        "outcome": outcome, "submit_seconds": submit_seconds, "wall_seconds": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (fewer transactions)")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--crypto", choices=("classic", "sm"), default="classic")
    parser.add_argument("--txs", type=int, default=None, help="transactions to submit")
    parser.add_argument("--rate", type=float, default=None, help="offered load, tx/s")
    parser.add_argument("--batch", type=int, default=200, help="transactions per gRPC submission")
    parser.add_argument("--max-block-txs", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="network directory (default: a temporary one)")
    args = parser.parse_args()

    sm = args.crypto == "sm"
    total = args.txs or ((3000 if sm else 9000) if args.quick else (12000 if sm else 40000))
    rate = args.rate or (1500.0 if sm else 4000.0)
    latency_total = 1000 if args.quick else 3000
    algorithm = SM2 if sm else ED25519

    ceiling = measure_verify_ceiling(algorithm, 1.0 if args.quick else 3.0)
    directory = args.dir or tempfile.mkdtemp(prefix="jadechain-bench-consensus-")
    layout = create_network(directory, args.nodes, args.crypto, consensus={
        "max_block_txs": args.max_block_txs, "idle_block_ms": 20, "round_timeout_ms": 2000,
    })
    print(f"network in {directory}: {args.nodes} nodes, {args.crypto}", file=sys.stderr)
    pids = [start_node(layout, node.name) for node in layout.nodes]
    try:
        wait_for_height(layout, 1, 90)
        password = Path(layout.password_file).read_text().strip()
        admin = load_key(layout.nodes[0].key_file, password)
        with JadechainClient([layout.nodes[0].url], retry_timeout=30) as client:
            ledger = client.ledger()
            account_pair = generate_keypair(algorithm)
            ledger.submit(ledger.builder().register_data_account(account_pair.public.encoded).sign(admin))
            account = address_from_public_key(account_pair.public)
            start_height = ledger.get_block("latest").height + 1
            print(f"pre-signing {total + latency_total} KV writes…", file=sys.stderr)
            signed_at = time.monotonic()
            builder_time = int(time.time() * 1000)
            txs: list[tuple[str, bytes]] = []
            from ledger.transactions import TransactionBuilder

            ledger_hash_bytes = from_base58(layout.ledger_hash)
            for index in range(total + latency_total):
                tx = (TransactionBuilder(ledger_hash_bytes, time_ms=builder_time)
                      .kv_set(account, f"key-{index}", f"value-{index}").sign(admin))
                txs.append((to_base58(hash_transaction_content(tx.content)), codec.encode(tx)))
            sign_seconds = time.monotonic() - signed_at
        listener = CommitListener(layout.nodes[0].url, layout.ledger_hash, start_height)
        listener.start()
        listener.ready.wait(10)
        cpu_before = [proc_cpu_seconds(pid) for pid in pids]
        saturation_txs, latency_txs = txs[:total], txs[total:]
        print(f"phase 1 (throughput): {len(saturation_txs)} txs offered at {rate:.0f} tx/s…", file=sys.stderr)
        phase1 = run_phase(layout, ledger_hash_bytes, saturation_txs, rate, args.batch, listener)
        cpu_after = [proc_cpu_seconds(pid) for pid in pids]
        drain(layout)  # let every node apply its backlog, so phase 2 starts from a quiet network
        latency_rate = max(50.0, 0.5 * phase1["committed_tps"])
        print(f"phase 2 (latency): {len(latency_txs)} txs offered at {latency_rate:.0f} tx/s…", file=sys.stderr)
        phase2 = run_phase(layout, ledger_hash_bytes, latency_txs, latency_rate, 50, listener)
        listener.stop = True
        submitted = phase1["submitted_at"]
        outcome = phase1["outcome"]
        committed = phase1["committed_hashes"]
        submit_seconds = phase1["submit_seconds"]
        wall = phase1["wall_seconds"]
        statuses = []
        for node in layout.nodes:
            try:
                statuses.append(httpx.get(f"{node.url}/api/v1/node/status", timeout=5).json())
            except httpx.HTTPError:
                statuses.append({})
        heights = []
        hashes = set()
        for node in layout.nodes:
            block = httpx.get(f"{node.url}/api/v1/ledgers/{layout.ledger_hash}/blocks/latest", timeout=5).json()
            heights.append(block["height"])
        common = min(heights)
        for node in layout.nodes:
            block = httpx.get(f"{node.url}/api/v1/ledgers/{layout.ledger_hash}/blocks/{common}", timeout=5).json()
            hashes.add(block["hash"])
    finally:
        net_down(layout.directory, timeout=30)

    tps = phase1["committed_tps"]
    latencies = phase1["latencies"]
    blocks = len({listener.heights[h] for h in committed})
    ceiling_network = ceiling / args.nodes
    stages: dict[str, float] = {}
    for status in statuses:
        for replica in status.get("ledgers", {}).values():
            for stage, seconds in replica.get("stages_seconds", {}).items():
                stages[stage] = stages.get(stage, 0.0) + seconds
    cpu = [after - before for before, after in zip(cpu_before, cpu_after)]
    result = {
        "benchmark": "consensus",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {"nodes": args.nodes, "crypto": args.crypto, "txs": total, "offered_rate": rate,
                   "batch": args.batch, "max_block_txs": args.max_block_txs, "quick": args.quick},
        "committed": len(committed),
        "submitted": len(submitted),
        "submission_outcome": outcome,
        "committed_tps": round(tps, 1),
        "latency_p50_s": round(percentile(latencies, 0.5), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "latency_note": "phase 1 offers more than the network commits, so its latency includes queueing; "
                        "phase 2 offers half the measured TPS",
        "phase2_offered_rate": round(phase2["offered_rate"], 1),
        "phase2_committed": len(phase2["committed_hashes"]),
        "phase2_committed_tps": phase2["committed_tps"],
        "phase2_latency_p50_s": round(percentile(phase2["latencies"], 0.5), 3),
        "phase2_latency_p99_s": round(percentile(phase2["latencies"], 0.99), 3),
        "blocks_with_load": blocks,
        "txs_per_block": round(len(committed) / blocks, 1) if blocks else None,
        "submit_seconds": round(submit_seconds, 2),
        "wall_seconds": round(wall, 2),
        "presign_seconds": round(sign_seconds, 2),
        "verify_ceiling_per_s_machine": round(ceiling, 0),
        "verify_ceiling_tps_network": round(ceiling_network, 0),
        "fraction_of_ceiling": round(tps / ceiling_network, 3) if ceiling_network else None,
        "profile_stage_seconds_all_nodes": {k: round(v, 2) for k, v in sorted(stages.items())},
        "node_cpu_seconds": [round(c, 2) for c in cpu],
        "node_cpu_seconds_per_tx_ms": round(1000 * sum(cpu) / len(committed), 3) if committed else None,
        "same_block_hash_at_common_height": len(hashes) == 1,
        "final_heights": heights,
        "node_status": [s.get("ledgers") for s in statuses],
    }
    RESULTS.mkdir(exist_ok=True)
    name = "consensus.json" if not sm else "consensus_sm.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=str))
    headline = {
        "benchmark": "consensus", "crypto": args.crypto, "nodes": args.nodes,
        "committed_tps": result["committed_tps"], "latency_p50_s": result["latency_p50_s"],
        "latency_p99_s": result["latency_p99_s"],
        "latency_at_half_load_p50_s": result["phase2_latency_p50_s"],
        "latency_at_half_load_p99_s": result["phase2_latency_p99_s"], "verify_ceiling_tps_network": result["verify_ceiling_tps_network"],
        "fraction_of_ceiling": result["fraction_of_ceiling"], "committed": len(committed), "submitted": len(submitted),
        "consistent": result["same_block_hash_at_common_height"],
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
