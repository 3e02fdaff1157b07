"""Benchmark of the ledger's signature algorithms: verify, batch verify on all cores, sign.

Usage: ``python bench/crypto_verify.py [--quick] [--out FILE]``. Writes the full figures as
JSON (default ``bench/results/crypto_verify.json``) and prints, as its very last line, one
JSON object of headline figures. It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from jadechain.bench.ceiling import measure_verify_scaling, presigned_items  # noqa: E402

from ledger.crypto import (  # noqa: E402
    ECDSA_P256,
    ED25519,
    SHA256,
    SM2,
    SM3,
    generate_keypair,
    hasher,
    shutdown_verify_pool,
    sign,
    verify,
)
from ledger.crypto.hashing import sm3_implementation  # noqa: E402

ALGORITHMS = {"ed25519": ED25519, "sm2": SM2, "ecdsa": ECDSA_P256}


def rate(operation: Callable[[int], object], duration_s: float) -> float:
    """Calls per second of ``operation(i)`` over ``duration_s`` (checked every 64 calls)."""
    operation(0)
    calls = 0
    start = time.perf_counter()
    deadline = start + duration_s
    while True:
        for _ in range(64):
            operation(calls)
            calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def bench_algorithm(name: str, duration_s: float) -> dict[str, float]:
    algorithm = ALGORITHMS[name]
    items = presigned_items(algorithm)
    count = len(items)

    def verify_one(index: int) -> object:
        public, message, signature = items[index % count]
        return verify(public, message, signature)

    pair = generate_keypair(algorithm)
    message = bytes(256)

    single = rate(verify_one, duration_s)
    batch_one_thread, cpu_one_thread = measure_verify_scaling(algorithm, duration_s, threads=1)
    batch_all, cpu_all = measure_verify_scaling(algorithm, duration_s)
    sign_rate = rate(lambda index: sign(pair.private, message), duration_s)
    return {
        "verify_per_s": round(single, 1),
        "verify_us": round(1e6 / single, 2),
        "batch_1_thread_verify_per_s": round(batch_one_thread, 1),
        "batch_all_cores_verify_per_s": round(batch_all, 1),
        "batch_speedup": round(batch_all / batch_one_thread, 3),
        "batch_cpu_per_wall_1_thread": round(cpu_one_thread, 2),
        "batch_cpu_per_wall_all_cores": round(cpu_all, 2),
        "sign_per_s": round(sign_rate, 1),
        "sign_us": round(1e6 / sign_rate, 2),
    }


def bench_hashes(duration_s: float) -> dict[str, float | str]:
    block = bytes(64)  # one Merkle node: two 32-byte children
    figures: dict[str, float | str] = {"sm3_implementation": sm3_implementation()}
    for label, algorithm in (("sm3", SM3), ("sha256", SHA256)):
        digest = hasher(algorithm)
        per_s = rate(lambda index: digest(block), duration_s)
        figures[f"{label}_64B_per_s"] = round(per_s, 1)
        figures[f"{label}_64B_us"] = round(1e6 / per_s, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    parser.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent / "results" / "crypto_verify.json"),
    )
    arguments = parser.parse_args()
    duration_s = 0.8 if arguments.quick else 3.0

    started = time.time()
    algorithms = {name: bench_algorithm(name, duration_s) for name in ALGORITHMS}
    hashes = bench_hashes(duration_s / 2)
    shutdown_verify_pool()

    headline: dict[str, float | str] = {}
    for name, figures in algorithms.items():
        headline[f"{name}_verify_per_s"] = figures["verify_per_s"]
        headline[f"{name}_batch_verify_per_s"] = figures["batch_all_cores_verify_per_s"]
        headline[f"{name}_batch_speedup"] = figures["batch_speedup"]
        headline[f"{name}_batch_cpu_per_wall"] = figures["batch_cpu_per_wall_all_cores"]
        headline[f"{name}_sign_per_s"] = figures["sign_per_s"]
    headline["cpu_count"] = os.cpu_count() or 1
    headline["sm3_hash_64B_per_s"] = hashes["sm3_64B_per_s"]
    headline["sm3_implementation"] = hashes["sm3_implementation"]

    report = {
        "benchmark": "crypto_verify",
        "quick": arguments.quick,
        "duration_per_measure_s": duration_s,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "algorithms": algorithms,
        "hashes": hashes,
        "headline": headline,
        "wall_time_s": round(time.time() - started, 2),
    }
    out = Path(arguments.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, figures in algorithms.items():
        cpu_one, cpu_all = (
            figures["batch_cpu_per_wall_1_thread"],
            figures["batch_cpu_per_wall_all_cores"],
        )
        print(
            f"{name:8s} verify {figures['verify_us']:8.1f} µs ({figures['verify_per_s']:9.0f}/s)"
            f"  batch {figures['batch_all_cores_verify_per_s']:9.0f}/s"
            f" (x{figures['batch_speedup']:.2f}, cpu/wall {cpu_one:.2f}->{cpu_all:.2f})"
            f"  sign {figures['sign_us']:8.1f} µs"
        )
    print(f"hashes   {json.dumps(hashes)}")
    print(f"written  {out}")
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
