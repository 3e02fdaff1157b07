"""Properties of state snapshots over arbitrary histories of inserts, updates and deletes."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import CodecError
from ledger.snapshot import (
    SnapshotManifest,
    SnapshotRejected,
    export_snapshot,
    iter_leaves,
    rebuild_state_tree,
    verify_chunk,
)
from tests.unit.ledger.test_snapshot import VersionedTree, sha256

keys = st.binary(min_size=1, max_size=6).map(lambda b: hashlib.sha256(b).digest())
blocks = st.lists(
    st.dictionaries(keys, st.one_of(st.none(), st.binary(min_size=0, max_size=12)), max_size=25),
    min_size=1,
    max_size=5,
)


def replay(history: list[dict[bytes, bytes | None]]) -> VersionedTree:
    tree = VersionedTree()
    for updates in history:
        tree.commit(updates)
    return tree


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, blocks, st.integers(min_value=1, max_value=2))
def test_a_synced_tree_has_the_same_root_leaves_and_later_roots(
    history: list[dict[bytes, bytes | None]], later: list[dict[bytes, bytes | None]], prefix_nibbles: int
) -> None:
    source = replay(history)
    version = source.version
    assert version is not None
    root = source.tree.root_hash(version)
    manifest, chunks = export_snapshot(sha256, source.nodes.get, source.values.get, version, prefix_nibbles)
    received = SnapshotManifest.decode(manifest.encode())
    received.verify(sha256, version, root)
    verified = [verify_chunk(sha256, received, i, raw) for i, raw in enumerate(chunks)]
    batch = rebuild_state_tree(sha256, received, verified)
    assert batch.root_hash == root
    target = VersionedTree()
    target.nodes.update(batch.new_nodes)
    target.version = version
    assert list(iter_leaves(target.nodes.get, version)) == list(iter_leaves(source.nodes.get, version))
    for updates in later:
        assert target.commit(dict(updates)) == source.commit(dict(updates))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, st.data())
def test_any_changed_byte_in_any_chunk_is_refused(history: list[dict[bytes, bytes | None]], data: st.DataObject) -> None:
    source = replay(history)
    version = source.version
    assert version is not None
    manifest, chunks = export_snapshot(sha256, source.nodes.get, source.values.get, version, 1)
    index = data.draw(st.integers(min_value=0, max_value=len(chunks) - 1))
    raw = chunks[index]
    position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    corrupted = bytearray(raw)
    corrupted[position] ^= flip
    try:
        verify_chunk(sha256, manifest, index, bytes(corrupted))
    except (SnapshotRejected, CodecError):
        pass
    else:
        raise AssertionError(f"chunk {index} with byte {position} ^ {flip:#x} was accepted")
