"""Benchmark of ledger archiving: LevelDB bytes per 10^6 transactions before and after archiving.

Usage: ``python bench/ledger_archive.py [--quick] [--transactions N] [--out FILE]``.

Builds a dev ledger on LevelDB (Ed25519 on SHA-256, as bench/ledger_apply.py does) with N signed
KV-write transactions (each to a new key; ``--quick``: 10^4, default 10^5) in blocks of 500, every
header certified by 3 of the 4 founders; then, with the database compacted each time:

* its size on disk (before),
* ``archive_ledger`` of every block below the last one: files written and the size after,
* ``import_archive`` of those files: the size after (back to the start) and that every key is back.

Bytes are extrapolated linearly to 10^6 transactions. Archive and import cost are reported as
CPU per transaction of this process (stable under load), besides wall time. The very last
stdout line is one JSON object; full figures also go to ``bench/results/ledger_archive.json``.
It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from ledger_apply import DevLedger  # noqa: E402

from ledger.archive import archive_ledger, import_archive  # noqa: E402
from ledger.certificate import assemble_certificate, sign_commit_statement  # noqa: E402
from ledger.crypto import ED25519, sign  # noqa: E402
from ledger.ledger import Ledger  # noqa: E402
from ledger.store.leveldb import LevelDBStore  # noqa: E402

BLOCK_TXS = 500
MILLION = 1_000_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def directory_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def certify_all(dev: DevLedger) -> None:
    ledger = dev.ledger
    for height in range(1, ledger.height + 1):
        header_hash = ledger.hash_header(ledger.get_header(height))
        signatures = [
            sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                  ledger.ledger_hash, height, header_hash, 0)
            for p in dev.founders[:3]
        ]
        ledger.put_certificate(assemble_certificate(ledger.ledger_hash, height, header_hash, 0, signatures))


def compacted_size(path: str) -> int:
    """Bytes of the table files once everything is compacted (twice: a reopen turns the write-ahead
    log into a table first); LevelDB's text LOG files and the manifest are left out."""
    for _ in range(2):
        store = LevelDBStore(path, sync=True, create=False)
        try:
            store.compact()
        finally:
            store.close()
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path)
               if name.endswith((".ldb", ".sst", ".log")))


def run(transactions: int, workdir: str) -> dict[str, object]:
    dev = DevLedger(workdir, ED25519, "SHA256")
    dev.register_users()
    log(f"signing and applying {transactions} transactions in blocks of {BLOCK_TXS} ...")
    for start in range(0, transactions, BLOCK_TXS):
        count = min(BLOCK_TXS, transactions - start)
        dev.apply(dev.kv_transactions(count, f"b{start}"), preverified=lambda tx_hash: True)
    dev.apply([])  # a block whose header certifies the last one's roots
    certify_all(dev)
    height = dev.ledger.height
    total_txs = dev.ledger.roots.accumulator_size
    dev.close()
    path = os.path.join(workdir, "ledger")
    before = compacted_size(path)
    items_before = _items(path)

    archive_dir = os.path.join(workdir, "archive")
    ledger = Ledger(LevelDBStore(path, sync=True, create=False))
    wall, cpu = time.perf_counter(), time.process_time()
    report = archive_ledger(ledger, height, archive_dir)
    archive_wall, archive_cpu = time.perf_counter() - wall, time.process_time() - cpu
    ledger.close()
    after = compacted_size(path)
    files = directory_bytes(archive_dir)

    ledger = Ledger(LevelDBStore(path, sync=True, create=False))
    wall, cpu = time.perf_counter(), time.process_time()
    imported = import_archive(ledger, archive_dir)
    import_wall, import_cpu = time.perf_counter() - wall, time.process_time() - cpu
    ledger.close()
    restored = compacted_size(path)
    identical = _items(path) == items_before

    archived_txs = report.transactions
    return {
        "transactions": total_txs,
        "blocks": height,
        "archived_blocks": report.blocks,
        "archived_transactions": archived_txs,
        "archive_files": len(report.files),
        "leveldb_bytes_before": before,
        "leveldb_bytes_after_archive": after,
        "leveldb_bytes_after_import": restored,
        "archive_file_bytes": files,
        "leveldb_bytes_per_million_tx_before": round(before * MILLION / total_txs),
        "leveldb_bytes_per_million_tx_after": round(after * MILLION / total_txs),
        "archive_bytes_per_million_tx": round(files * MILLION / archived_txs),
        "reduction": round(1 - after / before, 3),
        "archive_cpu_us_per_tx": round(archive_cpu * 1e6 / archived_txs, 1),
        "import_cpu_us_per_tx": round(import_cpu * 1e6 / imported.transactions, 1),
        "archive_wall_s": round(archive_wall, 2),
        "import_wall_s": round(import_wall, 2),
        "import_restores_every_key": identical,
    }


def _items(path: str) -> int:
    """A digest of every key and value (equal before archiving and after importing)."""
    import hashlib

    store = LevelDBStore(path, sync=True, create=False)
    digest = hashlib.sha256()
    try:
        for key, value in store.iterate(b""):
            digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    finally:
        store.close()
    return int.from_bytes(digest.digest()[:8], "big")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 transactions")
    parser.add_argument("--transactions", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ledger_archive.json"))
    args = parser.parse_args()
    transactions = args.transactions or (10_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="jadechain-archive-bench-") as workdir:
        result = run(transactions, workdir)
    for key, value in result.items():
        log(f"{key:>40}: {value}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
