"""How the ledger's cost per transaction changes as the ledger grows: CPU, LevelDB bytes, reads.

Usage: ``python bench/ledger_growth.py [--quick] [--blocks N] [--block-txs N] [--out FILE]``.

``bench/ledger_apply.py`` measures a few blocks on a young ledger. A node that has run for a while
pays more per transaction: the state tree is deeper, a new transaction's replay check and a new
key's version lookup miss in a larger LevelDB, and LevelDB's background compaction rewrites what
earlier blocks wrote. This applies ``--blocks`` pre-verified blocks of KV writes (new keys, as the
``bench tps`` load writes them) to a dev ledger on LevelDB, as a node stores them, and reports per
stretch of blocks:

* the commit thread's CPU per transaction (execution, state tree, accumulator, batch building);
* the whole process's CPU per transaction over the same span, which adds building the block and
  LevelDB's background compaction thread (transactions are signed before the clock starts, so the
  process does nothing else meanwhile);
* bytes written per transaction, by table (the one-letter tag of ``ledger/store/schema.py``),
  store reads per transaction by table, and the LevelDB directory's size per committed transaction.

Process CPU is stable on a shared machine where wall time is not. The very last stdout line is one
JSON object of headline figures; full figures go to ``bench/results/ledger_growth.json`` (or
``--out``). It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import ledger_apply
import psutil

from ledger.crypto import ED25519
from ledger.store.leveldb import LevelDBStore
from node.process import tune_garbage_collector

STRETCHES = 5


class CountingStore(LevelDBStore):
    """A LevelDB store that counts what the ledger writes and reads, by table tag."""

    def __init__(self, path: str, **options: bool) -> None:
        super().__init__(path, **options)
        self.written: collections.Counter[str] = collections.Counter()
        self.reads: collections.Counter[str] = collections.Counter()

    def get(self, key: bytes) -> bytes | None:
        self.reads[key[1:2].decode("latin-1")] += 1
        return super().get(key)

    def write_items(self, items: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in items:
            self.written[key[1:2].decode("latin-1")] += len(key) + (len(value) if value is not None else 0)
        super().write_items(items)


def directory_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


class Stretch:
    """Figures of consecutive blocks."""

    def __init__(self, store: CountingStore, first_block: int, committed_before: int) -> None:
        self.store = store
        self.first_block = first_block
        self.committed_before = committed_before
        self.thread_s = 0.0
        self.process_s = 0.0
        self.txs = 0
        self.written_before = collections.Counter(store.written)
        self.reads_before = collections.Counter(store.reads)

    def report(self, last_block: int) -> dict[str, object]:
        written = self.store.written - self.written_before
        reads = self.store.reads - self.reads_before
        return {
            "blocks": f"{self.first_block}-{last_block}",
            "committed_before": self.committed_before,
            "commit_thread_cpu_us_per_tx": round(1e6 * self.thread_s / self.txs, 1),
            "process_cpu_us_per_tx": round(1e6 * self.process_s / self.txs, 1),
            "bytes_written_per_tx": round(sum(written.values()) / self.txs, 1),
            "bytes_written_per_tx_by_table": {tag: round(n / self.txs, 1) for tag, n in written.most_common()},
            "reads_per_tx_by_table": {tag: round(n / self.txs, 2) for tag, n in reads.most_common()},
        }


def run(blocks: int, block_txs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="jadechain-bench-growth-") as directory:
        ledger_apply.LevelDBStore = CountingStore  # type: ignore[attr-defined]  # the dev ledger opens its store through it
        dev = ledger_apply.DevLedger(directory, ED25519, "SHA256")
        store = dev.store
        if not isinstance(store, CountingStore):
            raise TypeError("the dev ledger did not open its store through CountingStore")
        try:
            dev.register_users()
            tune_garbage_collector()
            per_stretch = max(1, blocks // STRETCHES)
            reports: list[dict[str, object]] = []
            # Signing is the clients' work: every block is signed before the clock starts, so that the
            # process clock of a stretch holds only applying blocks and LevelDB's background work.
            log(f"signing {blocks * block_txs} transactions")
            signed_blocks = [
                [dev.ledger.sign_parts(tx) for tx in dev.kv_transactions(block_txs, f"b{index}")]
                for index in range(blocks)
            ]
            stretch = Stretch(store, 1, 0)
            process_start = time.process_time()
            for index, signed in enumerate(signed_blocks):
                dev.clock += 1000
                block = dev.ledger.make_block(signed, time=dev.clock, proposer=dev.admin.public.encoded)
                thread_start = time.thread_time()
                dev.ledger.apply_block(block, signed=signed, preverified=lambda tx_hash: True)
                stretch.thread_s += time.thread_time() - thread_start
                stretch.txs += block_txs
                if (index + 1) % per_stretch == 0 or index == blocks - 1:
                    now = time.process_time()
                    stretch.process_s, process_start = now - process_start, now
                    reports.append(stretch.report(index + 1))
                    log(f"blocks {reports[-1]['blocks']}: {reports[-1]['process_cpu_us_per_tx']} µs of process CPU "
                        f"per tx ({reports[-1]['commit_thread_cpu_us_per_tx']} in the commit thread), "
                        f"{reports[-1]['bytes_written_per_tx']} B written per tx")
                    stretch = Stretch(store, index + 2, (index + 1) * block_txs)
            committed = blocks * block_txs
            ledger_bytes = directory_bytes(directory)
            rss_mb = psutil.Process().memory_info().rss / 1e6
        finally:
            dev.close()
    return {
        "blocks": blocks,
        "block_txs": block_txs,
        "committed": committed,
        "stretches": reports,
        "leveldb_bytes_per_tx": round(ledger_bytes / committed, 1),
        "rss_mb_end": round(rss_mb, 1),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 blocks (about two minutes)")
    parser.add_argument("--blocks", type=int, default=None, help="blocks to apply (default 100; 20 with --quick)")
    parser.add_argument("--block-txs", type=int, default=2000)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ledger_growth.json"))
    args = parser.parse_args()
    blocks = args.blocks or (20 if args.quick else 100)
    if blocks < 1 or args.block_txs < 1:
        parser.error("--blocks and --block-txs must be positive")
    started = time.perf_counter()
    figures = run(blocks, args.block_txs)
    first, last = figures["stretches"][0], figures["stretches"][-1]  # type: ignore[index]
    headline = {
        "committed": figures["committed"],
        "process_cpu_us_per_tx_first": first["process_cpu_us_per_tx"],
        "process_cpu_us_per_tx_last": last["process_cpu_us_per_tx"],
        "commit_thread_cpu_us_per_tx_first": first["commit_thread_cpu_us_per_tx"],
        "commit_thread_cpu_us_per_tx_last": last["commit_thread_cpu_us_per_tx"],
        "bytes_written_per_tx": last["bytes_written_per_tx"],
        "leveldb_bytes_per_tx": figures["leveldb_bytes_per_tx"],
        "rss_mb_end": figures["rss_mb_end"],
    }
    report = {
        "benchmark": "ledger_growth",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_end": os.getloadavg()},
        "seconds": round(time.perf_counter() - started, 1),
        **figures,
        "headline": headline,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}")
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
