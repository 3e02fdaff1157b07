"""Benchmark of block application: how fast the ledger commits KV-write transactions.

Usage: ``python bench/ledger_apply.py [--quick] [--crypto classic|sm|both] [--out FILE]``.

For each crypto suite (classic: Ed25519 on a SHA-256 ledger; sm: SM2 on an SM3 ledger) it
builds a dev ledger on LevelDB (``sync=True``, as a node runs it) in a temporary directory,
registers and authorises several users with a data account each, pre-generates and pre-signs
every KV-write transaction, then measures, single-threaded in the commit path:

(a) the apply rate of pre-verified transactions (``preverified=lambda h: True``): everything
    but signature checks (hashing, execution, state tree, accumulator, one fsynced batch);
(b) the apply rate with the executor's own batch signature verification;
(c) the signature-verify ceiling measured in the same run (``verify_batch`` on all cores),
    and the ratio (b) / (c).

Targets printed beside the figures: (a) >= 20,000 tx/s, (b)/(c) >= 0.6. A cProfile top-15 (by
cumulative time, ``ledger/`` functions) of one pre-verified block apply goes to stderr. Full
figures go to ``bench/results/ledger_apply.json`` (or ``--out``); the very last stdout line is
one JSON object of headline figures. It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from jadechain.bench.ceiling import measure_verify_ceiling  # noqa: E402

from ledger.crypto import (  # noqa: E402
    ED25519,
    SM2,
    CryptoAlgorithm,
    KeyPair,
    address_from_public_key,
    generate_keypair,
    shutdown_verify_pool,
)
from ledger.genesis import DEFAULT_ROLE, assemble_genesis, parse_genesis_config, sign_genesis  # noqa: E402
from ledger.ledger import Ledger  # noqa: E402
from ledger.store.leveldb import LevelDBStore  # noqa: E402
from ledger.transactions import TransactionBuilder  # noqa: E402
from ledger.types import AuthorizeUserRoles, RegisterUser, RolesPolicy, Transaction  # noqa: E402
from node.process import tune_garbage_collector  # noqa: E402

TARGET_PREVERIFIED_TPS = 20_000
TARGET_RATIO = 0.6
SUITES = {"classic": ("ed25519", ED25519, "SHA256"), "sm": ("sm2", SM2, "SM3")}
FOUNDERS = 4
USERS = 8
BASE_TIME_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Plan:
    block_txs: int
    preverified_blocks: int
    verified_blocks: int
    ceiling_s: float


QUICK = Plan(block_txs=2000, preverified_blocks=3, verified_blocks=3, ceiling_s=2.0)
FULL = Plan(block_txs=2000, preverified_blocks=8, verified_blocks=6, ceiling_s=5.0)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DevLedger:
    """A dev ledger on LevelDB with founders, and users that each own a data account."""

    def __init__(self, directory: str, algorithm: CryptoAlgorithm, hash_name: str) -> None:
        self.algorithm = algorithm
        self.founders = [generate_keypair(algorithm) for _ in range(FOUNDERS)]
        participants = "\n".join(
            f'[[participants]]\nname = "org{i}"\npublic_key = "{pair.public.base58}"\n'
            for i, pair in enumerate(self.founders)
        )
        config = parse_genesis_config(
            f'[ledger]\nname = "bench"\nhash_algorithm = "{hash_name}"\n'
            f'signature_algorithms = ["SM2", "ED25519"]\ncreated_time = {BASE_TIME_MS}\n\n{participants}'
        )
        signatures = [sign_genesis(config, pair.private, pair.public) for pair in self.founders]
        self.store = LevelDBStore(os.path.join(directory, "ledger"), sync=True)
        self.ledger = Ledger.create(self.store, assemble_genesis(config, signatures))
        self.users = [generate_keypair(algorithm) for _ in range(USERS)]
        self.data_keys = [generate_keypair(algorithm) for _ in range(USERS)]
        self.accounts = [address_from_public_key(pair.public) for pair in self.data_keys]
        self.clock = BASE_TIME_MS

    @property
    def admin(self) -> KeyPair:
        return self.founders[0]

    def builder(self) -> TransactionBuilder:
        return TransactionBuilder(self.ledger.ledger_hash, time_ms=self.clock)

    def apply(self, transactions: list[Transaction], **options: object) -> tuple[float, float]:
        """Apply one block; return (wall seconds, CPU seconds of this thread) of ``apply_block``.

        The block is built before the clock starts (building it is the proposer's work), from the
        transactions as ingress hands them over: decoded and hashed once (``SignedTransaction``).
        """
        self.clock += 1000
        signed = [self.ledger.sign_parts(tx) for tx in transactions]
        block = self.ledger.make_block(signed, time=self.clock, proposer=self.admin.public.encoded)
        start, cpu_start = time.perf_counter(), time.thread_time()
        result = self.ledger.apply_block(block, signed=signed, **options)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start, time.thread_time() - cpu_start
        failed = {info.status for info in result.tx_infos} - {"SUCCESS"}
        if failed or len(result.tx_infos) != len(transactions):
            raise RuntimeError(f"bench block {block.header.height} did not fully succeed: {failed}")
        return elapsed

    def register_users(self) -> None:
        """Block 1: the admin registers and authorises the users; block 2: their data accounts."""
        addresses = tuple(address_from_public_key(user.public) for user in self.users)
        register = self.builder()
        for index, user in enumerate(self.users):
            register.add(RegisterUser(user.public.encoded, f"user{index}"))
        register.add(AuthorizeUserRoles(addresses, (DEFAULT_ROLE,), (), RolesPolicy.UNION))
        self.apply([register.sign(self.admin)])
        self.apply([
            self.builder().register_data_account(data.public.encoded).sign(user)
            for user, data in zip(self.users, self.data_keys)
        ])

    def kv_transactions(self, count: int, tag: str) -> list[Transaction]:
        """``count`` signed KV writes spread over the users, each to its own account."""
        transactions = []
        for index in range(count):
            owner = index % USERS
            value = {"seq": index, "batch": tag, "payload": "x" * 32}
            transactions.append(
                self.builder().kv_set(self.accounts[owner], f"{tag}/{index}", value, -1).sign(self.users[owner])
            )
        return transactions

    def close(self) -> None:
        self.ledger.close()


def apply_blocks(dev: DevLedger, transactions: list[Transaction], block_txs: int, **options: object) -> dict[str, float]:
    """Apply ``transactions`` in blocks; tx/s by wall time, and per CPU second of the commit thread.

    The second figure is what the commit thread alone would reach on an idle core: it is not
    skewed by other processes on a shared machine (it leaves out waits, e.g. fsync and, in
    the verified run, the pool threads' share of the verification).
    """
    times = []
    cpu_times = []
    for start in range(0, len(transactions), block_txs):
        wall, cpu = dev.apply(transactions[start : start + block_txs], **options)
        times.append(wall)
        cpu_times.append(cpu)
    total = sum(times)
    per_block = [block_txs / t for t in times]
    return {
        "tps": len(transactions) / total,
        "tps_per_commit_thread_cpu_s": len(transactions) / sum(cpu_times),
        "blocks": len(times),
        "block_txs": block_txs,
        "best_block_tps": max(per_block),
        "median_block_tps": statistics.median(per_block),
        "seconds": total,
    }


def profile_one_block(dev: DevLedger, transactions: list[Transaction]) -> str:
    profile = cProfile.Profile()
    dev.clock += 1000
    signed = [dev.ledger.sign_parts(tx) for tx in transactions]
    block = dev.ledger.make_block(signed, time=dev.clock, proposer=dev.admin.public.encoded)
    profile.enable()
    dev.ledger.apply_block(block, preverified=lambda tx_hash: True, signed=signed)
    profile.disable()
    stats = pstats.Stats(profile, stream=sys.stderr)
    stats.sort_stats("cumulative")
    return _top_ledger_functions(stats, 15)


def _top_ledger_functions(stats: pstats.Stats, limit: int) -> str:
    rows = []
    for (filename, line, name), (_, calls, total, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if f"{os.sep}ledger{os.sep}" not in filename:
            continue
        short = filename[filename.rindex(f"{os.sep}ledger{os.sep}") + 1 :]
        rows.append((cumulative, total, calls, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    lines = [f"{'cumulative s':>12} {'own s':>8} {'calls':>8}  function"]
    lines += [f"{cum:12.4f} {own:8.4f} {calls:8d}  {where}" for cum, own, calls, where in rows[:limit]]
    return "\n".join(lines)


def bench_suite(suite: str, plan: Plan) -> dict[str, object]:
    name, algorithm, hash_name = SUITES[suite]
    log(f"[{name}] building a dev ledger on LevelDB ({hash_name}, sync=True)")
    with tempfile.TemporaryDirectory(prefix="jadechain-bench-") as directory:
        dev = DevLedger(directory, algorithm, hash_name)
        try:
            dev.register_users()
            sign_start = time.perf_counter()
            preverified_txs = dev.kv_transactions(plan.block_txs * plan.preverified_blocks, "pre")
            verified_txs = dev.kv_transactions(plan.block_txs * plan.verified_blocks, "ver")
            profile_txs = dev.kv_transactions(plan.block_txs, "prof")
            sign_s = time.perf_counter() - sign_start
            signed = len(preverified_txs) + len(verified_txs) + len(profile_txs)
            log(f"[{name}] pre-signed {signed} transactions in {sign_s:.1f}s")

            preverified = apply_blocks(dev, preverified_txs, plan.block_txs, preverified=lambda tx_hash: True)
            log(f"[{name}] (a) pre-verified apply: {preverified['tps']:,.0f} tx/s "
                f"({preverified['tps_per_commit_thread_cpu_s']:,.0f} per CPU-second of the commit thread)")
            verified = apply_blocks(dev, verified_txs, plan.block_txs)
            log(f"[{name}] (b) verified apply: {verified['tps']:,.0f} tx/s")
            ceiling = measure_verify_ceiling(algorithm, plan.ceiling_s)
            log(f"[{name}] (c) verify ceiling (all {os.cpu_count()} cores): {ceiling:,.0f} verifies/s")
            top = profile_one_block(dev, profile_txs)
            log(f"[{name}] cProfile of one pre-verified {plan.block_txs}-tx block apply, ledger/ top 15 by cumulative:\n{top}")
            height, size = dev.ledger.height, dev.ledger.roots.accumulator_size
        finally:
            dev.close()
    # One transaction carries one signature, so verifies/s and tx/s compare directly.
    ratio = verified["tps"] / ceiling
    return {
        "algorithm": name,
        "hash": hash_name,
        "store": "LevelDB sync=True",
        "users": USERS,
        "presign_tps": signed / sign_s,
        "preverified": preverified,
        "verified": verified,
        "verify_ceiling": ceiling,
        "ratio_verified_to_ceiling": ratio,
        "final_height": height,
        "accumulator_size": size,
    }


def print_summary(results: dict[str, dict[str, object]]) -> None:
    print(f"{'suite':8} {'(a) preverified tx/s':>22} {'(a) per CPU-s':>14} {'(b) verified tx/s':>19} "
          f"{'(c) ceiling/s':>14} {'(b)/(c)':>8}")
    for name, figures in results.items():
        pre = figures["preverified"]["tps"]  # type: ignore[index]
        pre_cpu = figures["preverified"]["tps_per_commit_thread_cpu_s"]  # type: ignore[index]
        ver = figures["verified"]["tps"]  # type: ignore[index]
        print(f"{name:8} {pre:22,.0f} {pre_cpu:14,.0f} {ver:19,.0f} {figures['verify_ceiling']:14,.0f} "
              f"{figures['ratio_verified_to_ceiling']:8.2f}")
    print(f"{'target':8} {TARGET_PREVERIFIED_TPS:>22,} {'':>14} {'':>19} {'':>14} {TARGET_RATIO:>8.2f}")
    for name, figures in results.items():
        pre = figures["preverified"]["tps"]  # type: ignore[index]
        ratio = figures["ratio_verified_to_ceiling"]
        print(f"{name}: (a) {'meets' if pre >= TARGET_PREVERIFIED_TPS else 'below'} target, "
              f"(b)/(c) {'meets' if ratio >= TARGET_RATIO else 'below'} target")  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks, shorter ceiling (< 2 min)")
    parser.add_argument("--crypto", choices=["classic", "sm", "both"], default="both")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ledger_apply.json"))
    args = parser.parse_args()
    tune_garbage_collector()  # as a node process runs its ledger
    plan = QUICK if args.quick else FULL
    suites = ["classic", "sm"] if args.crypto == "both" else [args.crypto]
    started = time.perf_counter()
    results: dict[str, dict[str, object]] = {}
    try:
        for suite in suites:
            figures = bench_suite(suite, plan)
            results[str(figures["algorithm"])] = figures
    finally:
        shutdown_verify_pool()
    print_summary(results)
    headline: dict[str, float] = {}
    for name, figures in results.items():
        headline[f"{name}_preverified_tps"] = round(figures["preverified"]["tps"], 1)  # type: ignore[index]
        headline[f"{name}_preverified_tps_per_cpu_s"] = round(
            figures["preverified"]["tps_per_commit_thread_cpu_s"], 1  # type: ignore[index]
        )
        headline[f"{name}_verified_tps"] = round(figures["verified"]["tps"], 1)  # type: ignore[index]
        headline[f"{name}_ceiling"] = round(figures["verify_ceiling"], 1)  # type: ignore[arg-type]
        headline[f"{name}_ratio"] = round(figures["ratio_verified_to_ceiling"], 3)  # type: ignore[arg-type]
    report = {
        "benchmark": "ledger_apply",
        "quick": args.quick,
        "plan": plan.__dict__,
        "targets": {"preverified_tps": TARGET_PREVERIFIED_TPS, "ratio_verified_to_ceiling": TARGET_RATIO},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "seconds": time.perf_counter() - started,
        "results": results,
        "headline": headline,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
