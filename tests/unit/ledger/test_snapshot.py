"""State snapshots: export in chunks, verify each chunk against the certified root, rebuild, continue."""

from __future__ import annotations

import hashlib

import pytest

from ledger.errors import CodecError
from ledger.merkle.state_tree import (
    Node,
    NodeKey,
    StateTree,
)
from ledger.snapshot import (
    FetchChunk,
    SnapshotManifest,
    SnapshotRejected,
    StateChunk,
    export_snapshot,
    fetch_snapshot,
    iter_leaves,
    rebuild_state_tree,
    store_node_reader,
    store_value_reader,
    verify_chunk,
    write_rebuilt_tree,
)
from ledger.store import schema
from ledger.store.memory import MemoryStore
from tests.unit.ledger.ledger_testkit import make_chain


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class VersionedTree:
    """A state tree in a dict, with values stored by value hash (as the ledger does)."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, Node] = {}
        self.values: dict[bytes, bytes] = {}
        self.version: int | None = None
        self.tree = StateTree(sha256, self.nodes.get)

    def commit(self, updates: dict[bytes, bytes | None]) -> bytes:
        pairs: list[tuple[bytes, bytes | None]] = []
        for key, value in updates.items():
            if value is None:
                pairs.append((key, None))
            else:
                value_hash = sha256(value)
                self.values[value_hash] = value
                pairs.append((key, value_hash))
        version = 0 if self.version is None else self.version + 1
        batch = self.tree.put_batch(version, self.version, pairs)
        self.nodes.update(batch.new_nodes)
        self.version = version
        return batch.root_hash


def key(i: int) -> bytes:
    return sha256(b"key-%d" % i)


def build_history(n_keys: int, blocks: int = 4) -> VersionedTree:
    tree = VersionedTree()
    for block in range(blocks):
        updates: dict[bytes, bytes | None] = {
            key(i): b"value-%d-%d" % (i, block) for i in range(block, n_keys, blocks - block)
        }
        if block:
            updates[key(block - 1)] = None  # a delete in every later block
        tree.commit(updates)
    return tree


def sync(source: VersionedTree, prefix_nibbles: int = 2) -> tuple[VersionedTree, SnapshotManifest, list[bytes]]:
    assert source.version is not None
    root = source.tree.root_hash(source.version)
    manifest, chunks = export_snapshot(sha256, source.nodes.get, source.values.get, source.version, prefix_nibbles)
    received = SnapshotManifest.decode(manifest.encode())
    received.verify(sha256, source.version, root)
    verified = [verify_chunk(sha256, received, i, raw) for i, raw in enumerate(chunks)]
    batch = rebuild_state_tree(sha256, received, verified)
    target = VersionedTree()
    target.nodes.update(batch.new_nodes)
    for chunk in verified:
        for _, value_hash, value in chunk.leaves:
            target.values[value_hash] = value
    target.version = source.version
    return target, received, chunks


@pytest.mark.parametrize("n_keys,prefix_nibbles", [(0, 1), (1, 1), (2, 2), (40, 1), (300, 2), (300, 3)])
def test_round_trip_gives_the_same_root_leaves_and_next_roots(n_keys: int, prefix_nibbles: int) -> None:
    source = build_history(max(n_keys, 4)) if n_keys else VersionedTree()
    if not n_keys:
        source.commit({})
    target, manifest, chunks = sync(source, prefix_nibbles)
    version = source.version
    assert version is not None
    assert len(chunks) == 16**prefix_nibbles
    assert target.tree.root_hash(version) == source.tree.root_hash(version) == manifest.root_hash
    assert list(iter_leaves(target.nodes.get, version)) == list(iter_leaves(source.nodes.get, version))
    # Blocks after the snapshot apply with identical roots (inserts, updates and deletes).
    for step in range(3):
        updates: dict[bytes, bytes | None] = {key(1000 + step): b"new", key(step): b"changed-%d" % step}
        updates[key(step + 2)] = None
        assert target.commit(dict(updates)) == source.commit(dict(updates))


def test_every_single_byte_change_in_a_chunk_is_refused() -> None:
    source = build_history(60)
    _, manifest, chunks = sync(source, 1)
    index = max(range(len(chunks)), key=lambda i: len(chunks[i]))
    raw = chunks[index]
    assert len(StateChunk.decode(raw).leaves) >= 2
    for position in range(len(raw)):
        for flip in (0x01, 0x80):
            corrupted = bytearray(raw)
            corrupted[position] ^= flip
            with pytest.raises((SnapshotRejected, CodecError)):
                verify_chunk(sha256, manifest, index, bytes(corrupted))
    # A chunk that drops or duplicates a leaf, or is sent under another index, is refused too.
    chunk = StateChunk.decode(raw)
    dropped = StateChunk(chunk.version, chunk.prefix_nibbles, index, chunk.leaves[1:]).encode()
    doubled = StateChunk(chunk.version, chunk.prefix_nibbles, index, chunk.leaves + chunk.leaves[-1:]).encode()
    for bad in (dropped, doubled, raw + b"\x00"):
        with pytest.raises((SnapshotRejected, CodecError)):
            verify_chunk(sha256, manifest, index, bad)
    other = (index + 1) % len(chunks)
    with pytest.raises(SnapshotRejected):
        verify_chunk(sha256, manifest, other, raw)


def test_a_manifest_that_does_not_fold_to_the_certified_root_is_refused() -> None:
    source = build_history(50)
    assert source.version is not None
    root = source.tree.root_hash(source.version)
    manifest, _ = export_snapshot(sha256, source.nodes.get, source.values.get, source.version, 1)
    encoded = manifest.encode()
    for position in range(len(encoded)):
        corrupted = bytearray(encoded)
        corrupted[position] ^= 0x01
        with pytest.raises((SnapshotRejected, CodecError)):
            SnapshotManifest.decode(bytes(corrupted)).verify(sha256, source.version, root)
    with pytest.raises(SnapshotRejected):
        manifest.verify(sha256, source.version, sha256(b"another root"))
    with pytest.raises(SnapshotRejected):
        manifest.verify(sha256, source.version - 1, root)


def test_rebuild_needs_every_chunk_in_order() -> None:
    source = build_history(30)
    _, manifest, chunks = sync(source, 1)
    verified = [verify_chunk(sha256, manifest, i, raw) for i, raw in enumerate(chunks)]
    with pytest.raises(SnapshotRejected):
        rebuild_state_tree(sha256, manifest, verified[:-1])
    with pytest.raises(SnapshotRejected):
        rebuild_state_tree(sha256, manifest, list(reversed(verified)))


def test_snapshot_of_a_real_ledger_matches_its_certified_header_root() -> None:
    chain = make_chain()
    for i in range(3):
        chain.new_data_account(f"snapshot-account-{i}")
    ledger = chain.ledger
    store = ledger.store
    height = ledger.height
    # A header carries the state root *before* its block: version H is certified by header H + 1.
    chain.new_data_account("snapshot-account-after")
    chain.commit()
    header = ledger.get_header(height + 1)

    manifest, chunks = export_snapshot(ledger.hash_fn, store_node_reader(store), store_value_reader(store), height)
    manifest.verify(ledger.hash_fn, height, header.state_root)
    verified = [verify_chunk(ledger.hash_fn, manifest, i, raw) for i, raw in enumerate(chunks)]
    assert sum(len(c.leaves) for c in verified) > 3
    rebuilt = rebuild_state_tree(ledger.hash_fn, manifest, verified)
    assert rebuilt.root_hash == header.state_root

    # Persist into a fresh store and apply the next block's state changes there.
    fresh = MemoryStore()
    batch = fresh.atomic_batch()
    write_rebuilt_tree(batch, rebuilt, verified)
    batch.commit()
    tree = StateTree(ledger.hash_fn, store_node_reader(fresh))
    assert tree.root_hash(height) == header.state_root
    before = dict(iter_leaves(store_node_reader(store), height))
    after = dict(iter_leaves(store_node_reader(store), height + 1))
    assert before != after
    changes: list[tuple[bytes, bytes | None]] = [(k, v) for k, v in after.items() if before.get(k) != v]
    changes += [(k, None) for k in before if k not in after]
    next_root = tree.put_batch(height + 1, height, changes).root_hash
    assert next_root == ledger.get_header(height + 2).state_root
    for value_hash in after.values():
        if value_hash in before.values():
            assert fresh.get(schema.make_leaf_value_key(value_hash)) == store.get(schema.make_leaf_value_key(value_hash))


def test_a_corrupted_chunk_is_refused_and_refetched_from_another_peer() -> None:
    source = build_history(80)
    version = source.version
    assert version is not None
    root = source.tree.root_hash(version)
    manifest, chunks = export_snapshot(sha256, source.nodes.get, source.values.get, version, 1)
    manifest.verify(sha256, version, root)
    asked: list[tuple[int, int]] = []

    def honest(peer: int) -> FetchChunk:
        def fetch(index: int) -> bytes:
            asked.append((peer, index))
            return chunks[index]
        return fetch

    def corrupting(index: int) -> bytes:
        asked.append((1, index))
        raw = bytearray(chunks[index])
        raw[-1] ^= 0x40
        return bytes(raw)

    def unavailable(index: int) -> bytes:
        asked.append((2, index))
        raise ConnectionError("peer down")

    fetched, report = fetch_snapshot(sha256, manifest, [honest(0), corrupting, unavailable])
    assert [c.encode() for c in fetched] == chunks
    # Every chunk first asked of the corrupting peer was refused there and fetched from the next peers.
    refused_at_1 = sorted(i for i, peer, _ in report.refused if peer == 1)
    assert refused_at_1 == [i for i in range(16) if i % 3 == 1]  # chunk i goes to peer i % 3 first
    assert {code for _, peer, code in report.refused if peer == 1} <= {"SNAPSHOT_REJECTED", "MALFORMED_ENCODING"}
    assert {code for _, peer, code in report.refused if peer == 2} == {"PEER_UNAVAILABLE"}
    assert all((0, i) in asked for i in range(16))
    assert rebuild_state_tree(sha256, manifest, fetched).root_hash == root

    with pytest.raises(SnapshotRejected):
        fetch_snapshot(sha256, manifest, [corrupting, unavailable])
