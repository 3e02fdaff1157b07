"""Baseline: PySyncObj (Raft, crash-fault tolerant only) ordering the same payloads on the same machine.

Usage: ``python bench/raft_baseline.py [--quick] [--nodes 4] [--ops N] [--out FILE]``.

A user choosing a Python replicated log might pick PySyncObj instead of a BFT chain. This
runs N PySyncObj nodes as separate processes on 127.0.0.1, each node's process submits its
share of operations (open loop, with completion callbacks) whose payload is exactly the size
of one encoded, signed Jadechain KV-write transaction, and measures ordered operations per
second (first submit to the last operation applied on every node) and the submit → apply
latency. It orders opaque bytes: no signatures, no execution, no Merkle state, so it is an
upper bound for "just replication" in Python on this machine. Writes JSON (default
``bench/results/raft_baseline.json``) and prints, as its very last line, one JSON object of
headline figures. It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import socket
import statistics
import time
from pathlib import Path
from typing import Any



QUIESCENT_S = 5.0
"""Seconds without a new applied operation after which a node stops waiting (longer than an election)."""


def payload_size() -> int:
    """Bytes of one encoded, signed KV-write transaction (what Jadechain orders per op)."""
    from ledger import codec
    from ledger.crypto import SHA256, address_from_public_key, generate_keypair, hash_digest
    from ledger.transactions import TransactionBuilder

    key = generate_keypair()
    ledger_hash = hash_digest(SHA256, b"a ledger")  # any 34-byte SHA-256 ledger hash: only the size matters
    builder = TransactionBuilder(ledger_hash, time_ms=1_700_000_000_000)  # a millisecond time of today's size
    tx = builder.kv_set(address_from_public_key(key.public), "key-00000001", "value-000001", -1).sign(key)
    return len(codec.encode(tx))


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def node_main(index: int, addresses: list[str], ops: int, size: int, total: int,
              ready: Any, start: Any, results: Any, finish: Any) -> None:
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Log(SyncObj):  # type: ignore[misc]
        def __init__(self, me: str, partners: list[str], conf: SyncObjConf) -> None:
            super().__init__(me, partners, conf)
            self.applied = 0
            self.last_apply = 0.0

        @replicated  # type: ignore[misc]
        def append(self, payload: bytes) -> int:
            self.applied += 1
            self.last_apply = time.time()
            return self.applied

    conf = SyncObjConf(appendEntriesUseBatch=True, commandsQueueSize=max(200_000, total * 2),
                       raftMinTimeout=0.4, raftMaxTimeout=1.4, dynamicMembershipChange=False)
    me = addresses[index]
    log = Log(me, [a for a in addresses if a != me], conf)
    while log._getLeader() is None:  # noqa: SLF001 - PySyncObj exposes no public "ready"
        time.sleep(0.05)
    ready.put(index)
    start.wait()
    payload = bytes(size)
    latencies: list[float] = []
    submitted = [0.0] * ops
    done = [0]

    def callback(result: Any, error: Any, position: int) -> None:
        if error == 0:  # FAIL_REASON.SUCCESS
            latencies.append(time.time() - submitted[position])
        done[0] += 1

    first_submit = time.time()
    for position in range(ops):
        submitted[position] = time.time()
        log.append(payload, callback=lambda r, e, p=position: callback(r, e, p))
        if position % 200 == 199:
            time.sleep(0)  # let the auto-tick thread move
    # Done when every operation is applied here, or when nothing more has been applied for a while:
    # PySyncObj can drop operations (a leader change truncating its log) without ever calling back,
    # and those never apply anywhere.
    deadline = time.time() + 300
    last_applied, last_change = -1, time.time()
    while log.applied < total and time.time() < deadline:
        if log.applied != last_applied:
            last_applied, last_change = log.applied, time.time()
        elif time.time() - last_change > QUIESCENT_S:
            break
        time.sleep(0.01)
    results.put({
        "index": index, "first_submit": first_submit, "last_apply": log.last_apply,
        "applied": log.applied, "acked": len(latencies), "latencies": latencies,
    })
    # Stay in the cluster until every node has reported: a follower a little behind needs the leader
    # (and a quorum) alive to catch up, so a node that left early made the last one wait for its deadline.
    finish.wait(timeout=400)
    log.destroy()


def run(nodes: int, ops_per_node: int, size: int) -> dict[str, Any]:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(nodes)]
    context = mp.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    start, finish = context.Event(), context.Event()
    total = nodes * ops_per_node
    processes = [
        context.Process(target=node_main,
                        args=(i, addresses, ops_per_node, size, total, ready, start, results, finish))
        for i in range(nodes)
    ]
    try:
        for process in processes:
            process.start()
        for _ in processes:
            ready.get(timeout=120)
        start.set()
        collected = [results.get(timeout=400) for _ in processes]
    finally:
        finish.set()
        for process in processes:  # every child is waited for, also when one failed to start or report
            if process.pid is not None:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
                    process.join()
    first = min(r["first_submit"] for r in collected)
    last = max(r["last_apply"] for r in collected)
    latencies = sorted(lat for r in collected for lat in r["latencies"])
    applied_everywhere = min(r["applied"] for r in collected)
    seconds = max(last - first, 1e-9)
    return {
        "nodes": nodes,
        "payload_bytes": size,
        "ops_submitted": total,
        "ops_applied_on_every_node": applied_everywhere,
        "ops_per_s": round(applied_everywhere / seconds, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--ops", type=int, default=None, help="operations per node")
    parser.add_argument("--out", default=str(Path("bench") / "results" / "raft_baseline.json"))
    options = parser.parse_args()
    ops = options.ops or (2_500 if options.quick else 25_000)
    size = payload_size()
    result = run(options.nodes, ops, size)
    print(f"PySyncObj x{options.nodes}: {result['ops_per_s']:,.0f} ordered ops/s "
          f"(payload {size} B, p50 {result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms)")
    report = {"benchmark": "raft_baseline", "quick": options.quick, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": mp.cpu_count(), **result}
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"raft_ops_per_s": result["ops_per_s"], "raft_p99_ms": result["latency_p99_ms"],
                      "nodes": options.nodes, "payload_bytes": size}))


if __name__ == "__main__":
    main()
