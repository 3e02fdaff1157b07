"""The transaction accumulator: an RFC 6962 / RFC 9162 Merkle log.

Every executed transaction's info is appended as one leaf. Because the tree is
append-only, a light client holding an old root can be convinced that a newer
root extends it (consistency proof) and that a given transaction is in the log
at some size (inclusion proof), for *any* historical tree size.

Hashing (RFC 6962 §2.1, with the ledger's own hash algorithm):

* leaf hash  = H(0x00 ‖ leaf_data)
* node hash  = H(0x01 ‖ left ‖ right)
* empty tree = H(b"")

Storage model: only *frozen* nodes are stored, i.e. roots of perfect subtrees
that can never change again. A node is addressed by ``(level, index)``: level 0
holds leaf hashes, and the node at ``(level, index)`` covers the leaves
``[index * 2**level, (index + 1) * 2**level)``. The root of a tree of any size
is a fold of at most ``log2(size)`` frozen nodes, so roots and proofs for every
historical size are computable from the same nodes with O(log n) reads.

This module never writes: :meth:`MerkleAccumulator.append` returns the new
frozen nodes and the caller persists them in its own write batch. Reads go
through an injected ``get_node(level, index)``; a node it cannot supply
(returns ``None`` or raises ``KeyError``) surfaces as ``KeyError`` naming the
node, because that means the store is missing data it must have, not that a
proof is wrong. Requests that cannot be answered (a leaf index or tree size
outside the log) raise :class:`ProofError` naming the violated bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ledger.errors import ProofError

HashFn = Callable[[bytes], bytes]
"""A hash function returning a raw digest (32 bytes for SM3 and SHA-256)."""

GetAccumulatorNode = Callable[[int, int], "bytes | None"]
"""Reads the frozen node at ``(level, index)``; ``None`` (or ``KeyError``) if absent."""

LEAF_PREFIX = b"\x00"
"""RFC 6962 domain separation byte for leaves (a leaf can never pass as a node)."""

NODE_PREFIX = b"\x01"
"""RFC 6962 domain separation byte for interior nodes."""


def leaf_hash(hash_fn: HashFn, data: bytes) -> bytes:
    """Hash of one leaf: ``H(0x00 ‖ data)``."""
    return hash_fn(LEAF_PREFIX + data)


def node_hash(hash_fn: HashFn, left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: ``H(0x01 ‖ left ‖ right)``."""
    return hash_fn(NODE_PREFIX + left + right)


def empty_root(hash_fn: HashFn) -> bytes:
    """Root of the tree with no leaves: ``H(b"")`` (RFC 6962 §2.1)."""
    return hash_fn(b"")


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleAccumulator:
    """A read view of the accumulator at ``size`` leaves, plus pure appends.

    The object is immutable: :meth:`append` does not change ``self.size``; it
    returns the new size and the nodes to persist, and the caller builds a new
    view once they are stored. That keeps the executor in charge of when the
    new nodes become visible (in the same LevelDB batch as the block).
    """

    __slots__ = ("_hash_fn", "_size", "_get_node")

    def __init__(self, hash_fn: HashFn, size: int, get_node: GetAccumulatorNode) -> None:
        if size < 0:
            raise ValueError(f"accumulator size must be >= 0, got {size}")
        self._hash_fn = hash_fn
        self._size = size
        self._get_node = get_node

    @property
    def size(self) -> int:
        """Number of leaves in this view."""
        return self._size

    # --- reads -------------------------------------------------------------

    def _read(self, level: int, index: int, overlay: Mapping[tuple[int, int], bytes] | None = None) -> bytes:
        if overlay is not None:
            found = overlay.get((level, index))
            if found is not None:
                return found
        try:
            node = self._get_node(level, index)
        except KeyError:
            node = None
        if node is None:
            raise KeyError(f"accumulator node (level={level}, index={index}) is missing from storage")
        return node

    def _subtree_root(
        self, start: int, end: int, overlay: Mapping[tuple[int, int], bytes] | None = None
    ) -> bytes:
        """MTH(D[start:end]) for a range that is frozen or a right edge of the tree.

        Every range that RFC 6962 proofs and roots ask for starts at a multiple of
        a power of two at least as large as the range, so splitting at the largest
        power of two below the width always lands on frozen nodes.
        """
        width = end - start
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            return self._read(level, start >> level, overlay)
        k = _largest_power_of_two_below(width)
        return node_hash(
            self._hash_fn,
            self._subtree_root(start, start + k, overlay),
            self._subtree_root(start + k, end, overlay),
        )

    def root_hash(self, size: int | None = None) -> bytes:
        """The root at ``size`` leaves (default: this view's size), for any past size."""
        tree_size = self._size if size is None else size
        if tree_size < 0 or tree_size > self._size:
            raise ProofError(
                f"tree size {tree_size} is outside the accumulator (0..{self._size})"
            )
        if tree_size == 0:
            return empty_root(self._hash_fn)
        return self._subtree_root(0, tree_size)

    def get_leaf_hash(self, leaf_index: int) -> bytes:
        """The stored leaf hash of leaf ``leaf_index`` (handy for building inclusion checks)."""
        if leaf_index < 0 or leaf_index >= self._size:
            raise ProofError(f"leaf index {leaf_index} is outside the accumulator (size {self._size})")
        return self._read(0, leaf_index)

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> list[bytes]:
        """PATH(m, D[n]) of RFC 6962 §2.1.1 / RFC 9162 §2.1.3.1, ordered leaf to root."""
        if tree_size < 1 or tree_size > self._size:
            raise ProofError(
                f"tree size {tree_size} is outside the accumulator (1..{self._size})"
            )
        if leaf_index < 0 or leaf_index >= tree_size:
            raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
        path: list[bytes] = []
        start, end, m = 0, tree_size, leaf_index
        # Walk from the root down, recording the sibling subtree at each split;
        # the RFC's recursion appends on the way back up, so reverse at the end.
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if m < k:
                path.append(self._subtree_root(start + k, end))
                end = start + k
            else:
                path.append(self._subtree_root(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 6962 §2.1.2 / RFC 9162 §2.1.4.1.

        Empty when ``old_size`` is 0 or equals ``new_size`` (nothing to prove).
        """
        if new_size < 0 or new_size > self._size:
            raise ProofError(
                f"new tree size {new_size} is outside the accumulator (0..{self._size})"
            )
        if old_size < 0 or old_size > new_size:
            raise ProofError(f"old tree size {old_size} is not in 0..{new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        path: list[bytes] = []
        start, end, m = 0, new_size, old_size
        complete = True  # the RFC's flag b: is the old tree a complete subtree here?
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                path.append(self._subtree_root(start + k, end))
                end = start + k
            else:
                path.append(self._subtree_root(start, start + k))
                start, m = start + k, m - k
                complete = False
        if not complete:
            path.append(self._subtree_root(start, end))
        path.reverse()
        return path

    # --- appends -----------------------------------------------------------

    def append(self, leaf_datas: Sequence[bytes]) -> tuple[bytes, int, dict[tuple[int, int], bytes]]:
        """Append leaves; return ``(new_root, new_size, new_frozen_nodes)``.

        ``new_frozen_nodes`` holds exactly the nodes that became frozen (every new
        leaf hash and every perfect subtree completed by these leaves). Appending
        in several batches yields the same nodes and root as one batch.
        """
        hash_fn = self._hash_fn
        new_nodes: dict[tuple[int, int], bytes] = {}
        size = self._size
        for data in leaf_datas:
            current = hash_fn(LEAF_PREFIX + data)
            level, index = 0, size
            new_nodes[(0, index)] = current
            # A right child completes its parent: fold while the index is odd.
            while index & 1:
                left = self._read(level, index - 1, new_nodes)
                current = hash_fn(NODE_PREFIX + left + current)
                level, index = level + 1, index >> 1
                new_nodes[(level, index)] = current
            size += 1
        if size == 0:
            return empty_root(hash_fn), 0, new_nodes
        return self._subtree_root(0, size, new_nodes), size, new_nodes


# --- verifiers (no storage) ----------------------------------------------------

def _check_digest(name: str, value: bytes, digest_size: int) -> None:
    if not isinstance(value, bytes) or len(value) != digest_size:
        raise ProofError(f"{name} is not a {digest_size}-byte digest")


def root_from_inclusion_proof(
    hash_fn: HashFn, leaf_index: int, tree_size: int, leaf_hash_value: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-4).

    Raises :class:`ProofError` if the proof's length does not fit the index and size.
    """
    if tree_size < 1:
        raise ProofError(f"tree size {tree_size} holds no leaves")
    if leaf_index < 0 or leaf_index >= tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    digest_size = len(leaf_hash_value)
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash_value
    for position, p in enumerate(proof):
        _check_digest(f"inclusion proof element {position}", p, digest_size)
        if sn == 0:
            raise ProofError(
                f"inclusion proof has {len(proof)} elements, more than tree size {tree_size} needs"
            )
        if fn & 1 or fn == sn:
            r = hash_fn(NODE_PREFIX + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_fn(NODE_PREFIX + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof has {len(proof)} elements, fewer than tree size {tree_size} needs"
        )
    return r


def verify_inclusion(
    hash_fn: HashFn,
    leaf_index: int,
    tree_size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2. ``leaf_hash`` is the RFC 6962 leaf hash (see :func:`leaf_hash`),
    not the raw leaf data. Returns ``None``; raises :class:`ProofError` naming the failed check.
    """
    _check_digest("leaf hash", leaf_hash, len(root))
    computed = root_from_inclusion_proof(hash_fn, leaf_index, tree_size, leaf_hash, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof root mismatch for leaf {leaf_index} of tree size {tree_size}"
        )


def verify_consistency(
    hash_fn: HashFn,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    RFC 9162 §2.1.4.2, plus the trivial cases: equal sizes need an empty proof and
    equal roots; an empty old tree needs an empty proof and the empty-tree root.
    Raises :class:`ProofError` naming the failed check.
    """
    if old_size < 0 or new_size < 0:
        raise ProofError(f"tree sizes must be >= 0, got {old_size} and {new_size}")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    digest_size = len(new_root)
    _check_digest("old root", old_root, digest_size)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal tree sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"roots differ for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if old_root != empty_root(hash_fn):
            raise ProofError("old root is not the empty-tree root for tree size 0")
        return
    if not proof:
        raise ProofError(f"consistency proof from {old_size} to {new_size} is empty")
    for position, c in enumerate(proof):
        _check_digest(f"consistency proof element {position}", c, digest_size)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from {old_size} to {new_size} has too many elements"
            )
        if fn & 1 or fn == sn:
            fr = hash_fn(NODE_PREFIX + c + fr)
            sr = hash_fn(NODE_PREFIX + c + sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_fn(NODE_PREFIX + sr + c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} has too few elements"
        )
    if fr != old_root:
        raise ProofError(f"consistency proof does not reproduce the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not reproduce the new root (size {new_size})")
