"""The state tree: a Jellyfish Merkle tree (16-ary, versioned, path-compressed).

This is the Diem/Aptos JMT. Keys are 32-byte key hashes (the caller computes
``H(account ‖ key)``), values are 32-byte value hashes (the caller keeps the
value itself elsewhere). Each committed block height is a *version*; nodes are
immutable once written and are addressed by :class:`NodeKey` ``(version,
nibble_path)``, so the root of every committed version stays readable and a
membership or non-membership proof exists for any key at any version.

Why a JMT rather than a Patricia trie: the root commits to exactly the same
value as a binary sparse Merkle tree with leaf collapsing (so proofs are a flat
list of sibling hashes that a light client checks with one loop), while the
16-ary node layout keeps the number of stored nodes and reads per lookup at
about ``log16(n)``.

Hashing (``H`` is the ledger's injected hash function, 32-byte digests):

* leaf     = ``H(b"JMT::LeafNode" ‖ key_hash ‖ value_hash)``
* internal = ``H(b"JMT::IntrnalNode" ‖ left ‖ right)`` for each binary level
* an empty subtree is :data:`SPARSE_MERKLE_PLACEHOLDER_HASH`
* a subtree holding exactly one leaf (and nothing else) *is* that leaf's hash

A 16-ary internal node's hash is its 16 children folded as a 4-level binary
tree under these rules, so the root equals the binary sparse Merkle root. The
empty tree's root is the placeholder.

Storage is injected: reads go through ``get_node(NodeKey) -> Node | None`` and
:meth:`StateTree.put_batch` returns the new nodes (and the nodes they made
stale) as data for the caller's write batch. A node that a parent references
but ``get_node`` cannot supply raises ``KeyError`` naming it (missing data is a
storage fault, not a bad proof); asking for a version that was never committed
raises ``KeyError`` for its root node in the same way.

Every node of version ``v`` is written by ``put_batch(v, ...)``; the root is
always (re)written at ``NodeKey(v, "")``, even for an empty batch, so
``root_hash(v)`` is a single read for every committed version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, NamedTuple, Union

from ledger.errors import CodecError, LedgerCorrupted, ProofError

HashFn = Callable[[bytes], bytes]
"""A hash function returning a raw 32-byte digest (SM3 or SHA-256)."""

HASH_SIZE = 32
"""Size of key hashes, value hashes and node hashes, in bytes."""

SPARSE_MERKLE_PLACEHOLDER_HASH = b"SPARSE_MERKLE_PLACEHOLDER_HASH__"
"""Hash of an empty subtree (and root of the empty tree).

The 32 ASCII bytes ``SPARSE_MERKLE_PLACEHOLDER_HASH__`` (Diem's name, padded
with two underscores to 32 bytes). It is a constant rather than ``H(b"")`` so it
does not depend on the ledger's hash algorithm and can never be the digest of
a node whose preimage someone chose.
"""

LEAF_DOMAIN = b"JMT::LeafNode"
"""Prefix of every leaf-hash preimage (domain separation from internal nodes)."""

INTERNAL_DOMAIN = b"JMT::IntrnalNode"
"""Prefix of every binary internal-hash preimage (Diem's spelling, 16 bytes)."""

MAX_NIBBLES = 2 * HASH_SIZE
"""A key hash has 64 nibbles, so no node is deeper than this."""

_HEX_DIGITS = "0123456789abcdef"
_NIBBLE_OF = {c: i for i, c in enumerate(_HEX_DIGITS)}


# --- node keys -----------------------------------------------------------------

class NodeKey(NamedTuple):
    """Where a node is stored: the version that wrote it and its position.

    ``nibble_path`` is the node's position as lowercase hex digits, one nibble per
    character, from the root (``""``) down; it is a prefix of the hex of every
    key hash below the node.

    A ``NamedTuple`` rather than a frozen dataclass on purpose: put_batch makes
    one per node on its hot path and uses it as a dict key; a tuple is twice as
    cheap to build and hashes in C.
    """

    version: int
    """Block height (tree version) that wrote the node; nodes are never rewritten."""
    nibble_path: str
    """Position below the root, as lowercase hex digits (length 0..64)."""


def encode_node_key(node_key: NodeKey) -> bytes:
    """Canonical bytes of a node key, for use as a KV-store key under a prefix.

    Layout: ``version`` as u64 big-endian ‖ nibble count as u8 ‖ the nibbles
    packed two per byte, high nibble first, an odd count padded with a zero low
    nibble. Version first makes all nodes of one version contiguous (pruning by
    version is a range delete).
    """
    return encode_node_version(node_key.version) + _encode_nibble_path(node_key.nibble_path)


def encode_node_version(version: int) -> bytes:
    """The first part of every node key of ``version`` (u64 big-endian): the nodes a batch writes
    share it, so a writer encodes it once and appends :func:`encode_nibble_path` of each node."""
    if not 0 <= version < 1 << 64:
        raise CodecError(f"node key version {version} does not fit in u64")
    return version.to_bytes(8, "big")


def encode_nibble_path(path: str) -> bytes:
    """The second part of a node key: nibble count ‖ the nibbles packed two per byte."""
    return _encode_nibble_path(path)


@lru_cache(maxsize=1 << 16)
def _encode_nibble_path(path: str) -> bytes:
    """Nibble count ‖ packed nibbles of a path (cached: the upper paths recur every version)."""
    if type(path) is not str:
        raise CodecError("nibble path must be a string")
    if len(path) > MAX_NIBBLES:
        raise CodecError(f"nibble path of {len(path)} nibbles exceeds {MAX_NIBBLES}")
    packed = path + "0" if len(path) & 1 else path
    try:
        body = bytes.fromhex(packed)
    except ValueError:
        raise CodecError(f"nibble path {path!r} is not hex") from None
    if packed != body.hex():
        raise CodecError(f"nibble path {path!r} is not lowercase hex")
    return bytes((len(path),)) + body


def decode_node_key(data: bytes) -> NodeKey:
    """Inverse of :func:`encode_node_key`; rejects any non-canonical bytes."""
    if len(data) < 9:
        raise CodecError(f"node key of {len(data)} bytes is shorter than 9")
    count = data[8]
    if count > MAX_NIBBLES:
        raise CodecError(f"node key nibble count {count} exceeds {MAX_NIBBLES}")
    expected = 9 + (count + 1) // 2
    if len(data) != expected:
        raise CodecError(f"node key of {len(data)} bytes, expected {expected} for {count} nibbles")
    hex_path = data[9:].hex()
    if count & 1:
        if hex_path[-1] != "0":
            raise CodecError("node key padding nibble is not zero")
        hex_path = hex_path[:-1]
    return NodeKey(int.from_bytes(data[:8], "big"), hex_path)


# --- nodes ---------------------------------------------------------------------

class Child(NamedTuple):
    """A parent's pointer to one child: enough to hash and to find the child.

    A ``NamedTuple`` for the same reason as :class:`NodeKey` (up to 16 per node).
    """

    hash: bytes
    """The child's node hash (leaf hash, or internal-node hash)."""
    version: int
    """Version that wrote the child (its NodeKey is ``(version, parent_path + nibble)``)."""
    is_leaf: bool
    """Whether the child is a leaf; needed to hash the parent (leaf collapsing)."""


@dataclass(frozen=True, slots=True)
class InternalNode:
    """A 16-ary branch; ``children[n]`` is the child under nibble ``n`` or ``None``.

    Invariant (enforced by construction and by :func:`decode_node`): at least one
    child, and never exactly one child that is a leaf (that leaf is hoisted into
    the parent's slot instead — path compression).
    """

    children: tuple[Child | None, ...]
    """Exactly 16 entries, indexed by nibble."""


@dataclass(frozen=True, slots=True)
class LeafNode:
    """A key and its value hash, stored at the shortest unique prefix of the key."""

    key_hash: bytes
    """The 32-byte key hash (full key, so a lookup can tell a different key apart)."""
    value_hash: bytes
    """The 32-byte value hash."""


@dataclass(frozen=True, slots=True)
class NullNode:
    """The root of an empty tree, written so that every version has a root node."""


Node = Union[InternalNode, LeafNode, NullNode]

NODE_TAG_NULL = 0x00
NODE_TAG_INTERNAL = 0x01
NODE_TAG_LEAF = 0x02

_INTERNAL_HEADER = struct.Struct(">BHH")
"""Internal node header: tag, existence bitmap, leaf bitmap."""
_CHILD_ENTRY = struct.Struct(">Q32s")
"""One present child of an internal node: version, hash."""


def encode_node(node: Node) -> bytes:
    """Canonical bytes of a node.

    * null:     ``0x00``
    * leaf:     ``0x02 ‖ key_hash(32) ‖ value_hash(32)``
    * internal: ``0x01 ‖ existence bitmap u16 BE ‖ leaf bitmap u16 BE`` then, for
      each present child in nibble order, ``version u64 BE ‖ hash(32)``. Bit ``n``
      of a bitmap (value ``1 << n``) stands for nibble ``n``.
    """
    if isinstance(node, LeafNode):
        if len(node.key_hash) != HASH_SIZE or len(node.value_hash) != HASH_SIZE:
            raise CodecError("leaf node key and value hashes must be 32 bytes")
        return bytes((NODE_TAG_LEAF,)) + node.key_hash + node.value_hash
    if isinstance(node, NullNode):
        return bytes((NODE_TAG_NULL,))
    children = node.children
    if len(children) != 16:
        raise CodecError(f"internal node has {len(children)} child slots, expected 16")
    existence = 0
    leaves = 0
    parts: list[bytes] = []
    pack = _CHILD_ENTRY.pack
    bit = 1
    for child in children:
        if child is not None:
            child_hash, version, is_leaf = child
            if len(child_hash) != HASH_SIZE:
                raise CodecError(f"child {bit.bit_length() - 1} hash is not 32 bytes")
            if not 0 <= version < 1 << 64:
                raise CodecError(f"child {bit.bit_length() - 1} version does not fit in u64")
            existence |= bit
            if is_leaf:
                leaves |= bit
            parts.append(pack(version, child_hash))
        bit <<= 1
    return _INTERNAL_HEADER.pack(NODE_TAG_INTERNAL, existence, leaves) + b"".join(parts)


def decode_node(data: bytes) -> Node:
    """Inverse of :func:`encode_node`; rejects bad tags, lengths and trailing bytes."""
    if not data:
        raise CodecError("empty node encoding")
    tag = data[0]
    if tag == NODE_TAG_NULL:
        if len(data) != 1:
            raise CodecError("null node has trailing bytes")
        return NullNode()
    if tag == NODE_TAG_LEAF:
        if len(data) != 1 + 2 * HASH_SIZE:
            raise CodecError(f"leaf node is {len(data)} bytes, expected {1 + 2 * HASH_SIZE}")
        return LeafNode(data[1 : 1 + HASH_SIZE], data[1 + HASH_SIZE :])
    if tag != NODE_TAG_INTERNAL:
        raise CodecError(f"unknown node tag 0x{tag:02x}")
    if len(data) < 5:
        raise CodecError("internal node is shorter than its bitmaps")
    existence = int.from_bytes(data[1:3], "big")
    leaves = int.from_bytes(data[3:5], "big")
    if existence == 0:
        raise CodecError("internal node has no children")
    if leaves & ~existence:
        raise CodecError("internal node leaf bitmap marks absent children")
    count = bin(existence).count("1")
    if count == 1 and leaves:
        raise CodecError("internal node with a single leaf child is not canonical")
    entry = 8 + HASH_SIZE
    if len(data) != 5 + count * entry:
        raise CodecError(
            f"internal node is {len(data)} bytes, expected {5 + count * entry} for {count} children"
        )
    children: list[Child | None] = [None] * 16
    offset = 5
    unpack_entry = _CHILD_ENTRY.unpack_from
    for nibble in range(16):
        if existence >> nibble & 1:
            version, child_hash = unpack_entry(data, offset)
            children[nibble] = Child(child_hash, version, bool(leaves >> nibble & 1))
            offset += entry
    return InternalNode(tuple(children))


# --- hashing -------------------------------------------------------------------

def hash_leaf(hash_fn: HashFn, key_hash: bytes, value_hash: bytes) -> bytes:
    """``H(b"JMT::LeafNode" ‖ key_hash ‖ value_hash)``."""
    return hash_fn(LEAF_DOMAIN + key_hash + value_hash)


def hash_internal(hash_fn: HashFn, left: bytes, right: bytes) -> bytes:
    """``H(b"JMT::IntrnalNode" ‖ left ‖ right)`` for one binary level."""
    return hash_fn(INTERNAL_DOMAIN + left + right)


# A binary slot while folding 16 children: (hash, kind, leaf nibble).
_EMPTY = 0
_LEAF = 1
_BRANCH = 2
_Slot = tuple[bytes, int, int]
_EMPTY_SLOT: _Slot = (SPARSE_MERKLE_PLACEHOLDER_HASH, _EMPTY, -1)


def _fold_levels(hash_fn: HashFn, children: Sequence[Child | None]) -> list[list[_Slot]]:
    """The 4-level binary tree over 16 children, bottom level first (16, 8, 4, 2, 1 slots).

    A slot is empty (placeholder), a lone leaf (its hash, collapsed upward, with
    the nibble it came from) or a branch (hashed). Proof generation reads the
    sibling slots off these levels.
    """
    level: list[_Slot] = [
        _EMPTY_SLOT if c is None else (c.hash, _LEAF if c.is_leaf else _BRANCH, n)
        for n, c in enumerate(children)
    ]
    levels = [level]
    while len(level) > 1:
        level = [_combine(hash_fn, level[i], level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def _combine(hash_fn: HashFn, left: _Slot, right: _Slot) -> _Slot:
    left_kind = left[1]
    right_kind = right[1]
    if right_kind == _EMPTY and left_kind != _BRANCH:
        return left  # empty or a lone leaf moves up unchanged
    if left_kind == _EMPTY and right_kind == _LEAF:
        return right
    return (hash_fn(INTERNAL_DOMAIN + left[0] + right[0]), _BRANCH, -1)


def hash_internal_node(hash_fn: HashFn, node: InternalNode) -> bytes:
    """Hash of a 16-ary internal node (its children folded as 4 binary levels)."""
    return _hash_children(hash_fn, node.children)


_Fold = tuple[list[bytes], list[int]]
"""A node's 31 binary slot hashes and kinds: 16 child slots, then 8, 4, 2 and 1."""


def _fold(hash_fn: HashFn, children: Sequence[Child | None]) -> _Fold:
    """All 31 binary slots of a node; ``hashes[30]`` is the node's hash.

    Pairs fold by these rules: empty+empty is empty, a lone leaf next to an empty
    slot moves up unchanged (leaf collapsing), anything else is hashed as an
    internal node. Slot ``16 + i`` is the parent of slots ``2i`` and ``2i + 1``.
    Written as one flat loop because it runs for every rewritten node and
    dominates put_batch.
    """
    placeholder = SPARSE_MERKLE_PLACEHOLDER_HASH
    domain = INTERNAL_DOMAIN
    hashes = [placeholder] * 31
    kinds = [_EMPTY] * 31
    nibble = 0
    for child in children:
        if child is not None:
            hashes[nibble] = child[0]
            kinds[nibble] = _LEAF if child[2] else _BRANCH
        nibble += 1
    left = 0
    for target in range(16, 31):
        left_kind = kinds[left]
        right_kind = kinds[left + 1]
        if right_kind == _EMPTY and left_kind != _BRANCH:
            if left_kind != _EMPTY:
                hashes[target] = hashes[left]
                kinds[target] = left_kind
        elif left_kind == _EMPTY and right_kind == _LEAF:
            hashes[target] = hashes[left + 1]
            kinds[target] = _LEAF
        else:
            hashes[target] = hash_fn(domain + hashes[left] + hashes[left + 1])
            kinds[target] = _BRANCH
        left += 2
    return hashes, kinds


def _hash_children(hash_fn: HashFn, children: Sequence[Child | None]) -> bytes:
    """Hash of an internal node with these 16 children.

    A node with all 16 children present (every node near the root of a large tree) folds
    without any leaf collapsing: no slot is empty, so every pair is hashed at every level.
    """
    if None in children:
        return _fold(hash_fn, children)[0][30]
    return _full_levels(hash_fn, [child[0] for child in children])[14]  # type: ignore[index]


_LEVEL_OFFSETS: Final = (0, 8, 12, 14)
"""Where each binary level above 16 full children starts in a node's 15 level hashes (8, 4, 2, 1)."""


def _full_levels(hash_fn: HashFn, leaves: Sequence[bytes]) -> list[bytes]:
    """The 15 binary hashes above 16 present children, level by level; the node's hash is last."""
    domain = INTERNAL_DOMAIN
    levels: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        level = [hash_fn(domain + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.extend(level)
    return levels


def _refold_levels(hash_fn: HashFn, old_levels: Sequence[bytes], leaves: Sequence[bytes], changed: Sequence[int]) -> list[bytes]:
    """``_full_levels`` of ``leaves``, given the levels of the same node before the children at
    ``changed`` were replaced: only the hashes above a changed child are computed again."""
    domain = INTERNAL_DOMAIN
    levels = list(old_levels)
    dirty = sorted({child // 2 for child in changed})
    for slot in dirty:
        levels[slot] = hash_fn(domain + leaves[2 * slot] + leaves[2 * slot + 1])
    for below, offset in zip(_LEVEL_OFFSETS, _LEVEL_OFFSETS[1:]):
        dirty = sorted({slot // 2 for slot in dirty})
        for slot in dirty:
            levels[offset + slot] = hash_fn(domain + levels[below + 2 * slot] + levels[below + 2 * slot + 1])
    return levels


class FoldCache:
    """The binary level hashes of recently written full internal nodes, by node hash.

    An internal node's hash folds its 16 children in four binary levels: 15 hashes. Near the
    root of a large tree every node is full, and a block rewrites each such node for the one or
    two keys it changed below it, so refolding from scratch hashed 15 times where 4 to 7 hashes
    change (the state tree was ~19 SM3 hashes per transaction, a third of an SM3 ledger's apply).
    With the node's old levels at hand only the paths above the changed children are hashed again.

    Keyed by the node's hash, which is a function of its children alone: an entry can never be
    wrong for another node, so what the cache holds (or forgets) changes no hash, only the work.
    Bounded: past ``limit`` entries it starts afresh. An entry is the 14 hashes below the node's
    own, joined in one bytes object (~0.6 KB with its key): the default 16,384 entries hold every
    full node of a tree of a million keys (its upper four levels, 4,369 nodes) in ~10 MB.
    """

    __slots__ = ("limit", "_levels")

    def __init__(self, limit: int = 16_384) -> None:
        self.limit = limit
        self._levels: dict[bytes, bytes] = {}

    def get(self, node_hash: bytes) -> list[bytes] | None:
        joined = self._levels.get(node_hash)
        if joined is None:
            return None
        size = len(node_hash)
        return [joined[i:i + size] for i in range(0, 14 * size, size)] + [node_hash]

    def put(self, levels: list[bytes]) -> None:
        if len(self._levels) >= self.limit:
            self._levels.clear()
        self._levels[levels[14]] = b"".join(levels[:14])

    def __len__(self) -> int:
        return len(self._levels)


def fold_children(hash_fn: HashFn, children: Sequence[Child | None]) -> tuple[bytes, int]:
    """Hash and kind (0 empty, 1 lone leaf, 2 branch) of a subtree with these 16 children.

    Public for snapshot verification, which folds chunk summaries up to the root.
    """
    hashes, kinds = _fold(hash_fn, children)
    return hashes[30], kinds[30]


def hash_node(hash_fn: HashFn, node: Node) -> bytes:
    """Hash of any node (the null node hashes to the placeholder)."""
    if isinstance(node, LeafNode):
        return hash_leaf(hash_fn, node.key_hash, node.value_hash)
    if isinstance(node, InternalNode):
        return _hash_children(hash_fn, node.children)
    return SPARSE_MERKLE_PLACEHOLDER_HASH


# --- proofs --------------------------------------------------------------------

def _parse_hex_digest(name: str, value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        raise CodecError(f"{name} must be a {2 * HASH_SIZE}-character hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise CodecError(f"{name} is not hex") from None
    if raw.hex() != value:
        raise CodecError(f"{name} must be lowercase hex")
    return raw


@dataclass(frozen=True, slots=True)
class SparseMerkleProof:
    """A path through the state tree, as a binary sparse Merkle proof.

    Read bottom-up: start from ``leaf``'s hash (or the placeholder when the path
    ends in an empty slot), then for each sibling combine according to the key
    hash's bit at that depth. ``siblings[0]`` is the deepest sibling, next to the
    leaf; ``siblings[-1]`` is the root's child (Diem's order). Placeholder
    siblings are included, so ``len(siblings)`` is the leaf's depth in bits.
    """

    leaf: tuple[bytes, bytes] | None
    """``(key_hash, value_hash)`` of the leaf the path ends at, or ``None`` for an empty slot.

    For a non-membership proof this may be a *different* key sharing the path.
    """
    siblings: Sequence[bytes] = field(default=())
    """Sibling hashes from the leaf level up to the root (bottom-up).

    Any sequence is accepted; it is stored as a tuple so the proof stays immutable.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.siblings, tuple):
            object.__setattr__(self, "siblings", tuple(self.siblings))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: lowercase hex strings, for proof bundles."""
        return {
            "leaf": None
            if self.leaf is None
            else {"key_hash": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()},
            "siblings": [s.hex() for s in self.siblings],
        }

    @classmethod
    def from_dict(cls, data: object) -> SparseMerkleProof:
        """Strict inverse of :meth:`to_dict`; any other shape raises :class:`CodecError`."""
        if not isinstance(data, dict) or set(data) != {"leaf", "siblings"}:
            raise CodecError("sparse Merkle proof must be an object with exactly 'leaf' and 'siblings'")
        raw_leaf = data["leaf"]
        leaf: tuple[bytes, bytes] | None
        if raw_leaf is None:
            leaf = None
        else:
            if not isinstance(raw_leaf, dict) or set(raw_leaf) != {"key_hash", "value_hash"}:
                raise CodecError("proof leaf must be null or an object with 'key_hash' and 'value_hash'")
            leaf = (
                _parse_hex_digest("proof leaf key_hash", raw_leaf["key_hash"]),
                _parse_hex_digest("proof leaf value_hash", raw_leaf["value_hash"]),
            )
        raw_siblings = data["siblings"]
        if not isinstance(raw_siblings, list):
            raise CodecError("proof siblings must be a list")
        if len(raw_siblings) > 8 * HASH_SIZE:
            raise CodecError(f"proof has {len(raw_siblings)} siblings, more than {8 * HASH_SIZE}")
        siblings = tuple(
            _parse_hex_digest(f"proof sibling {i}", s) for i, s in enumerate(raw_siblings)
        )
        return cls(leaf, siblings)


def _bit(key_hash: bytes, index: int) -> int:
    """Bit ``index`` of the key hash, most significant bit of byte 0 first."""
    return key_hash[index >> 3] >> (7 - (index & 7)) & 1


def _common_prefix_bits(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return 8 * i + 8 - (x ^ y).bit_length()
    return 8 * min(len(a), len(b))


def verify_sparse_merkle_proof(
    hash_fn: HashFn,
    expected_root: bytes,
    key_hash: bytes,
    value_hash: bytes | None,
    proof: SparseMerkleProof,
) -> None:
    """Check that ``key_hash`` maps to ``value_hash`` (or is absent, if ``None``) under the root.

    Membership: the proof's leaf must be exactly ``(key_hash, value_hash)``.
    Non-membership: the path must end in an empty slot, or in a leaf for another
    key that shares the first ``len(siblings)`` bits with ``key_hash`` (so that
    leaf sits where ``key_hash`` would have to be). In both cases the siblings
    must fold to ``expected_root``. Raises :class:`ProofError` naming the failed check.
    """
    if len(key_hash) != HASH_SIZE:
        raise ProofError(f"key hash is {len(key_hash)} bytes, expected {HASH_SIZE}")
    if len(expected_root) != HASH_SIZE:
        raise ProofError(f"expected root is {len(expected_root)} bytes, expected {HASH_SIZE}")
    siblings = proof.siblings
    if len(siblings) > 8 * HASH_SIZE:
        raise ProofError(f"proof has {len(siblings)} siblings, more than {8 * HASH_SIZE}")
    for i, sibling in enumerate(siblings):
        if len(sibling) != HASH_SIZE:
            raise ProofError(f"proof sibling {i} is not a {HASH_SIZE}-byte hash")
    leaf = proof.leaf
    if leaf is not None and (len(leaf[0]) != HASH_SIZE or len(leaf[1]) != HASH_SIZE):
        raise ProofError("proof leaf key or value hash is not 32 bytes")
    if value_hash is not None:
        if len(value_hash) != HASH_SIZE:
            raise ProofError(f"value hash is {len(value_hash)} bytes, expected {HASH_SIZE}")
        if leaf is None:
            raise ProofError("membership proof has no leaf")
        if leaf[0] != key_hash:
            raise ProofError("membership proof leaf is for a different key")
        if leaf[1] != value_hash:
            raise ProofError("membership proof leaf has a different value hash")
    elif leaf is not None:
        if leaf[0] == key_hash:
            raise ProofError("non-membership proof leaf holds the key itself (the key is present)")
        if _common_prefix_bits(leaf[0], key_hash) < len(siblings):
            raise ProofError("non-membership proof leaf is not on the key's path")
    current = SPARSE_MERKLE_PLACEHOLDER_HASH if leaf is None else hash_leaf(hash_fn, leaf[0], leaf[1])
    depth = len(siblings)
    for i, sibling in enumerate(siblings):
        if _bit(key_hash, depth - 1 - i):
            current = hash_fn(INTERNAL_DOMAIN + sibling + current)
        else:
            current = hash_fn(INTERNAL_DOMAIN + current + sibling)
    if current != expected_root:
        raise ProofError("sparse Merkle proof does not reproduce the expected root")


# --- the tree ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TreeUpdateBatch:
    """What one :meth:`StateTree.put_batch` produced, for the caller to persist."""

    root_hash: bytes
    """Root of the new version."""
    new_nodes: dict[NodeKey, Node]
    """Every node written by the new version (all carry the new version)."""
    stale_nodes: list[NodeKey]
    """Nodes of older versions that the new version no longer references (prunable
    once no reader needs the old versions)."""


GetStateNode = Callable[[NodeKey], "Node | None"]
"""Reads a node by key; ``None`` (or ``KeyError``) when absent."""


@dataclass(slots=True)
class _LeafResult:
    """A leaf whose final position is decided by its parent (it may be hoisted)."""

    key_hash: bytes
    value_hash: bytes
    origin: NodeKey | None
    """Where this exact leaf is already stored, if it is unchanged; else ``None``."""


_Result = Union[Child, _LeafResult, None]
# A pending update: (key hash as hex, key hash, value hash or None for delete).
_Update = tuple[str, bytes, Union[bytes, None]]
# A leaf to build from scratch: (key hex, key hash, value hash, origin).
_Entry = tuple[str, bytes, bytes, Union[NodeKey, None]]


def _group_by_nibble(items: Sequence[tuple[Any, ...]], depth: int) -> list[tuple[int, int, int]]:
    """Split a list sorted by key into ``(nibble, start, end)`` runs at ``depth``."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    n = len(items)
    nibble_of = _NIBBLE_OF
    while start < n:
        char = items[start][0][depth]
        end = start + 1
        while end < n and items[end][0][depth] == char:
            end += 1
        runs.append((nibble_of[char], start, end))
        start = end
    return runs


class StateTree:
    """Reads, proofs and batched updates of the versioned state tree.

    Stateless apart from the injected ``hash_fn`` and ``get_node``: every method
    names the version it works on, so one instance serves all versions (and
    several threads may read proofs while another builds a batch).
    """

    __slots__ = ("_hash_fn", "_get_node", "_folds")

    def __init__(self, hash_fn: HashFn, get_node: GetStateNode, folds: FoldCache | None = None) -> None:
        """``folds``: level hashes of full nodes kept between batches (see :class:`FoldCache`)."""
        self._hash_fn = hash_fn
        self._get_node = get_node
        self._folds = folds

    def _read(self, node_key: NodeKey) -> Node:
        try:
            node = self._get_node(node_key)
        except KeyError:
            node = None
        if node is None:
            raise KeyError(
                f"state tree node (version={node_key.version}, path={node_key.nibble_path!r}) is missing"
            )
        return node

    # --- reads -------------------------------------------------------------

    def root_hash(self, version: int) -> bytes:
        """Root hash of ``version`` (``KeyError`` if the version was never committed)."""
        return hash_node(self._hash_fn, self._read(NodeKey(version, "")))

    def get(self, key_hash: bytes, version: int) -> bytes | None:
        """The value hash of ``key_hash`` at ``version``, or ``None`` if absent."""
        _check_key(key_hash)
        key_hex = key_hash.hex()
        node = self._read(NodeKey(version, ""))
        depth = 0
        while True:
            if isinstance(node, LeafNode):
                return node.value_hash if node.key_hash == key_hash else None
            if isinstance(node, NullNode):
                return None
            child = node.children[_NIBBLE_OF[key_hex[depth]]]
            if child is None:
                return None
            depth += 1
            node = self._read(NodeKey(child.version, key_hex[:depth]))

    def get_with_proof(self, key_hash: bytes, version: int) -> tuple[bytes | None, SparseMerkleProof]:
        """The value hash (or ``None``) of ``key_hash`` at ``version`` with its proof."""
        _check_key(key_hash)
        hash_fn = self._hash_fn
        key_hex = key_hash.hex()
        siblings: list[bytes] = []  # collected top-down, reversed at the end
        node = self._read(NodeKey(version, ""))
        depth = 0
        leaf: LeafNode | None = None
        while True:
            if isinstance(node, LeafNode):
                leaf = node
                break
            if isinstance(node, NullNode):
                break
            nibble = _NIBBLE_OF[key_hex[depth]]
            levels = _fold_levels(hash_fn, node.children)
            next_key: NodeKey | None = None
            # Descend the 4 binary levels inside this node: level 4 is the node itself.
            for height in range(3, -1, -1):
                index = nibble >> height
                siblings.append(levels[height][index ^ 1][0])
                slot = levels[height][index]
                if slot[1] == _EMPTY:
                    break
                if slot[1] == _LEAF:
                    # A lone leaf, possibly collapsed up from a deeper slot of this node.
                    child_nibble = slot[2]
                    child = node.children[child_nibble]
                    if child is None:
                        raise LedgerCorrupted(f"state tree node at {key_hex[:depth]!r} lost its child {child_nibble:x}")
                    next_key = NodeKey(child.version, key_hex[:depth] + _HEX_DIGITS[child_nibble])
                    break
                if height == 0:
                    child = node.children[nibble]
                    if child is None:
                        raise LedgerCorrupted(f"state tree node at {key_hex[:depth]!r} lost its child {nibble:x}")
                    next_key = NodeKey(child.version, key_hex[: depth + 1])
            if next_key is None:
                break
            depth += 1
            node = self._read(next_key)
            if isinstance(node, NullNode):
                raise KeyError(f"null node below the root at {next_key}")
        siblings.reverse()
        proof = SparseMerkleProof(
            None if leaf is None else (leaf.key_hash, leaf.value_hash), tuple(siblings)
        )
        value = leaf.value_hash if leaf is not None and leaf.key_hash == key_hash else None
        return value, proof

    # --- writes ------------------------------------------------------------

    def put_batch(
        self,
        version: int,
        base_version: int | None,
        updates: Sequence[tuple[bytes, bytes | None]],
    ) -> TreeUpdateBatch:
        """Apply ``updates`` on top of ``base_version`` and return version ``version``'s nodes.

        ``None`` as a value deletes the key (deleting an absent key is a no-op);
        ``base_version=None`` starts from the empty tree. Updates are applied in
        key order, so the result does not depend on their order in the input;
        for a key given twice the last one wins. One pass over the touched paths
        rewrites each affected node once, however many keys sit below it.
        """
        if version < 0:
            raise ValueError(f"version must be >= 0, got {version}")
        if base_version is not None and base_version >= version:
            raise ValueError(f"version {version} must be greater than base version {base_version}")
        latest: dict[bytes, bytes | None] = {}
        for key_hash, value_hash in updates:
            _check_key(key_hash)
            if value_hash is not None and len(value_hash) != HASH_SIZE:
                raise ValueError(f"value hash must be {HASH_SIZE} bytes, got {len(value_hash)}")
            latest[key_hash] = value_hash
        ordered: list[_Update] = [(k.hex(), k, latest[k]) for k in sorted(latest)]
        run = _BatchRun(self._hash_fn, self._read, version, self._folds)

        root_result: _Result
        if base_version is None:
            root_result = run.build("", [(h, k, v, None) for h, k, v in ordered if v is not None])
        else:
            root_key = NodeKey(base_version, "")
            root = self._read(root_key)
            if isinstance(root, NullNode):
                run.stale.append(root_key)
                root_result = run.build("", [(h, k, v, None) for h, k, v in ordered if v is not None])
            elif isinstance(root, LeafNode):
                root_result = run.merge_leaf("", root_key, root, ordered)
            else:
                root_result = run.update_internal("", root_key, root, None, ordered)

        new_root_key = NodeKey(version, "")
        if root_result is None:
            run.new_nodes[new_root_key] = NullNode()
            root_hash = SPARSE_MERKLE_PLACEHOLDER_HASH
        elif isinstance(root_result, _LeafResult):
            if root_result.origin is not None:
                run.stale.append(root_result.origin)
            run.new_nodes[new_root_key] = LeafNode(root_result.key_hash, root_result.value_hash)
            root_hash = hash_leaf(self._hash_fn, root_result.key_hash, root_result.value_hash)
        else:
            root_hash = root_result.hash
        return TreeUpdateBatch(root_hash, run.new_nodes, run.stale)


def _check_key(key_hash: bytes) -> None:
    if not isinstance(key_hash, bytes) or len(key_hash) != HASH_SIZE:
        raise ValueError(f"key hash must be {HASH_SIZE} bytes")


class _BatchRun:
    """The state of one put_batch pass: the nodes written and made stale so far."""

    __slots__ = ("hash_fn", "read", "version", "new_nodes", "stale", "folds")

    def __init__(self, hash_fn: HashFn, read: Callable[[NodeKey], Node], version: int,
                 folds: FoldCache | None = None) -> None:
        self.hash_fn = hash_fn
        self.read = read
        self.version = version
        self.folds = folds
        self.new_nodes: dict[NodeKey, Node] = {}
        self.stale: list[NodeKey] = []

    def build(self, path: str, entries: list[_Entry]) -> _Result:
        """The subtree at ``path`` holding exactly ``entries`` (sorted, unique keys)."""
        if not entries:
            return None
        if len(entries) == 1:
            _, key, value, origin = entries[0]
            return _LeafResult(key, value, origin)
        depth = len(path)
        results: list[_Result] = [None] * 16
        for nibble, start, end in _group_by_nibble(entries, depth):
            results[nibble] = self.build(path + _HEX_DIGITS[nibble], entries[start:end])
        return self.finish_internal(path, None, None, None, results)

    def merge_leaf(self, path: str, leaf_key: NodeKey, leaf: LeafNode, updates: list[_Update]) -> _Result:
        """Apply ``updates`` to the subtree at ``path`` that is currently the single ``leaf``."""
        entries: list[_Entry] = []
        leaf_hex = leaf.key_hash.hex()
        leaf_seen = False
        for key_hex, key, value in updates:
            if not leaf_seen and key_hex > leaf_hex:
                entries.append((leaf_hex, leaf.key_hash, leaf.value_hash, leaf_key))
                leaf_seen = True
            if key == leaf.key_hash:
                leaf_seen = True
                if value == leaf.value_hash:
                    entries.append((leaf_hex, key, value, leaf_key))
                    continue
                self.stale.append(leaf_key)
                if value is not None:
                    entries.append((key_hex, key, value, None))
                continue
            if value is not None:
                entries.append((key_hex, key, value, None))
        if not leaf_seen:
            entries.append((leaf_hex, leaf.key_hash, leaf.value_hash, leaf_key))
        return self.build(path, entries)

    def update_internal(
        self,
        path: str,
        node_key: NodeKey,
        node: InternalNode,
        pointer: Child | None,
        updates: list[_Update],
    ) -> _Result:
        """Apply ``updates`` below the internal ``node`` stored at ``node_key``.

        ``pointer`` is the parent's pointer to this node (``None`` for the root,
        which is always rewritten); it lets an untouched node be kept as is.
        """
        depth = len(path)
        children = node.children
        results: list[_Result] = list(children)
        for nibble, start, end in _group_by_nibble(updates, depth):
            group = updates[start:end]
            child = children[nibble]
            child_path = path + _HEX_DIGITS[nibble]
            if child is None:
                results[nibble] = self.build(
                    child_path, [(h, k, v, None) for h, k, v in group if v is not None]
                )
                continue
            child_key = NodeKey(child.version, child_path)
            child_node = self.read(child_key)
            if isinstance(child_node, LeafNode):
                results[nibble] = self.merge_leaf(child_path, child_key, child_node, group)
            elif isinstance(child_node, InternalNode):
                results[nibble] = self.update_internal(child_path, child_key, child_node, child, group)
            else:
                raise KeyError(f"null node below the root at {child_key}")
        return self.finish_internal(path, node_key, pointer, children, results)

    def finish_internal(
        self,
        path: str,
        old_key: NodeKey | None,
        old_pointer: Child | None,
        old_children: tuple[Child | None, ...] | None,
        results: list[_Result],
    ) -> _Result:
        """Turn the 16 child results at ``path`` into this subtree's result.

        Collapses to nothing or to a lone leaf when that is all that is left
        (path compression), otherwise writes the internal node (unless nothing
        changed and the node may be kept). ``old_pointer`` is ``None`` for the root
        and for new subtrees, which are always written.
        """
        present = [n for n in range(16) if results[n] is not None]
        if not present:
            if old_key is not None:
                self.stale.append(old_key)
            return None
        if len(present) == 1:
            only = results[present[0]]
            if isinstance(only, Child) and only.is_leaf:
                leaf_key = NodeKey(only.version, path + _HEX_DIGITS[present[0]])
                leaf = self.read(leaf_key)
                if not isinstance(leaf, LeafNode):
                    raise KeyError(f"node marked as leaf is not a leaf at {leaf_key}")
                only = _LeafResult(leaf.key_hash, leaf.value_hash, leaf_key)
            if isinstance(only, _LeafResult):
                if old_key is not None:
                    self.stale.append(old_key)
                return only
        version = self.version
        hash_fn = self.hash_fn
        children: list[Child | None] = [None] * 16
        for nibble in present:
            result = results[nibble]
            if isinstance(result, _LeafResult):
                child_path = path + _HEX_DIGITS[nibble]
                origin = result.origin
                leaf_hash = hash_fn(LEAF_DOMAIN + result.key_hash + result.value_hash)
                if origin is not None and origin.nibble_path == child_path:
                    children[nibble] = Child(leaf_hash, origin.version, True)
                    continue
                if origin is not None:
                    self.stale.append(origin)
                self.new_nodes[NodeKey(version, child_path)] = LeafNode(result.key_hash, result.value_hash)
                children[nibble] = Child(leaf_hash, version, True)
            else:
                children[nibble] = result
        new_children = tuple(children)
        if old_pointer is not None and new_children == old_children:
            # Untouched after all (e.g. only no-op deletes below): keep the stored node.
            return old_pointer
        if old_key is not None:
            self.stale.append(old_key)
        self.new_nodes[NodeKey(version, path)] = InternalNode(new_children)
        folds = self.folds
        if folds is None or None in new_children:
            return Child(_hash_children(hash_fn, new_children), version, False)
        leaves = [child[0] for child in new_children]  # type: ignore[index]
        old_levels = None
        if old_pointer is not None and old_children is not None and None not in old_children:
            old_levels = folds.get(old_pointer.hash)
        if old_levels is None:
            levels = _full_levels(hash_fn, leaves)
        else:
            changed = [n for n in range(16) if leaves[n] != old_children[n][0]]  # type: ignore[index]
            levels = _refold_levels(hash_fn, old_levels, leaves, changed)
        folds.put(levels)
        return Child(levels[14], version, False)
