"""Gateway benchmark: tx/s submitted and committed over HTTP on a solo node; GET entry latency.

A one-validator dev ledger (Ed25519, SHA-256) runs a solo committer and the gateway on 127.0.0.1
in this process (its own thread and event loop). The client pre-signs KV writes, sends them as
JSON batches from a few threads, and waits until the last one is committed. Then it measures
sequential GET latency of single entries. The signature-verification ceiling of this machine is
measured in the same run, so the TPS can be read as a fraction of it.

Writes bench/results/gateway.json; the very last line printed is one JSON object of headline figures.
Never passes or fails on wall time.

    .venv/bin/python bench/gateway.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from ledger import codec  # noqa: E402
from ledger.crypto import ED25519, address_from_public_key, generate_keypair, to_base58, verify_batch  # noqa: E402
from ledger.crypto.keys import PublicKey  # noqa: E402
from ledger.transactions import TransactionBuilder, hash_transaction_content  # noqa: E402
from node.gateway.app import GatewaySettings  # noqa: E402
from jadechain.sdk import JadechainClient  # noqa: E402
from jadechain.devnet.solo import SoloNode, create_dev_solo  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _histogram_mean(metrics_text: str, name: str) -> float | None:
    """Mean of a Prometheus histogram from its _sum and _count lines."""
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name + "_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(name + "_count"):
            count += float(line.rsplit(" ", 1)[1])
    return round(total / count, 4) if count else None


def verify_ceiling(txs: list, seconds: float = 1.0) -> float:
    items = []
    for tx in txs[:2000]:
        tx_hash = hash_transaction_content(tx.content)
        signature = tx.signatures[0]
        items.append((PublicKey.from_encoded(signature.public_key), tx_hash, signature.signature))
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        verify_batch(items)
        done += len(items)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (a few seconds)")
    parser.add_argument("--txs", type=int, default=None)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gets", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gateway.json"))
    args = parser.parse_args()
    total = args.txs or (4000 if args.quick else 30000)
    gets = args.gets or (500 if args.quick else 3000)

    with tempfile.TemporaryDirectory(prefix="jadechain-bench-gateway-") as directory:
        dev = create_dev_solo(directory)
        settings = GatewaySettings(post_rate=0, max_body_bytes=64 << 20, max_batch_txs=10_000)
        node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], settings=settings,
                        idle_block_ms=20, max_block_txs=2000).start()
        try:
            with JadechainClient([node.url], timeout=120) as client:
                ledger = client.ledger()
                account_key = generate_keypair(ED25519)
                ledger.submit(ledger.builder().register_data_account(account_key.public.encoded).sign(dev.key))
                account = address_from_public_key(account_key.public)

                signing_started = time.perf_counter()
                ledger_hash = ledger.builder().ledger_hash
                txs = [
                    TransactionBuilder(ledger_hash, time_ms=int(time.time() * 1000))
                    .kv_set(account, f"item/{i}", {"n": i, "lot": "L2026"}).sign(dev.key)
                    for i in range(total)
                ]
                signing_seconds = time.perf_counter() - signing_started
                bodies = [
                    json.dumps({"txs": [codec.encode(tx).hex() for tx in txs[start:start + args.batch]]}).encode()
                    for start in range(0, total, args.batch)
                ]
                last_hash = hash_transaction_content(txs[-1].content)

                rejected = []
                lock = threading.Lock()
                next_body = iter(range(len(bodies)))
                url = f"{node.url}{ledger.base}/txs"

                def sender() -> None:
                    with httpx.Client(timeout=120) as http:
                        while True:
                            with lock:
                                index = next(next_body, None)
                            if index is None:
                                return
                            while True:
                                response = http.post(url, content=bodies[index], headers={"content-type": "application/json"})
                                response.raise_for_status()
                                errors = [item["error"]["code"] for item in response.json() if item["error"]]
                                if any(code == "MEMPOOL_FULL" for code in errors):
                                    time.sleep(0.05)  # back-pressure: the duplicates of accepted ones are fine
                                    continue
                                if errors:
                                    with lock:
                                        rejected.extend(errors)
                                break

                heights_before = ledger.info().height
                started = time.perf_counter()
                threads = [threading.Thread(target=sender) for _ in range(args.clients)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                submitted_seconds = time.perf_counter() - started
                final = ledger.wait_tx(to_base58(last_hash), timeout=120)
                while True:  # every tx committed: the accumulator holds them all
                    info = ledger.info()
                    if info.transactions >= total + 2 or time.perf_counter() - started > 300:
                        break
                    time.sleep(0.01)
                committed_seconds = time.perf_counter() - started
                metrics_text = httpx.get(f"{node.url}/metrics").text  # the throughput phase only
                blocks = info.height - heights_before
                assert final.committed, "the last transaction did not commit"
                sample = ledger.get_tx(final.tx_hash)
                assert sample.ok, sample

                http = httpx.Client(base_url=node.url, timeout=30)
                latencies = []
                for i in range(gets):
                    key = f"item/{(i * 7919) % total}"
                    t0 = time.perf_counter()
                    response = http.get(f"{ledger.base}/accounts/{account}/entry", params={"key": key})
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
                proof_latencies = []
                for i in range(min(200, gets)):
                    key = f"item/{(i * 104729) % total}"
                    t0 = time.perf_counter()
                    response = http.get(f"{ledger.base}/accounts/{account}/entry", params={"key": key, "proof": "true"})
                    proof_latencies.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
                wait_latencies = []  # one client, one tx at a time: submit + wait for commit
                for i in range(50 if args.quick else 200):
                    tx = ledger.builder().kv_set(account, f"waited/{i}", i).sign(dev.key)
                    t0 = time.perf_counter()
                    response = http.post(f"{ledger.base}/txs", params={"wait": "commit"},
                                         json={"tx": codec.encode(tx).hex()})
                    wait_latencies.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200 and response.json()["result"]["status"] == "SUCCESS"
                http.close()
        finally:
            node.stop()
        ceiling = verify_ceiling(txs)

    results = {
        "benchmark": "gateway",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {"transactions": total, "batch": args.batch, "clients": args.clients, "signature": "ED25519",
                  "hash": "SHA256", "validators": 1, "server": "in-process uvicorn + solo committer, 127.0.0.1"},
        "signing_tx_per_s": round(total / signing_seconds),
        "submit_tx_per_s": round(total / submitted_seconds),
        "committed_tx_per_s": round(total / committed_seconds),
        "blocks": blocks,
        "rejected": len(rejected),
        "verify_ceiling_per_s": round(ceiling),
        "committed_fraction_of_verify_ceiling": round(total / committed_seconds / ceiling, 3),
        "get_entry_ms": {"p50": round(percentile(latencies, 0.5), 3), "p99": round(percentile(latencies, 0.99), 3),
                         "mean": round(statistics.fmean(latencies), 3), "n": len(latencies)},
        "submit_wait_commit_ms": {"p50": round(percentile(wait_latencies, 0.5), 3),
                                  "p99": round(percentile(wait_latencies, 0.99), 3), "n": len(wait_latencies),
                                  "idle_block_ms": 20},
        "server_block_commit_mean_s": _histogram_mean(metrics_text, "jadechain_commit_latency_seconds"),
        "server_tx_latency_mean_s": _histogram_mean(metrics_text, "jadechain_tx_latency_seconds"),
        "get_entry_proof_ms": {"p50": round(percentile(proof_latencies, 0.5), 3),
                               "p99": round(percentile(proof_latencies, 0.99), 3), "n": len(proof_latencies)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    headline = {
        "benchmark": "gateway", "committed_tx_per_s": results["committed_tx_per_s"],
        "submit_tx_per_s": results["submit_tx_per_s"], "get_entry_p50_ms": results["get_entry_ms"]["p50"],
        "get_entry_p99_ms": results["get_entry_ms"]["p99"], "verify_ceiling_per_s": results["verify_ceiling_per_s"],
        "submit_wait_commit_p50_ms": results["submit_wait_commit_ms"]["p50"],
        "transactions": total,
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
