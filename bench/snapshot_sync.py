"""Benchmark state snapshot sync against replaying the state updates from genesis.

A source tree of N keys (10^5; --quick 10^4; --keys to choose) is built in blocks
of 1000 key updates (in-memory node store, SHA-256, 64-byte values). Then a
joining node gets to the same state two ways:

* replay: apply every block's updates to an empty tree (put_batch per block); the
  bytes counted are the updates themselves (32-byte key hash + value per update),
  a lower bound for real blocks, which also carry signed transactions;
* snapshot: the source exports the manifest and chunks (ledger/snapshot.py), the
  joiner verifies the manifest against the root, verifies every chunk and rebuilds
  the tree; bytes are the manifest plus the encoded chunks.

Both must reach the source's root (checked). Writes bench/results/snapshot_sync.json
and prints, as its very last line, one JSON object with the figures. Never passes
or fails on time.

Usage: python bench/snapshot_sync.py [--quick] [--keys N] [--updates-per-key K]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.merkle.state_tree import Node, NodeKey, StateTree
from ledger.snapshot import (
    SnapshotManifest,
    export_snapshot,
    rebuild_state_tree,
    verify_chunk,
)

BLOCK = 1000


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^4 keys")
    parser.add_argument("--keys", type=int, default=None, help="number of keys (default 10^5)")
    parser.add_argument("--updates-per-key", type=int, default=1,
                        help="how often each key is written over the history (replay cost grows with it)")
    parser.add_argument("--prefix-nibbles", type=int, default=2, help="chunks = 16**this")
    args = parser.parse_args()
    n_keys = args.keys if args.keys is not None else (10_000 if args.quick else 100_000)

    # The history: each block writes BLOCK keys; a key is written updates_per_key times.
    blocks: list[list[tuple[bytes, bytes]]] = []
    for round_ in range(args.updates_per_key):
        for start in range(0, n_keys, BLOCK):
            blocks.append([
                (sha256(b"key-%d" % i), (b"value-%d-%d-" % (i, round_)).ljust(64, b"."))
                for i in range(start, min(start + BLOCK, n_keys))
            ])

    def apply(blocks_: list[list[tuple[bytes, bytes]]]) -> tuple[dict[NodeKey, Node], dict[bytes, bytes], bytes]:
        nodes: dict[NodeKey, Node] = {}
        values: dict[bytes, bytes] = {}
        tree = StateTree(sha256, nodes.get)
        root = b""
        for version, updates in enumerate(blocks_):
            pairs: list[tuple[bytes, bytes | None]] = []
            for key, value in updates:
                value_hash = sha256(value)
                values[value_hash] = value
                pairs.append((key, value_hash))
            batch = tree.put_batch(version, version - 1 if version else None, pairs)
            nodes.update(batch.new_nodes)
            root = batch.root_hash
        return nodes, values, root

    source_nodes, source_values, source_root = apply(blocks)
    version = len(blocks) - 1

    started = time.perf_counter()
    _, _, replay_root = apply(blocks)
    replay_seconds = time.perf_counter() - started
    replay_bytes = sum(32 + len(v) for updates in blocks for _, v in updates)
    assert replay_root == source_root

    started = time.perf_counter()
    manifest, chunks = export_snapshot(sha256, source_nodes.get, source_values.get, version, args.prefix_nibbles)
    manifest_bytes = manifest.encode()
    export_seconds = time.perf_counter() - started

    started = time.perf_counter()
    received = SnapshotManifest.decode(manifest_bytes)
    received.verify(sha256, version, source_root)
    verified = [verify_chunk(sha256, received, i, raw) for i, raw in enumerate(chunks)]
    rebuilt = rebuild_state_tree(sha256, received, verified)
    join_seconds = time.perf_counter() - started
    assert rebuilt.root_hash == source_root
    snapshot_bytes = len(manifest_bytes) + sum(len(c) for c in chunks)

    result = {
        "bench": "snapshot_sync",
        "keys": n_keys,
        "blocks": len(blocks),
        "updates_per_key": args.updates_per_key,
        "chunks": len(chunks),
        "replay_seconds": round(replay_seconds, 3),
        "replay_update_bytes": replay_bytes,
        "snapshot_export_seconds": round(export_seconds, 3),
        "snapshot_join_seconds": round(join_seconds, 3),
        "snapshot_bytes": snapshot_bytes,
        "roots_equal": True,
        "python": platform.python_version(),
    }
    out = Path(__file__).resolve().parent / "results" / "snapshot_sync.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
