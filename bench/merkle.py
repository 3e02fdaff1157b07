"""Benchmark the ledger's authenticated structures (pure Python, in-memory node store).

Figures: accumulator appends/s; state-tree key updates/s in batches of 1000 into a
tree of 10^5 keys (--quick: 10^4); proof generation and verification per second
for both structures. Writes bench/results/merkle.json and prints, as its very last
line, one JSON object with the headline figures. Never passes or fails on time.

Usage: python bench/merkle.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.merkle.accumulator import MerkleAccumulator, leaf_hash, verify_inclusion, verify_consistency  # noqa: E402
from ledger.merkle.state_tree import (  # noqa: E402
    Node,
    NodeKey,
    SparseMerkleProof,
    StateTree,
    decode_node,
    encode_node,
    encode_node_key,
    verify_sparse_merkle_proof,
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bench_accumulator(total: int, batch: int, proofs: int) -> dict[str, float]:
    """Append ``total`` leaves in batches, then prove and verify a spread of leaves."""
    store: dict[tuple[int, int], bytes] = {}
    size = 0
    leaves = [b"tx-info-%d" % i for i in range(total)]
    start = time.perf_counter()
    for offset in range(0, total, batch):
        accumulator = MerkleAccumulator(sha256, size, lambda level, index: store.get((level, index)))
        _, size, nodes = accumulator.append(leaves[offset : offset + batch])
        store.update(nodes)
    append_seconds = time.perf_counter() - start
    accumulator = MerkleAccumulator(sha256, size, lambda level, index: store.get((level, index)))
    root = accumulator.root_hash()
    step = max(1, total // proofs)
    indexes = list(range(0, total, step))[:proofs]
    start = time.perf_counter()
    generated = [accumulator.inclusion_proof(i, size) for i in indexes]
    proof_seconds = time.perf_counter() - start
    leaf_hashes = [leaf_hash(sha256, leaves[i]) for i in indexes]
    start = time.perf_counter()
    for i, lh, proof in zip(indexes, leaf_hashes, generated):
        verify_inclusion(sha256, i, size, lh, proof, root)
    verify_seconds = time.perf_counter() - start
    start = time.perf_counter()
    consistency = [(old, accumulator.consistency_proof(old, size)) for old in indexes if old > 0]
    consistency_seconds = time.perf_counter() - start
    for old, proof in consistency:
        verify_consistency(sha256, old, size, accumulator.root_hash(old), root, proof)
    return {
        "leaves": total,
        "append_batch": batch,
        "appends_per_s": total / append_seconds,
        "inclusion_proofs_per_s": len(indexes) / proof_seconds,
        "inclusion_verifies_per_s": len(indexes) / verify_seconds,
        "consistency_proofs_per_s": len(consistency) / consistency_seconds,
    }


class ObjectStore:
    """Nodes kept as Python objects in a dict (an in-process cache of the whole tree)."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, Node] = {}
        self.get = self.nodes.get

    def put(self, new_nodes: dict[NodeKey, Node]) -> None:
        self.nodes.update(new_nodes)

    def __len__(self) -> int:
        return len(self.nodes)


class BytesStore:
    """Nodes kept as canonical bytes, as the LevelDB-backed executor stores them."""

    def __init__(self) -> None:
        self.raw: dict[bytes, bytes] = {}

    def get(self, node_key: NodeKey) -> Node | None:
        data = self.raw.get(encode_node_key(node_key))
        return None if data is None else decode_node(data)

    def put(self, new_nodes: dict[NodeKey, Node]) -> None:
        for node_key, node in new_nodes.items():
            self.raw[encode_node_key(node_key)] = encode_node(node)

    def __len__(self) -> int:
        return len(self.raw)


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time is steadier on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_state_tree(store_kind: str, preload: int, batch: int, batches: int, proofs: int) -> dict[str, float]:
    """Preload ``preload`` keys, time ``batches`` batches of ``batch`` updates, then proofs."""
    store: ObjectStore | BytesStore = ObjectStore() if store_kind == "objects" else BytesStore()
    tree = StateTree(sha256, store.get)
    version: int | None = None
    key_count = 0

    def commit(updates: list[tuple[bytes, bytes | None]]) -> bytes:
        nonlocal version
        new_version = 0 if version is None else version + 1
        result = tree.put_batch(new_version, version, updates)
        store.put(result.new_nodes)
        version = new_version
        return result.root_hash

    def preload_all() -> None:
        nonlocal key_count
        while key_count < preload:
            chunk = min(10_000, preload - key_count)
            commit([(sha256(b"k%d" % i), sha256(b"v%d" % i)) for i in range(key_count, key_count + chunk)])
            key_count += chunk

    preload_wall, _ = timed(preload_all)

    def prepare(rounds: int, salt: int) -> list[list[tuple[bytes, bytes | None]]]:
        """Batches of half updates of existing keys, half new keys (hashes made up front)."""
        nonlocal key_count
        prepared = []
        for b in range(rounds):
            updates: list[tuple[bytes, bytes | None]] = []
            for j in range(batch // 2):
                i = (b * 7919 + j * 104729 + salt) % preload
                updates.append((sha256(b"k%d" % i), sha256(b"v%d-%d-%d" % (i, b, salt))))
            for _ in range(batch - batch // 2):
                updates.append((sha256(b"k%d" % key_count), sha256(b"v%d" % key_count)))
                key_count += 1
            prepared.append(updates)
        return prepared

    def apply(prepared: list[list[tuple[bytes, bytes | None]]]) -> None:
        for updates in prepared:
            commit(updates)

    result: dict[str, float] = {"preload_keys": preload, "batch_size": batch, "batches": batches}
    result["preload_updates_per_s"] = preload / preload_wall
    measured = prepare(batches, 1)
    wall, cpu = timed(lambda: apply(measured))
    result["updates_per_s"] = batch * batches / wall
    result["updates_per_cpu_s"] = batch * batches / cpu
    if store_kind == "objects":
        # The whole tree as live objects makes every full GC pass rescan it; a
        # node that keeps its tree in LevelDB does not pay that, so also measure
        # with the preloaded heap frozen out of the collector's sight.
        gc.collect()
        gc.freeze()
        measured = prepare(batches, 2)
        wall, cpu = timed(lambda: apply(measured))
        gc.unfreeze()
        result["updates_per_s_gc_frozen"] = batch * batches / wall
        result["updates_per_cpu_s_gc_frozen"] = batch * batches / cpu
    assert version is not None
    root = tree.root_hash(version)
    result["final_keys"] = key_count
    result["nodes_stored"] = len(store)

    probe = [sha256(b"k%d" % (i * (key_count // proofs))) for i in range(proofs)]
    probe += [sha256(b"absent%d" % i) for i in range(proofs // 4)]
    generated: list[tuple[bytes | None, SparseMerkleProof]] = []
    wall, _ = timed(lambda: generated.extend(tree.get_with_proof(k, version) for k in probe))
    result["proofs_per_s"] = len(probe) / wall

    def verify_all() -> None:
        for k, (found, proof) in zip(probe, generated):
            verify_sparse_merkle_proof(sha256, root, k, found, proof)

    wall, _ = timed(verify_all)
    result["verifies_per_s"] = len(probe) / wall
    wall, _ = timed(lambda: [tree.get(k, version) for k in probe])
    result["gets_per_s"] = len(probe) / wall
    result["mean_proof_siblings"] = sum(len(p.siblings) for _, p in generated) / len(generated)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few seconds")
    args = parser.parse_args()
    if args.quick:
        accumulator = bench_accumulator(total=20_000, batch=1000, proofs=1000)
        sizes = {"preload": 10_000, "batch": 1000, "batches": 5, "proofs": 1000}
    else:
        accumulator = bench_accumulator(total=200_000, batch=1000, proofs=5000)
        sizes = {"preload": 100_000, "batch": 1000, "batches": 20, "proofs": 5000}
    state = bench_state_tree("objects", **sizes)
    state_bytes = bench_state_tree("bytes", **sizes)
    result = {
        "benchmark": "merkle",
        "quick": args.quick,
        "hash": "sha256",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "accumulator": accumulator,
        "state_tree": state,
        "state_tree_bytes_store": state_bytes,
    }
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "merkle.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    headline = {
        "accumulator_appends_per_s": round(accumulator["appends_per_s"]),
        "accumulator_inclusion_proofs_per_s": round(accumulator["inclusion_proofs_per_s"]),
        "accumulator_inclusion_verifies_per_s": round(accumulator["inclusion_verifies_per_s"]),
        "state_tree_keys": sizes["preload"],
        "state_tree_updates_per_s": round(state["updates_per_s"]),
        "state_tree_updates_per_cpu_s": round(state["updates_per_cpu_s"]),
        "state_tree_updates_per_s_gc_frozen": round(state["updates_per_s_gc_frozen"]),
        "state_tree_updates_per_s_bytes_store": round(state_bytes["updates_per_s"]),
        "state_tree_updates_per_cpu_s_bytes_store": round(state_bytes["updates_per_cpu_s"]),
        "state_tree_proofs_per_s": round(state["proofs_per_s"]),
        "state_tree_verifies_per_s": round(state["verifies_per_s"]),
        "quick": args.quick,
    }
    print(json.dumps(headline, sort_keys=True))


if __name__ == "__main__":
    main()
