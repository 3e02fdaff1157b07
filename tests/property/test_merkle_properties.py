"""Hypothesis properties of the accumulator and the state tree against plain models."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import CodecError, ProofError
from ledger.merkle.accumulator import (
    MerkleAccumulator,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.merkle.state_tree import (
    SPARSE_MERKLE_PLACEHOLDER_HASH,
    Child,
    FoldCache,
    InternalNode,
    LeafNode,
    Node,
    NodeKey,
    SparseMerkleProof,
    StateTree,
    decode_node,
    decode_node_key,
    encode_node,
    encode_node_key,
    verify_sparse_merkle_proof,
)

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha3_256(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


hash_fns = st.sampled_from([sha256, sha3_256])


# --- accumulator ------------------------------------------------------------------

def append_in_batches(hash_fn: HashFn, leaves: list[bytes], cuts: list[int]) -> tuple[bytes, dict[tuple[int, int], bytes]]:
    store: dict[tuple[int, int], bytes] = {}
    size = 0
    root = hash_fn(b"")
    bounds = sorted({min(c, len(leaves)) for c in cuts} | {0, len(leaves)})
    for start, end in zip(bounds, bounds[1:]):
        accumulator = MerkleAccumulator(hash_fn, size, lambda level, index: store.get((level, index)))
        root, size, nodes = accumulator.append(leaves[start:end])
        store.update(nodes)
    return root, store


@settings(max_examples=60, deadline=None)
@given(
    hash_fn=hash_fns,
    leaves=st.lists(st.binary(max_size=8), max_size=70),
    cuts=st.lists(st.integers(min_value=0, max_value=70), max_size=6),
)
def test_appending_in_batches_equals_appending_at_once(
    hash_fn: HashFn, leaves: list[bytes], cuts: list[int]
) -> None:
    at_once = append_in_batches(hash_fn, leaves, [])
    batched = append_in_batches(hash_fn, leaves, cuts)
    assert batched == at_once


@settings(max_examples=60, deadline=None)
@given(
    hash_fn=hash_fns,
    size=st.integers(min_value=1, max_value=200),
    data=st.data(),
)
def test_proofs_of_any_historical_size_verify(hash_fn: HashFn, size: int, data: st.DataObject) -> None:
    leaves = [b"leaf-%d" % i for i in range(size)]
    root, store = append_in_batches(hash_fn, leaves, [size // 3, size // 2])
    accumulator = MerkleAccumulator(hash_fn, size, lambda level, index: store.get((level, index)))
    assert accumulator.root_hash() == root
    new = data.draw(st.integers(min_value=1, max_value=size), label="new")
    old = data.draw(st.integers(min_value=0, max_value=new), label="old")
    index = data.draw(st.integers(min_value=0, max_value=new - 1), label="index")
    new_root = accumulator.root_hash(new)
    verify_inclusion(hash_fn, index, new, leaf_hash(hash_fn, leaves[index]), accumulator.inclusion_proof(index, new), new_root)
    proof = accumulator.consistency_proof(old, new)
    verify_consistency(hash_fn, old, new, accumulator.root_hash(old), new_root, proof)
    if 0 < old < new:
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="position")
        tampered = list(proof)
        tampered[position] = sha256(tampered[position])
        with pytest.raises(ProofError):
            verify_consistency(hash_fn, old, new, accumulator.root_hash(old), new_root, tampered)


# --- state tree -------------------------------------------------------------------

# A small key universe with deliberately shared prefixes, so collisions on the
# first nibbles (deep internal chains, hoisting on delete) happen often.
KEYS = (
    [sha256(b"key-%d" % i) for i in range(24)]
    + [bytes([0xAB, 0xCD]) + bytes([i]) * 30 for i in range(4)]
    + [bytes(31) + bytes([i]) for i in (0, 1, 0x10, 0x11)]
)
VALUES = [sha256(b"value-%d" % i) for i in range(8)]

def reference_root(hash_fn: HashFn, items: dict[bytes, bytes], depth: int = 0) -> bytes:
    """A binary sparse Merkle tree with leaf collapsing, written the obvious way."""
    if not items:
        return SPARSE_MERKLE_PLACEHOLDER_HASH
    if len(items) == 1:
        ((key_hash, value_hash),) = items.items()
        return hash_fn(b"JMT::LeafNode" + key_hash + value_hash)
    halves = [
        {k: v for k, v in items.items() if (k[depth // 8] >> (7 - depth % 8)) & 1 == side} for side in (0, 1)
    ]
    return hash_fn(
        b"JMT::IntrnalNode" + reference_root(hash_fn, halves[0], depth + 1) + reference_root(hash_fn, halves[1], depth + 1)
    )


def apply_to_model(model: dict[bytes, bytes], updates: list[tuple[bytes, bytes | None]]) -> None:
    for key_hash, value_hash in updates:
        if value_hash is None:
            model.pop(key_hash, None)
        else:
            model[key_hash] = value_hash


updates_strategy = st.lists(
    st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), st.sampled_from(VALUES))),
    max_size=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hash_fn=hash_fns, batches=st.lists(updates_strategy, min_size=1, max_size=6))
def test_state_tree_matches_a_dict_at_every_version(
    hash_fn: HashFn, batches: list[list[tuple[bytes, bytes | None]]]
) -> None:
    nodes: dict[NodeKey, Node] = {}
    tree = StateTree(hash_fn, nodes.get)
    model: dict[bytes, bytes] = {}
    history: list[tuple[bytes, dict[bytes, bytes]]] = []
    base: int | None = None
    for version, updates in enumerate(batches):
        batch = tree.put_batch(version, base, updates)
        nodes.update(batch.new_nodes)
        apply_to_model(model, updates)
        history.append((batch.root_hash, dict(model)))
        assert batch.root_hash == reference_root(hash_fn, model)
        base = version
        # The same set of updates in another order gives the same root.
        reordered = StateTree(hash_fn, nodes.get).put_batch(version + 1000, None, sorted(model.items(), reverse=True))
        assert reordered.root_hash == batch.root_hash
        if not model:
            assert batch.root_hash == SPARSE_MERKLE_PLACEHOLDER_HASH
    for version, (root, snapshot) in enumerate(history):
        assert tree.root_hash(version) == root
        for key_hash in KEYS:
            expected = snapshot.get(key_hash)
            assert tree.get(key_hash, version) == expected
            found, proof = tree.get_with_proof(key_hash, version)
            assert found == expected
            verify_sparse_merkle_proof(hash_fn, root, key_hash, expected, proof)
            assert SparseMerkleProof.from_dict(proof.to_dict()) == proof
            if expected is not None:
                with pytest.raises(ProofError):
                    verify_sparse_merkle_proof(hash_fn, root, key_hash, None, proof)
                with pytest.raises(ProofError):
                    verify_sparse_merkle_proof(hash_fn, root, key_hash, sha256(expected), proof)
            else:
                with pytest.raises(ProofError):
                    verify_sparse_merkle_proof(hash_fn, root, key_hash, VALUES[0], proof)
            if proof.siblings:
                siblings = list(proof.siblings)
                siblings[0] = sha256(siblings[0])
                with pytest.raises(ProofError):
                    verify_sparse_merkle_proof(
                        hash_fn, root, key_hash, expected, SparseMerkleProof(proof.leaf, siblings)
                    )


# Keys over every pair of leading nibbles (plus a few sharing longer prefixes): the root and the
# nodes below it are full, as near the root of any large tree, and batches change a few keys.
DENSE_KEYS = [bytes([high * 16 + low]) + sha256(b"dense-%d" % (high * 16 + low))[1:] for high in range(16) for low in range(16)]
DENSE_KEYS += [bytes([0x5A]) + bytes([i]) + bytes(30) for i in range(16)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hash_fn=hash_fns,
    missing=st.sets(st.sampled_from(DENSE_KEYS), max_size=6),
    batches=st.lists(
        st.lists(st.tuples(st.sampled_from(DENSE_KEYS), st.one_of(st.none(), st.sampled_from(VALUES))), max_size=12),
        min_size=1, max_size=8,
    ),
    limit=st.sampled_from([1, 3, 65_536]),
)
def test_refolding_full_nodes_from_their_cached_levels_changes_no_hash(
    hash_fn: HashFn, missing: set[bytes], batches: list[list[tuple[bytes, bytes | None]]], limit: int
) -> None:
    """A FoldCache (kept across versions, also one so small that it keeps forgetting) gives every
    root the obvious binary tree gives, through deletes that make full nodes sparse and back."""
    nodes: dict[NodeKey, Node] = {}
    folds = FoldCache(limit)
    model = {key: VALUES[key[1] % len(VALUES)] for key in DENSE_KEYS if key not in missing}
    base = StateTree(hash_fn, nodes.get, folds).put_batch(0, None, sorted(model.items()))
    nodes.update(base.new_nodes)
    assert base.root_hash == reference_root(hash_fn, model)
    for version, updates in enumerate(batches, start=1):
        batch = StateTree(hash_fn, nodes.get, folds).put_batch(version, version - 1, updates)
        nodes.update(batch.new_nodes)
        apply_to_model(model, updates)
        assert batch.root_hash == reference_root(hash_fn, model)
        uncached = StateTree(hash_fn, nodes.get).put_batch(version + 1000, version - 1, updates)
        assert uncached.root_hash == batch.root_hash
    assert len(folds) <= limit


@settings(max_examples=40, deadline=None)
@given(updates=updates_strategy, shuffler=st.randoms(use_true_random=False))
def test_put_batch_ignores_input_order(updates: list[tuple[bytes, bytes | None]], shuffler: random.Random) -> None:
    # Without duplicate keys, any permutation gives the same nodes.
    unique = list({k: v for k, v in updates}.items())
    shuffled = list(unique)
    shuffler.shuffle(shuffled)
    empty: dict[NodeKey, Node] = {}
    first = StateTree(sha256, empty.get).put_batch(0, None, unique)
    second = StateTree(sha256, empty.get).put_batch(0, None, shuffled)
    assert first == second


@settings(max_examples=100, deadline=None)
@given(
    version=st.integers(min_value=0, max_value=2**64 - 1),
    path=st.text(alphabet="0123456789abcdef", max_size=64),
)
def test_node_key_codec_round_trips(version: int, path: str) -> None:
    node_key = NodeKey(version, path)
    assert decode_node_key(encode_node_key(node_key)) == node_key


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200))
def test_node_decoder_accepts_only_canonical_bytes(data: bytes) -> None:
    try:
        node = decode_node(data)
    except CodecError:
        return
    assert encode_node(node) == data


hashes32 = st.binary(min_size=32, max_size=32)
children = st.one_of(
    st.none(),
    st.builds(Child, hashes32, st.integers(min_value=0, max_value=2**64 - 1), st.booleans()),
)
valid_internal = st.lists(children, min_size=16, max_size=16).filter(
    lambda cs: sum(c is not None for c in cs) >= 2
    or any(c is not None and not c.is_leaf for c in cs)
).map(lambda cs: InternalNode(tuple(cs)))
valid_nodes = st.one_of(valid_internal, st.builds(LeafNode, hashes32, hashes32))


@settings(max_examples=100, deadline=None)
@given(node=valid_nodes, position=st.integers(min_value=0, max_value=10_000), mutation=st.sampled_from(["flip", "cut", "extend"]))
def test_mutated_node_encodings_are_rejected_or_canonical(node: Node, position: int, mutation: str) -> None:
    encoded = encode_node(node)
    assert decode_node(encoded) == node
    index = position % len(encoded)
    if mutation == "flip":
        mutated = encoded[:index] + bytes([encoded[index] ^ 0x01]) + encoded[index + 1 :]
    elif mutation == "cut":
        mutated = encoded[:index]
    else:
        mutated = encoded + b"\x00"
    try:
        decoded = decode_node(mutated)
    except CodecError:
        return
    assert encode_node(decoded) == mutated


# --- the node hash's dense fast path ---------------------------------------------------------

some_children = st.lists(children, min_size=16, max_size=16)
dense_children = st.lists(
    st.builds(Child, hashes32, st.integers(min_value=0, max_value=2**64 - 1), st.booleans()), min_size=16, max_size=16,
)


@settings(max_examples=200, deadline=None)
@given(hash_fn=hash_fns, node_children=st.one_of(some_children, dense_children))
def test_node_hash_is_the_fold_of_its_slots(hash_fn: HashFn, node_children: list[Child | None]) -> None:
    """A node with all 16 children takes a shortcut (no slot can collapse); it must give the fold's hash,
    which proofs are built from (and the 4-level binary reference for any node)."""
    from ledger.merkle.state_tree import _fold, _hash_children, fold_children

    expected = _fold(hash_fn, node_children)[0][30]
    assert _hash_children(hash_fn, node_children) == expected
    assert _hash_children(hash_fn, tuple(node_children)) == expected
    assert fold_children(hash_fn, node_children)[0] == expected
    assert _reference_node_hash(hash_fn, node_children) == expected


def _reference_node_hash(hash_fn: HashFn, node_children: list[Child | None]) -> bytes:
    """The binary sparse Merkle rules written out level by level: empty, lone leaf (moves up), branch."""
    level: list[tuple[bytes, str]] = [
        (SPARSE_MERKLE_PLACEHOLDER_HASH, "empty") if c is None else (c.hash, "leaf" if c.is_leaf else "branch")
        for c in node_children
    ]
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2])
        level = [
            left if right[1] == "empty" and left[1] != "branch"
            else right if left[1] == "empty" and right[1] == "leaf"
            else (hash_fn(b"JMT::IntrnalNode" + left[0] + right[0]), "branch")
            for left, right in pairs
        ]
    return level[0][0]


@settings(max_examples=100, deadline=None)
@given(node_children=dense_children, nibble=st.integers(0, 15), bad=st.sampled_from(["short hash", "long hash", "version"]))
def test_internal_node_encoder_refuses_a_bad_child_by_its_nibble(node_children: list[Child], nibble: int, bad: str) -> None:
    child = node_children[nibble]
    if bad == "version":
        node_children[nibble] = Child(child.hash, 2**64, child.is_leaf)
    else:
        node_children[nibble] = Child(child.hash[:31] if bad == "short hash" else child.hash + b"\x00", child.version,
                                      child.is_leaf)
    with pytest.raises(CodecError, match=f"child {nibble} "):
        encode_node(InternalNode(tuple(node_children)))


@settings(max_examples=100, deadline=None)
@given(version=st.integers(min_value=0, max_value=2**64 - 1), path=st.text(alphabet="0123456789abcdef", max_size=64))
def test_node_key_is_its_version_part_then_its_path_part(version: int, path: str) -> None:
    """What the ledger writes a block's nodes under (version encoded once, then each path)."""
    from ledger.merkle.state_tree import encode_nibble_path, encode_node_version

    assert encode_node_version(version) + encode_nibble_path(path) == encode_node_key(NodeKey(version, path))
    with pytest.raises(CodecError):
        encode_node_version(2**64)
    with pytest.raises(CodecError):
        encode_node_version(-1)
