"""The Jellyfish Merkle state tree: roots, reads, proofs, codecs and node bookkeeping."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence

import pytest

from ledger.errors import CodecError, ProofError
from ledger.merkle.state_tree import (
    SPARSE_MERKLE_PLACEHOLDER_HASH,
    Child,
    InternalNode,
    LeafNode,
    Node,
    NodeKey,
    NullNode,
    SparseMerkleProof,
    StateTree,
    decode_node,
    decode_node_key,
    encode_node,
    encode_node_key,
    hash_leaf,
    hash_node,
    verify_sparse_merkle_proof,
)

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha3_256(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


HASHES = [pytest.param(sha256, id="sha256"), pytest.param(sha3_256, id="sha3_256")]


def key(n: int) -> bytes:
    return sha256(b"key-%d" % n)


def value(n: int) -> bytes:
    return sha256(b"value-%d" % n)


def bit(key_hash: bytes, index: int) -> int:
    return key_hash[index // 8] >> (7 - index % 8) & 1


def reference_root(hash_fn: HashFn, items: dict[bytes, bytes], depth: int = 0) -> bytes:
    """A binary sparse Merkle tree with leaf collapsing, written the obvious way."""
    if not items:
        return SPARSE_MERKLE_PLACEHOLDER_HASH
    if len(items) == 1:
        (k, v), = items.items()
        return hash_fn(b"JMT::LeafNode" + k + v)
    left = {k: v for k, v in items.items() if bit(k, depth) == 0}
    right = {k: v for k, v in items.items() if bit(k, depth) == 1}
    return hash_fn(
        b"JMT::IntrnalNode" + reference_root(hash_fn, left, depth + 1) + reference_root(hash_fn, right, depth + 1)
    )


class Ledger:
    """A dict-backed store that applies batches as the executor would."""

    def __init__(self, hash_fn: HashFn = sha256) -> None:
        self.hash_fn = hash_fn
        self.nodes: dict[NodeKey, Node] = {}
        self.tree = StateTree(hash_fn, self.nodes.get)
        self.version: int | None = None
        self.roots: dict[int, bytes] = {}
        self.models: dict[int, dict[bytes, bytes]] = {}
        self.model: dict[bytes, bytes] = {}

    def commit(self, updates: Sequence[tuple[bytes, bytes | None]], version: int | None = None) -> bytes:
        new_version = 0 if self.version is None else self.version + 1
        if version is not None:
            new_version = version
        batch = self.tree.put_batch(new_version, self.version, updates)
        assert not set(batch.new_nodes) & set(self.nodes), "nodes are never overwritten"
        assert all(k.version == new_version for k in batch.new_nodes)
        self.nodes.update(batch.new_nodes)
        for k, v in updates:
            if v is None:
                self.model.pop(k, None)
            else:
                self.model[k] = v
        self.version = new_version
        self.roots[new_version] = batch.root_hash
        self.models[new_version] = dict(self.model)
        return batch.root_hash


def reachable(nodes: dict[NodeKey, Node], version: int) -> set[NodeKey]:
    """Every node key that the root of ``version`` references, transitively."""
    found: set[NodeKey] = set()
    stack = [NodeKey(version, "")]
    while stack:
        node_key = stack.pop()
        found.add(node_key)
        node = nodes[node_key]
        if isinstance(node, InternalNode):
            for nibble, child in enumerate(node.children):
                if child is not None:
                    stack.append(NodeKey(child.version, node_key.nibble_path + "0123456789abcdef"[nibble]))
    return found


# --- roots -------------------------------------------------------------------------------

def test_empty_tree_root_is_the_placeholder() -> None:
    assert SPARSE_MERKLE_PLACEHOLDER_HASH == b"SPARSE_MERKLE_PLACEHOLDER_HASH__"
    ledger = Ledger()
    assert ledger.commit([]) == SPARSE_MERKLE_PLACEHOLDER_HASH
    assert ledger.tree.root_hash(0) == SPARSE_MERKLE_PLACEHOLDER_HASH
    assert ledger.nodes[NodeKey(0, "")] == NullNode()
    assert ledger.tree.get(key(1), 0) is None


def test_single_key_root_is_its_leaf_hash() -> None:
    ledger = Ledger()
    root = ledger.commit([(key(1), value(1))])
    assert root == sha256(b"JMT::LeafNode" + key(1) + value(1))
    assert ledger.nodes[NodeKey(0, "")] == LeafNode(key(1), value(1))


@pytest.mark.parametrize("hash_fn", HASHES)
def test_roots_match_the_binary_sparse_merkle_reference(hash_fn: HashFn) -> None:
    ledger = Ledger(hash_fn)
    sampler = random.Random(7)
    for _ in range(12):
        updates: list[tuple[bytes, bytes | None]] = [
            (key(sampler.randrange(400)), None if sampler.random() < 0.25 else value(sampler.randrange(10**6)))
            for _ in range(sampler.randrange(1, 120))
        ]
        root = ledger.commit(updates)
        assert root == reference_root(hash_fn, ledger.model)
        assert ledger.tree.root_hash(ledger.version or 0) == root


def test_batch_order_and_duplicates() -> None:
    updates: list[tuple[bytes, bytes | None]] = [(key(i), value(i)) for i in range(200)]
    forward, backward = Ledger(), Ledger()
    shuffled = list(updates)
    random.Random(3).shuffle(shuffled)
    assert forward.commit(updates) == backward.commit(shuffled)
    assert forward.nodes == backward.nodes
    # Last write wins within a batch.
    dup = Ledger()
    dup.commit([(key(1), value(1)), (key(2), value(2)), (key(1), value(9)), (key(2), None)])
    assert dup.tree.get(key(1), 0) == value(9)
    assert dup.tree.get(key(2), 0) is None
    assert dup.roots[0] == reference_root(sha256, {key(1): value(9)})


def test_deleting_everything_returns_the_placeholder() -> None:
    ledger = Ledger()
    ledger.commit([(key(i), value(i)) for i in range(300)])
    ledger.commit([(key(i), None) for i in range(0, 300, 2)])
    assert ledger.commit([(key(i), None) for i in range(1, 300, 2)]) == SPARSE_MERKLE_PLACEHOLDER_HASH
    assert ledger.nodes[NodeKey(2, "")] == NullNode()
    assert ledger.commit([(key(5), value(5))]) == reference_root(sha256, {key(5): value(5)})


def test_empty_batch_rewrites_only_the_root() -> None:
    ledger = Ledger()
    root = ledger.commit([(key(i), value(i)) for i in range(50)])
    batch = ledger.tree.put_batch(1, 0, [])
    assert batch.root_hash == root
    assert list(batch.new_nodes) == [NodeKey(1, "")]
    assert batch.stale_nodes == [NodeKey(0, "")]


def test_no_op_updates_keep_untouched_subtrees() -> None:
    ledger = Ledger()
    root = ledger.commit([(key(i), value(i)) for i in range(50)])
    # Same values and deletes of absent keys change nothing but the root node.
    batch = ledger.tree.put_batch(1, 0, [(key(3), value(3)), (key(10_000), None)])
    assert batch.root_hash == root
    assert list(batch.new_nodes) == [NodeKey(1, "")]


def shared_prefix_keys() -> list[bytes]:
    """Keys that agree on long prefixes, to force deep chains of internal nodes."""
    base = bytes(31)
    return [base + bytes([b]) for b in (0x00, 0x01, 0x10, 0xFF)] + [bytes([0x80]) + bytes(31)]


def test_deep_shared_prefixes_and_collapse_on_delete() -> None:
    ledger = Ledger()
    keys = shared_prefix_keys()
    ledger.commit([(k, value(i)) for i, k in enumerate(keys)])
    assert ledger.roots[0] == reference_root(sha256, ledger.model)
    # key[0] and key[1] differ only in the last nibble: a 63-deep chain of internal nodes.
    assert NodeKey(0, "0" * 63) in ledger.nodes
    ledger.commit([(keys[1], None), (keys[2], None), (keys[3], None)])
    assert ledger.roots[1] == reference_root(sha256, ledger.model)
    # Two leaves left under different first nibbles: the chain is gone.
    assert ledger.nodes[NodeKey(1, "0")] == LeafNode(keys[0], value(0))
    ledger.commit([(keys[4], None)])
    assert ledger.nodes[NodeKey(2, "")] == LeafNode(keys[0], value(0))
    assert ledger.roots[2] == hash_leaf(sha256, keys[0], value(0))


def test_stale_nodes_are_exactly_what_the_new_version_dropped() -> None:
    ledger = Ledger()
    sampler = random.Random(11)
    keys = [key(i) for i in range(150)] + shared_prefix_keys()
    for version in range(10):
        updates: list[tuple[bytes, bytes | None]] = [
            (sampler.choice(keys), None if sampler.random() < 0.4 else value(sampler.randrange(10**6)))
            for _ in range(sampler.randrange(0, 60))
        ]
        base = ledger.version
        batch = ledger.tree.put_batch(version, base, updates)
        before = set() if base is None else reachable(ledger.nodes, base)
        ledger.nodes.update(batch.new_nodes)
        after = reachable(ledger.nodes, version)
        assert set(batch.new_nodes) <= after
        assert len(set(batch.stale_nodes)) == len(batch.stale_nodes)
        assert set(batch.stale_nodes) == before - after
        assert after == (before - set(batch.stale_nodes)) | set(batch.new_nodes)
        ledger.version = version


def test_versions_must_increase() -> None:
    ledger = Ledger()
    ledger.commit([(key(1), value(1))], version=5)
    with pytest.raises(ValueError, match="greater than base version"):
        ledger.tree.put_batch(5, 5, [])
    with pytest.raises(ValueError, match="32 bytes"):
        ledger.tree.put_batch(6, 5, [(b"short", value(1))])
    with pytest.raises(KeyError, match="version=4"):
        ledger.tree.root_hash(4)


def test_missing_child_node_is_a_key_error() -> None:
    ledger = Ledger()
    ledger.commit([(key(i), value(i)) for i in range(40)])
    victim = next(k for k in ledger.nodes if k.nibble_path)
    del ledger.nodes[victim]
    with pytest.raises(KeyError, match="missing"):
        for i in range(40):
            ledger.tree.get_with_proof(key(i), 0)


# --- reads and proofs --------------------------------------------------------------------

def all_probe_keys(ledger: Ledger) -> Iterable[bytes]:
    seen: set[bytes] = set()
    for model in ledger.models.values():
        seen.update(model)
    return sorted(seen) + [key(10**6 + i) for i in range(20)]


@pytest.mark.parametrize("hash_fn", HASHES)
def test_every_key_at_every_version_reads_and_proves(hash_fn: HashFn) -> None:
    ledger = Ledger(hash_fn)
    sampler = random.Random(5)
    keys = [key(i) for i in range(120)] + shared_prefix_keys()
    for _ in range(8):
        ledger.commit(
            [
                (sampler.choice(keys), None if sampler.random() < 0.3 else value(sampler.randrange(10**6)))
                for _ in range(sampler.randrange(1, 50))
            ]
        )
    for version, model in ledger.models.items():
        root = ledger.roots[version]
        for k in all_probe_keys(ledger):
            expected = model.get(k)
            assert ledger.tree.get(k, version) == expected
            found, proof = ledger.tree.get_with_proof(k, version)
            assert found == expected
            verify_sparse_merkle_proof(hash_fn, root, k, expected, proof)
            assert SparseMerkleProof.from_dict(proof.to_dict()) == proof


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def test_tampered_proofs_fail() -> None:
    ledger = Ledger()
    ledger.commit([(key(i), value(i)) for i in range(100)] + [(k, value(7)) for k in shared_prefix_keys()])
    root = ledger.roots[0]
    for k in [key(i) for i in range(100)] + shared_prefix_keys():
        v = ledger.model[k]
        _, proof = ledger.tree.get_with_proof(k, 0)
        assert proof.leaf is not None
        for i in range(len(proof.siblings)):
            siblings = list(proof.siblings)
            siblings[i] = flip(siblings[i])
            with pytest.raises(ProofError, match="expected root"):
                verify_sparse_merkle_proof(sha256, root, k, v, SparseMerkleProof(proof.leaf, siblings))
        with pytest.raises(ProofError, match="expected root"):
            verify_sparse_merkle_proof(sha256, flip(root), k, v, proof)
        with pytest.raises(ProofError, match="different value hash"):
            verify_sparse_merkle_proof(sha256, root, k, flip(v), proof)
        with pytest.raises(ProofError, match="key is present"):
            verify_sparse_merkle_proof(sha256, root, k, None, proof)
        with pytest.raises(ProofError, match="different key"):
            verify_sparse_merkle_proof(sha256, root, flip(k), v, proof)
        with pytest.raises(ProofError, match="no leaf"):
            verify_sparse_merkle_proof(sha256, root, k, v, SparseMerkleProof(None, proof.siblings))
        swapped = SparseMerkleProof((k, flip(v)), proof.siblings)
        with pytest.raises(ProofError, match="expected root"):
            verify_sparse_merkle_proof(sha256, root, k, flip(v), swapped)
        with pytest.raises(ProofError, match="expected root"):
            verify_sparse_merkle_proof(sha256, root, k, v, SparseMerkleProof(proof.leaf, proof.siblings[1:]))
        with pytest.raises(ProofError, match="expected root|more than 256"):
            verify_sparse_merkle_proof(
                sha256, root, k, v, SparseMerkleProof(proof.leaf, [*proof.siblings, SPARSE_MERKLE_PLACEHOLDER_HASH])
            )


def test_non_membership_proofs_cannot_be_forged() -> None:
    ledger = Ledger()
    ledger.commit([(key(i), value(i)) for i in range(100)])
    root = ledger.roots[0]
    present = key(3)
    _, present_proof = ledger.tree.get_with_proof(present, 0)
    for i in range(100, 160):
        absent = key(i)
        found, proof = ledger.tree.get_with_proof(absent, 0)
        assert found is None
        verify_sparse_merkle_proof(sha256, root, absent, None, proof)
        with pytest.raises(ProofError, match="no leaf|different key"):
            verify_sparse_merkle_proof(sha256, root, absent, value(i), proof)
        if proof.leaf is not None:
            # Claiming the neighbouring leaf proves absence of a key off its path fails.
            with pytest.raises(ProofError):
                verify_sparse_merkle_proof(sha256, root, absent, None, SparseMerkleProof(None, proof.siblings))
        # A present key's membership proof proves nothing about another key's absence.
        with pytest.raises(ProofError, match="not on the key's path|expected root"):
            verify_sparse_merkle_proof(sha256, root, absent, None, present_proof)


def test_proof_shape_checks() -> None:
    k = key(1)
    with pytest.raises(ProofError, match="key hash"):
        verify_sparse_merkle_proof(sha256, SPARSE_MERKLE_PLACEHOLDER_HASH, b"x", None, SparseMerkleProof(None, ()))
    with pytest.raises(ProofError, match="sibling 0"):
        verify_sparse_merkle_proof(sha256, SPARSE_MERKLE_PLACEHOLDER_HASH, k, None, SparseMerkleProof(None, (b"x",)))
    with pytest.raises(ProofError, match="more than 256"):
        verify_sparse_merkle_proof(
            sha256, SPARSE_MERKLE_PLACEHOLDER_HASH, k, None, SparseMerkleProof(None, (k,) * 257)
        )
    verify_sparse_merkle_proof(sha256, SPARSE_MERKLE_PLACEHOLDER_HASH, k, None, SparseMerkleProof(None, ()))


def test_proof_dict_parsing_is_strict() -> None:
    good = SparseMerkleProof((key(1), value(1)), (key(2), SPARSE_MERKLE_PLACEHOLDER_HASH))
    data = good.to_dict()
    assert data == {
        "leaf": {"key_hash": key(1).hex(), "value_hash": value(1).hex()},
        "siblings": [key(2).hex(), SPARSE_MERKLE_PLACEHOLDER_HASH.hex()],
    }
    assert SparseMerkleProof.from_dict(data) == good
    assert SparseMerkleProof.from_dict({"leaf": None, "siblings": []}) == SparseMerkleProof(None, ())
    bad_inputs: list[object] = [
        None,
        [],
        {"leaf": None},
        {"leaf": None, "siblings": [], "extra": 1},
        {"leaf": None, "siblings": "00"},
        {"leaf": None, "siblings": ["00"]},
        {"leaf": None, "siblings": [key(1).hex().upper()]},
        {"leaf": None, "siblings": ["zz" * 32]},
        {"leaf": None, "siblings": [7]},
        {"leaf": {"key_hash": key(1).hex()}, "siblings": []},
        {"leaf": {"key_hash": key(1).hex(), "value_hash": "00"}, "siblings": []},
        {"leaf": [key(1).hex(), value(1).hex()], "siblings": []},
        {"leaf": None, "siblings": [key(1).hex()] * 257},
    ]
    for bad in bad_inputs:
        with pytest.raises(CodecError):
            SparseMerkleProof.from_dict(bad)


# --- codecs --------------------------------------------------------------------------------

def test_node_key_encoding() -> None:
    assert encode_node_key(NodeKey(1, "")) == bytes.fromhex("0000000000000001") + b"\x00"
    assert encode_node_key(NodeKey(258, "abc")) == bytes.fromhex("0000000000000102") + b"\x03\xab\xc0"
    for node_key in [NodeKey(0, ""), NodeKey(7, "f"), NodeKey(2**64 - 1, "0123456789abcdef" * 4)]:
        assert decode_node_key(encode_node_key(node_key)) == node_key
    for bad_key in [NodeKey(-1, ""), NodeKey(2**64, ""), NodeKey(0, "g"), NodeKey(0, "A"), NodeKey(0, "0" * 65)]:
        with pytest.raises(CodecError):
            encode_node_key(bad_key)
    for bad in [b"", bytes(8), bytes(8) + b"\x01", bytes(8) + b"\x01\x0f", bytes(8) + b"\x02\x00\x00",
                bytes(8) + b"\x41" + bytes(33)]:
        with pytest.raises(CodecError):
            decode_node_key(bad)


def test_node_encoding_round_trips_and_is_strict() -> None:
    leaf = LeafNode(key(1), value(1))
    assert encode_node(leaf) == b"\x02" + key(1) + value(1)
    assert encode_node(NullNode()) == b"\x00"
    children: list[Child | None] = [None] * 16
    children[0] = Child(key(5), 3, True)
    children[15] = Child(key(6), 2**40, False)
    internal = InternalNode(tuple(children))
    encoded = encode_node(internal)
    assert encoded == (
        b"\x01" + (0x8001).to_bytes(2, "big") + (0x0001).to_bytes(2, "big")
        + (3).to_bytes(8, "big") + key(5) + (2**40).to_bytes(8, "big") + key(6)
    )
    nodes: list[Node] = [leaf, NullNode(), internal]
    for node in nodes:
        assert decode_node(encode_node(node)) == node
    single_leaf: list[Child | None] = [None] * 16
    single_leaf[4] = Child(key(5), 1, True)
    bad_inputs = [
        b"",
        b"\x03",
        b"\x00\x00",
        b"\x02" + key(1),
        b"\x02" + key(1) + value(1) + b"\x00",
        encoded + b"\x00",
        encoded[:-1],
        b"\x01\x00\x00\x00\x00",
        b"\x01\x00\x01\x00\x02" + bytes(40),
        encode_node(InternalNode(tuple(single_leaf))),
    ]
    for bad in bad_inputs:
        with pytest.raises(CodecError):
            decode_node(bad)


def test_stored_nodes_survive_the_codec() -> None:
    ledger = Ledger()
    ledger.commit([(key(i), value(i)) for i in range(200)])
    ledger.commit([(key(i), None) for i in range(0, 200, 3)])
    for node_key, node in ledger.nodes.items():
        assert decode_node_key(encode_node_key(node_key)) == node_key
        assert decode_node(encode_node(node)) == node
    assert hash_node(sha256, ledger.nodes[NodeKey(1, "")]) == ledger.roots[1]
