"""The transaction accumulator against RFC 6962 itself and the CT test vectors."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from functools import lru_cache

import pytest

from ledger.errors import ProofError
from ledger.merkle.accumulator import (
    MerkleAccumulator,
    empty_root,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha3_256(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


HASHES = [pytest.param(sha256, id="sha256"), pytest.param(sha3_256, id="sha3_256")]


# --- a naive reference straight from RFC 6962 §2.1 -----------------------------------

class Reference:
    """MTH, PATH and PROOF exactly as RFC 6962 §2.1 writes them (memoised by range)."""

    def __init__(self, hash_fn: HashFn, leaves: list[bytes]) -> None:
        self.hash_fn = hash_fn
        self.leaves = leaves
        self.mth = lru_cache(maxsize=None)(self._mth)

    @staticmethod
    def k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return self.hash_fn(b"")
        if n == 1:
            return self.hash_fn(b"\x00" + self.leaves[start])
        k = self.k(n)
        return self.hash_fn(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = self.k(n)
        if m < k:
            return self.path(m, start, start + k) + [self.mth(start + k, end)]
        return self.path(m - k, start + k, end) + [self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.mth(start, end)]
        k = self.k(n)
        if m <= k:
            return self.subproof(m, start, start + k, complete) + [self.mth(start + k, end)]
        return self.subproof(m - k, start + k, end, False) + [self.mth(start, start + k)]


def build(hash_fn: HashFn, leaves: list[bytes], batch_sizes: list[int] | None = None) -> MerkleAccumulator:
    """An accumulator over ``leaves`` backed by a dict, appended in the given batches."""
    store: dict[tuple[int, int], bytes] = {}
    accumulator = MerkleAccumulator(hash_fn, 0, lambda level, index: store.get((level, index)))
    batches = batch_sizes or [len(leaves)]
    position = 0
    for batch in batches:
        chunk = leaves[position : position + batch]
        position += batch
        root, size, nodes = accumulator.append(chunk)
        assert not set(nodes) & set(store), "append must only return new nodes"
        store.update(nodes)
        accumulator = MerkleAccumulator(hash_fn, size, lambda level, index: store.get((level, index)))
        assert accumulator.root_hash() == root
    return accumulator


def leaf_datas(count: int) -> list[bytes]:
    return [b"tx-info-%d" % i for i in range(count)]


# --- known answers --------------------------------------------------------------------

# The Certificate Transparency reference leaves and roots (certificate-transparency
# C++ merkle_tree_test.cc / transparency-dev/merkle testonly constants), SHA-256.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def test_ct_vectors_roots_at_every_size() -> None:
    accumulator = build(sha256, CT_LEAVES, [1, 2, 5])
    for size, expected in enumerate(CT_ROOTS):
        assert accumulator.root_hash(size).hex() == expected


def test_ct_vectors_inclusion_proofs() -> None:
    accumulator = build(sha256, CT_LEAVES)
    for (index, size), expected in CT_INCLUSION.items():
        proof = accumulator.inclusion_proof(index, size)
        assert [p.hex() for p in proof] == expected
        verify_inclusion(
            sha256, index, size, leaf_hash(sha256, CT_LEAVES[index]), proof, bytes.fromhex(CT_ROOTS[size])
        )


def test_ct_vectors_consistency_proofs() -> None:
    accumulator = build(sha256, CT_LEAVES)
    for (old, new), expected in CT_CONSISTENCY.items():
        proof = accumulator.consistency_proof(old, new)
        assert [p.hex() for p in proof] == expected
        verify_consistency(
            sha256, old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]), proof
        )


def test_helpers_follow_rfc6962_prefixes() -> None:
    assert leaf_hash(sha256, b"abc") == sha256(b"\x00abc")
    assert node_hash(sha256, b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert empty_root(sha256) == sha256(b"")


# --- every size, every leaf -----------------------------------------------------------

@pytest.mark.parametrize("hash_fn", HASHES)
def test_inclusion_every_leaf_of_every_size_up_to_300(hash_fn: HashFn) -> None:
    leaves = leaf_datas(300)
    reference = Reference(hash_fn, leaves)
    accumulator = build(hash_fn, leaves, [1, 2, 3, 10, 47, 64, 100, 73])
    for size in range(1, 301):
        root = accumulator.root_hash(size)
        assert root == reference.mth(0, size)
        for index in range(size):
            proof = accumulator.inclusion_proof(index, size)
            assert proof == reference.path(index, 0, size)
            verify_inclusion(hash_fn, index, size, reference.mth(index, index + 1), proof, root)


@pytest.mark.parametrize("hash_fn", HASHES)
def test_consistency_all_pairs_up_to_64_and_sampled_up_to_300(hash_fn: HashFn) -> None:
    leaves = leaf_datas(300)
    reference = Reference(hash_fn, leaves)
    accumulator = build(hash_fn, leaves)
    pairs = [(old, new) for new in range(0, 65) for old in range(0, new + 1)]
    sampler = random.Random(6962)
    for _ in range(600):
        low, high = sorted((sampler.randint(0, 300), sampler.randint(0, 300)))
        pairs.append((low, high))
    for old, new in pairs:
        proof = accumulator.consistency_proof(old, new)
        if 0 < old < new:
            assert proof == reference.subproof(old, 0, new, True)
        else:
            assert proof == []
        verify_consistency(hash_fn, old, new, reference.mth(0, old), reference.mth(0, new), proof)


def test_empty_accumulator() -> None:
    accumulator = build(sha256, [])
    assert accumulator.size == 0
    assert accumulator.root_hash() == sha256(b"")
    assert accumulator.consistency_proof(0, 0) == []
    with pytest.raises(ProofError, match="tree size 1"):
        accumulator.inclusion_proof(0, 1)


def test_batches_return_only_new_frozen_nodes() -> None:
    accumulator = build(sha256, leaf_datas(5))
    _, size, nodes = accumulator.append([b"a", b"b", b"c"])
    # Leaves 5, 6, 7 and the subtrees they complete: (1, 2) = 4..5, (1, 3) = 6..7,
    # (2, 1) = 4..7, (3, 0) = 0..7.
    assert size == 8
    assert sorted(nodes) == [(0, 5), (0, 6), (0, 7), (1, 2), (1, 3), (2, 1), (3, 0)]


# --- rejection ------------------------------------------------------------------------

def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


@pytest.mark.parametrize("hash_fn", HASHES)
def test_tampered_inclusion_proofs_fail(hash_fn: HashFn) -> None:
    leaves = leaf_datas(40)
    accumulator = build(hash_fn, leaves)
    for size in range(1, 41):
        root = accumulator.root_hash(size)
        for index in range(size):
            lh = leaf_hash(hash_fn, leaves[index])
            proof = accumulator.inclusion_proof(index, size)
            for position in range(len(proof)):
                bad = list(proof)
                bad[position] = flip(bad[position])
                with pytest.raises(ProofError, match="root mismatch"):
                    verify_inclusion(hash_fn, index, size, lh, bad, root)
            with pytest.raises(ProofError, match="root mismatch"):
                verify_inclusion(hash_fn, index, size, lh, proof, flip(root))
            with pytest.raises(ProofError, match="root mismatch"):
                verify_inclusion(hash_fn, index, size, flip(lh), proof, root)
            with pytest.raises(ProofError, match="more than"):
                verify_inclusion(hash_fn, index, size, lh, proof + [root], root)
            if proof:
                with pytest.raises(ProofError, match="fewer than"):
                    verify_inclusion(hash_fn, index, size, lh, proof[:-1], root)
            for other in (index - 1, index + 1):
                if 0 <= other < size:
                    with pytest.raises(ProofError):
                        verify_inclusion(hash_fn, other, size, lh, proof, root)
            # RFC 9162 does not bind the size into the root, so a wrong size is
            # caught by checking against the root *of that size*.
            for other_size in (size - 1, size + 1):
                if index < other_size <= 40:
                    with pytest.raises(ProofError):
                        verify_inclusion(
                            hash_fn, index, other_size, lh, proof, accumulator.root_hash(other_size)
                        )


def test_inclusion_bounds_are_checked() -> None:
    accumulator = build(sha256, leaf_datas(4))
    root = accumulator.root_hash()
    lh = leaf_hash(sha256, b"tx-info-0")
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(sha256, 4, 4, lh, [], root)
    with pytest.raises(ProofError, match="holds no leaves"):
        verify_inclusion(sha256, 0, 0, lh, [], root)
    with pytest.raises(ProofError, match="32-byte digest"):
        verify_inclusion(sha256, 0, 4, lh, [b"short", root], root)
    with pytest.raises(ProofError, match="outside the accumulator"):
        accumulator.inclusion_proof(0, 5)
    with pytest.raises(ProofError, match="not below tree size"):
        accumulator.inclusion_proof(3, 3)
    with pytest.raises(ProofError, match="outside the accumulator"):
        accumulator.root_hash(5)


def test_missing_node_is_a_key_error() -> None:
    accumulator = MerkleAccumulator(sha256, 4, lambda level, index: None)
    with pytest.raises(KeyError, match="level=2, index=0"):
        accumulator.root_hash()


@pytest.mark.parametrize("hash_fn", HASHES)
def test_tampered_consistency_proofs_fail(hash_fn: HashFn) -> None:
    accumulator = build(hash_fn, leaf_datas(40))
    for new in range(1, 41):
        new_root = accumulator.root_hash(new)
        for old in range(1, new):
            old_root = accumulator.root_hash(old)
            proof = accumulator.consistency_proof(old, new)
            for position in range(len(proof)):
                bad = list(proof)
                bad[position] = flip(bad[position])
                with pytest.raises(ProofError):
                    verify_consistency(hash_fn, old, new, old_root, new_root, bad)
            # With a power-of-two old size the old root is itself the proof's seed,
            # so a wrong old root shows up as a new-root mismatch.
            with pytest.raises(ProofError, match="root"):
                verify_consistency(hash_fn, old, new, flip(old_root), new_root, proof)
            with pytest.raises(ProofError, match="new root"):
                verify_consistency(hash_fn, old, new, old_root, flip(new_root), proof)
            with pytest.raises(ProofError, match="too many"):
                verify_consistency(hash_fn, old, new, old_root, new_root, proof + [new_root])
            with pytest.raises(ProofError):
                verify_consistency(hash_fn, old, new, old_root, new_root, proof[:-1])
            # Sizes are not bound into roots: a wrong size is checked with its own root.
            if new + 1 <= 40:
                with pytest.raises(ProofError):
                    verify_consistency(
                        hash_fn, old, new + 1, old_root, accumulator.root_hash(new + 1), proof
                    )
            if old > 1:
                with pytest.raises(ProofError):
                    verify_consistency(
                        hash_fn, old - 1, new, accumulator.root_hash(old - 1), new_root, proof
                    )


def test_consistency_trivial_cases() -> None:
    accumulator = build(sha256, leaf_datas(5))
    root5 = accumulator.root_hash(5)
    verify_consistency(sha256, 5, 5, root5, root5, [])
    verify_consistency(sha256, 0, 5, sha256(b""), root5, [])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(sha256, 5, 5, accumulator.root_hash(4), root5, [])
    with pytest.raises(ProofError, match="equal tree sizes must be empty"):
        verify_consistency(sha256, 5, 5, root5, root5, [root5])
    with pytest.raises(ProofError, match="empty-tree root"):
        verify_consistency(sha256, 0, 5, root5, root5, [])
    with pytest.raises(ProofError, match="larger than"):
        verify_consistency(sha256, 5, 4, root5, root5, [])
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(sha256, 3, 5, accumulator.root_hash(3), root5, [])
    with pytest.raises(ProofError, match="not in 0..4"):
        accumulator.consistency_proof(5, 4)
