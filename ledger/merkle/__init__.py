"""The ledger's authenticated data structures.

* :mod:`ledger.merkle.accumulator` — the transaction accumulator, an RFC 6962 /
  RFC 9162 Merkle log with inclusion and consistency proofs at any tree size.
* :mod:`ledger.merkle.state_tree` — the state tree, a versioned 16-ary Jellyfish
  Merkle tree with membership and non-membership proofs at any version.

Both are pure: the hash function and node storage are injected, new nodes are
returned as data for the caller's write batch, and nothing here reads a clock,
draws randomness or depends on dict iteration order for what it hashes.
"""

from ledger.merkle.accumulator import (
    MerkleAccumulator,
    empty_root,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
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
    TreeUpdateBatch,
    decode_node,
    decode_node_key,
    encode_node,
    encode_node_key,
    hash_leaf,
    hash_node,
    verify_sparse_merkle_proof,
)

__all__ = [
    "SPARSE_MERKLE_PLACEHOLDER_HASH",
    "Child",
    "InternalNode",
    "LeafNode",
    "MerkleAccumulator",
    "Node",
    "NodeKey",
    "NullNode",
    "SparseMerkleProof",
    "StateTree",
    "TreeUpdateBatch",
    "decode_node",
    "decode_node_key",
    "empty_root",
    "encode_node",
    "encode_node_key",
    "hash_leaf",
    "hash_node",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
    "verify_sparse_merkle_proof",
]
