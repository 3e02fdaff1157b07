"""Benchmark private records: seal (encrypt + wrap) and open, per record, for 1, 10 and 100 readers.

For each suite (national: SM3 ledger → SM4-GCM, SM2 readers; classic: SHA-256 ledger →
AES-256-GCM, Ed25519 readers; and P-256 readers on a classic ledger) and each reader count,
it seals a one-grade record of a few fields (fresh data key, nonce, salts, commitments, one
envelope per reader, canonical encoding) and reports milliseconds per record, the stored size,
and the cost of one reader opening it. Writes bench/results/privacy.json and prints, as its
very last line, one JSON object with the headline figures. Never passes or fails on time.

Usage: python bench/privacy.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.crypto import ECDSA_P256, ED25519, SHA256, SM2, SM3, generate_keypair  # noqa: E402
from ledger.private import GradeSpec, decode_private_record, encode_private_record, open_grade, seal_record  # noqa: E402

FIELDS = {"clinic": "Jade Clinic", "diagnosis": "J45.901", "cost_cents": 32000,
          "notes": "follow-up in two weeks; inhaler twice daily"}
SUITES = {"national-sm4-sm2": (SM3, SM2), "classic-aes-ed25519": (SHA256, ED25519),
          "classic-aes-p256": (SHA256, ECDSA_P256)}


def bench_suite(hash_algorithm: object, key_algorithm: object, readers: int, rounds: int) -> dict[str, float]:
    keys = [generate_keypair(key_algorithm) for _ in range(readers)]  # type: ignore[arg-type]
    spec = [GradeSpec("partner", FIELDS, [k.public for k in keys])]
    seal_record(account="acct", key="k", hash_algorithm=hash_algorithm, grades=spec)  # type: ignore[arg-type]  # warm-up
    start = time.perf_counter()
    for _ in range(rounds):
        data = encode_private_record(
            seal_record(account="acct", key="k", hash_algorithm=hash_algorithm, grades=spec))  # type: ignore[arg-type]
    seal_ms = (time.perf_counter() - start) * 1000 / rounds
    record = decode_private_record(data)
    start = time.perf_counter()
    for _ in range(rounds):
        open_grade(record, "partner", keys[-1].private, account="acct", key="k")
    open_ms = (time.perf_counter() - start) * 1000 / rounds
    return {"readers": readers, "seal_ms_per_record": round(seal_ms, 3),
            "wrap_ms_per_reader": round(seal_ms / readers, 3), "open_ms": round(open_ms, 3),
            "record_bytes": len(data), "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for suite, (hash_algorithm, key_algorithm) in SUITES.items():
        results[suite] = []
        for readers in (1, 10, 100):
            rounds = max(1, (3 if args.quick else 20) * 10 // readers) if readers > 1 else (5 if args.quick else 50)
            row = bench_suite(hash_algorithm, key_algorithm, readers, rounds)
            results[suite].append(row)
            print(f"{suite:22} readers={readers:3}  seal {row['seal_ms_per_record']:8.2f} ms/record"
                  f"  ({row['wrap_ms_per_reader']:.2f} ms/reader)  open {row['open_ms']:.2f} ms"
                  f"  {row['record_bytes']} B", flush=True)
    document = {"benchmark": "privacy", "quick": args.quick, "python": platform.python_version(),
                "machine": platform.machine(), "results": results}
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "privacy.json").write_text(json.dumps(document, indent=2) + "\n")
    headline = {"benchmark": "privacy", "quick": args.quick}
    for suite, rows in results.items():
        for row in rows:
            headline[f"{suite}_seal_ms_{int(row['readers'])}_readers"] = row["seal_ms_per_record"]
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
