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

Both must reach the source's root (checked).

``--node`` measures what a joining *node* does instead, on real ledgers in LevelDB (fsync off
in all three, so the disk does not dominate): a source ledger gets N signed KV writes on one data
account in blocks of 1000 transactions, and a fresh ledger (genesis only) reaches the same height
two ways:

* replay: apply every source block (signatures skipped, as under a commit certificate); bytes are
  the encoded blocks;
* snapshot join: the source exports its offer and chunks at H (header H + 1 certified by 3 of the
  4 founders), the joiner verifies the offer against the genesis validators, every chunk against
  the manifest, and imports; bytes are the offer plus the chunks.

Both must end with the source's roots and then apply the source's next block with identical roots.
Times are wall and process CPU seconds. Writes bench/results/snapshot_sync.json (or
snapshot_sync_node.json) and prints, as its very last line, one JSON object with the figures. Never
passes or fails on time.

Usage: python bench/snapshot_sync.py [--quick] [--keys N] [--updates-per-key K] [--node]
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
    parser.add_argument("--node", action="store_true",
                        help="whole ledgers in LevelDB: snapshot join (offer + chunks + import) against block replay")
    args = parser.parse_args()
    n_keys = args.keys if args.keys is not None else (10_000 if args.quick else 100_000)
    if args.node:
        node_join(n_keys, args.prefix_nibbles)
        return

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


def _timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def node_join(n_keys: int, prefix_nibbles: int) -> None:
    import tempfile

    from ledger import codec
    from ledger.certificate import ValidatorSignature, assemble_certificate, encode_commit_statement
    from ledger.crypto import sign
    from ledger.snapshot import verify_chunk
    from ledger.snapshot_ledger import (
        LedgerSnapshotOffer,
        export_ledger_snapshot,
        import_ledger_snapshot,
        verify_offer,
    )
    from ledger.store.directory import create_ledger
    from tests.unit.ledger.ledger_testkit import make_chain

    work = Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    chain = make_chain()
    genesis = chain.ledger.get_block(0)
    source = create_ledger(str(work / "source"), genesis, sync=False)
    chain.ledger = source
    account = chain.new_data_account("bench-account")
    started = time.perf_counter()
    for start in range(0, n_keys, BLOCK):
        chain.commit(*[chain.tx(lambda b, i=i: b.kv_set(account, f"key-{i}", f"value-{i}".ljust(48, ".")))
                       for i in range(start, min(start + BLOCK, n_keys))])
    build_seconds = time.perf_counter() - started
    height = source.height
    chain.commit(chain.tx(lambda b: b.kv_set(account, "after-snapshot", 1)))  # block H + 1
    following = source.get_header(height + 1)
    header_hash = source.hash_header(following)
    statement = encode_commit_statement(source.ledger_hash, height + 1, header_hash, following.epoch)
    source.put_certificate(assemble_certificate(source.ledger_hash, height + 1, header_hash, following.epoch, [
        ValidatorSignature(p.public.encoded, sign(p.private, statement)) for p in chain.founders[:3]]))
    blocks = [source.get_block(h) for h in range(1, height + 1)]

    replayer = create_ledger(str(work / "replay"), genesis, sync=False)
    _, replay_wall, replay_cpu = _timed(lambda: [replayer.apply_block(b, preverified=lambda _: True) for b in blocks])
    assert replayer.roots == source.roots_at(height)
    replay_bytes = sum(len(codec.encode(b)) for b in blocks)

    (offer, chunks), export_wall, export_cpu = _timed(lambda: export_ledger_snapshot(source, height, prefix_nibbles))
    offer_bytes = offer.encode()
    joiner = create_ledger(str(work / "join"), genesis, sync=False)

    def join() -> None:
        received = LedgerSnapshotOffer.decode(offer_bytes)
        verify_offer(received, ledger_hash=joiner.ledger_hash, hash_fn=joiner.hash_fn, hash_code=joiner.hash_code,
                     validators=joiner.validator_set(0))
        verified = [verify_chunk(joiner.hash_fn, received.manifest, i, raw) for i, raw in enumerate(chunks)]
        import_ledger_snapshot(joiner, received, verified)
    _, join_wall, join_cpu = _timed(join)
    assert joiner.roots == source.roots_at(height)
    for ledger in (replayer, joiner):  # both continue with the source's next block and equal roots
        assert ledger.apply_block(source.get_block(height + 1), preverified=lambda _: True).roots == source.roots
    result = {
        "bench": "snapshot_sync_node", "keys": n_keys, "height": height, "txs": n_keys + 1,
        "chunks": len(chunks), "source_build_seconds": round(build_seconds, 1),
        "replay_wall_seconds": replay_wall, "replay_cpu_seconds": replay_cpu, "replay_bytes": replay_bytes,
        "snapshot_export_wall_seconds": export_wall, "snapshot_export_cpu_seconds": export_cpu,
        "snapshot_join_wall_seconds": join_wall, "snapshot_join_cpu_seconds": join_cpu,
        "snapshot_bytes": len(offer_bytes) + sum(len(c) for c in chunks), "roots_equal": True,
        "python": platform.python_version(),
    }
    for ledger in (source, replayer, joiner):
        ledger.close()
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    out = Path(__file__).resolve().parent / "results" / "snapshot_sync_node.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
