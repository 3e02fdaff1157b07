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
  apply_block  ``Ledger.apply_block(preverified=mempool.is_verified)``, and a cProfile
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
        txs = mempool.pull(block_txs)
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
            time.thread_time, lambda: dev.ledger.apply_block(block, preverified=mempool.is_verified)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer transactions (about half a minute)")
    parser.add_argument("--crypto", choices=["classic", "sm"], default="classic")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "profile_tx_path.json"))
    args = parser.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
