"""State snapshots: the state tree of one committed height, in verifiable chunks.

A node that is far behind does not have to replay every block: it can fetch the
state tree's leaves at a recent *certified* height ``H`` (a height whose header,
and so whose state root, a quorum of validators signed), check them against that
root, rebuild the tree locally and then apply the remaining blocks as usual.

How the leaves are split and proved:

* The leaves are cut by the first ``prefix_nibbles`` hex digits of their key
  hash: chunk ``i`` holds, in key order, every leaf whose key hash starts with
  the ``prefix_nibbles``-digit hex form of ``i``. There are ``16**prefix_nibbles``
  chunks (key hashes are uniform, so chunks are about the same size).
* The :class:`SnapshotManifest` lists, for every chunk, the *summary* of its
  subtree: empty, a single leaf (with that leaf's hash) or a branch (with the
  subtree's hash). Folding the summaries up, 16 at a time, with the tree's own
  rules (leaf collapsing included) gives the root; :meth:`SnapshotManifest.verify`
  requires that to equal the certified root. This is the proof for every chunk.
* A chunk is verified by rebuilding its subtree from its leaves and comparing
  the result with the manifest's summary for that chunk, after checking that its
  keys are sorted, unique and carry the chunk's prefix and that each value hashes
  to its value hash. Changing any byte of a chunk changes either its decoding,
  its prefix, a value hash or the rebuilt subtree hash, so it is refused
  (:class:`SnapshotRejected`) and the caller fetches that chunk from another peer.

Everything here is pure and deterministic: no clock, no randomness, byte-exact
encodings. The tree rebuilt by :func:`rebuild_state_tree` carries every node at
version ``H``; node versions do not enter node hashes, so its root equals the
certified root and the next block's ``put_batch(H + 1, H, ...)`` produces the
same roots as on every other replica.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ledger.errors import CodecError, ProofError
from ledger.merkle.state_tree import (
    HASH_SIZE,
    SPARSE_MERKLE_PLACEHOLDER_HASH,
    Child,
    GetStateNode,
    HashFn,
    InternalNode,
    LeafNode,
    NodeKey,
    NullNode,
    StateTree,
    TreeUpdateBatch,
    decode_node,
    encode_node,
    encode_node_key,
    fold_children,
    hash_leaf,
)
from ledger.store import schema
from ledger.store.base import KeyValueStore, WriteBatch

SNAPSHOT_FORMAT = 1
"""Version byte at the start of every manifest and chunk encoding."""

MAX_PREFIX_NIBBLES = 4
"""At most 16**4 = 65536 chunks."""

KIND_EMPTY = 0
KIND_LEAF = 1
KIND_BRANCH = 2

_MANIFEST_HEADER = struct.Struct(">BQ32sB")
_CHUNK_HEADER = struct.Struct(">BQBII")
_LEAF_HEADER = struct.Struct(">32s32sI")

Summary = tuple[int, bytes]
"""A subtree's summary: (kind, hash); the empty subtree is (KIND_EMPTY, placeholder)."""

EMPTY_SUMMARY: Summary = (KIND_EMPTY, SPARSE_MERKLE_PLACEHOLDER_HASH)

SnapshotLeaf = tuple[bytes, bytes, bytes]
"""One state leaf: (key hash, value hash, value bytes)."""


class SnapshotRejected(ProofError):
    """A manifest or chunk that does not verify against the certified state root."""

    code = "SNAPSHOT_REJECTED"


# --- summaries -------------------------------------------------------------------


def _as_child(summary: Summary) -> Child | None:
    kind, digest = summary
    if kind == KIND_EMPTY:
        return None
    return Child(digest, 0, kind == KIND_LEAF)


def fold_summaries(hash_fn: HashFn, summaries: Sequence[Summary]) -> Summary:
    """The summary of a node whose 16 children have these summaries."""
    if len(summaries) != 16:
        raise ValueError("a node has exactly 16 children")
    digest, kind = fold_children(hash_fn, [_as_child(s) for s in summaries])
    return (kind, digest)


def subtree_summary(hash_fn: HashFn, leaves: Sequence[tuple[bytes, bytes]], depth: int) -> Summary:
    """Summary of the subtree at nibble ``depth`` holding exactly ``leaves`` (sorted, unique)."""
    if not leaves:
        return EMPTY_SUMMARY
    if len(leaves) == 1:
        key_hash, value_hash = leaves[0]
        return (KIND_LEAF, hash_leaf(hash_fn, key_hash, value_hash))
    if depth >= 2 * HASH_SIZE:
        raise ValueError("two leaves share a full key hash")
    groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(16)]
    for leaf in leaves:
        byte = leaf[0][depth // 2]
        nibble = (byte >> 4) if depth % 2 == 0 else (byte & 0x0F)
        groups[nibble].append(leaf)
    return fold_summaries(hash_fn, [subtree_summary(hash_fn, g, depth + 1) for g in groups])


def root_of_summaries(hash_fn: HashFn, summaries: Sequence[Summary]) -> bytes:
    """Fold ``16**d`` prefix summaries (in prefix order) up to the root hash."""
    level = list(summaries)
    while len(level) > 1:
        if len(level) % 16:
            raise ValueError("summary count is not a power of 16")
        level = [fold_summaries(hash_fn, level[i : i + 16]) for i in range(0, len(level), 16)]
    return level[0][1]


def _prefix_index(key_hash: bytes, prefix_nibbles: int) -> int:
    return int.from_bytes(key_hash[:4], "big") >> (32 - 4 * prefix_nibbles)


# --- manifest --------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotManifest:
    """Per-chunk subtree summaries of the state tree at ``version``."""

    version: int
    root_hash: bytes
    prefix_nibbles: int
    summaries: tuple[Summary, ...]

    @property
    def chunk_count(self) -> int:
        return len(self.summaries)

    def encode(self) -> bytes:
        parts = [_MANIFEST_HEADER.pack(SNAPSHOT_FORMAT, self.version, self.root_hash, self.prefix_nibbles)]
        for kind, digest in self.summaries:
            parts.append(bytes([kind]) + digest)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> SnapshotManifest:
        if not isinstance(data, bytes) or len(data) < _MANIFEST_HEADER.size:
            raise CodecError("snapshot manifest is truncated")
        fmt, version, root, nibbles = _MANIFEST_HEADER.unpack_from(data)
        if fmt != SNAPSHOT_FORMAT:
            raise CodecError(f"unknown snapshot format {fmt}")
        if not 1 <= nibbles <= MAX_PREFIX_NIBBLES:
            raise CodecError(f"snapshot prefix length {nibbles} is out of range")
        count = 16**nibbles
        if len(data) != _MANIFEST_HEADER.size + count * (1 + HASH_SIZE):
            raise CodecError("snapshot manifest has the wrong length")
        summaries: list[Summary] = []
        offset = _MANIFEST_HEADER.size
        for _ in range(count):
            kind = data[offset]
            digest = data[offset + 1 : offset + 1 + HASH_SIZE]
            if kind not in (KIND_EMPTY, KIND_LEAF, KIND_BRANCH):
                raise CodecError(f"unknown subtree kind {kind}")
            if kind == KIND_EMPTY and digest != SPARSE_MERKLE_PLACEHOLDER_HASH:
                raise CodecError("an empty subtree must carry the placeholder hash")
            if kind != KIND_EMPTY and digest == SPARSE_MERKLE_PLACEHOLDER_HASH:
                raise CodecError("only an empty subtree may carry the placeholder hash")
            summaries.append((kind, digest))
            offset += 1 + HASH_SIZE
        return cls(version, root, nibbles, tuple(summaries))

    def verify(self, hash_fn: HashFn, certified_version: int, certified_root: bytes) -> None:
        """Refuse the manifest unless it is for the certified height and folds to its root."""
        if self.version != certified_version:
            raise SnapshotRejected(
                "snapshot is for another height", version=self.version, expected=certified_version
            )
        if self.root_hash != certified_root:
            raise SnapshotRejected("snapshot root is not the certified state root")
        if root_of_summaries(hash_fn, self.summaries) != certified_root:
            raise SnapshotRejected("snapshot chunk summaries do not fold to the certified state root")


# --- chunks ----------------------------------------------------------------------


@dataclass(frozen=True)
class StateChunk:
    """Chunk ``index`` of the snapshot at ``version``: its leaves in key order."""

    version: int
    prefix_nibbles: int
    index: int
    leaves: tuple[SnapshotLeaf, ...]

    def encode(self) -> bytes:
        parts = [
            _CHUNK_HEADER.pack(SNAPSHOT_FORMAT, self.version, self.prefix_nibbles, self.index, len(self.leaves))
        ]
        for key_hash, value_hash, value in self.leaves:
            parts.append(_LEAF_HEADER.pack(key_hash, value_hash, len(value)))
            parts.append(value)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> StateChunk:
        if not isinstance(data, bytes) or len(data) < _CHUNK_HEADER.size:
            raise CodecError("snapshot chunk is truncated")
        fmt, version, nibbles, index, count = _CHUNK_HEADER.unpack_from(data)
        if fmt != SNAPSHOT_FORMAT:
            raise CodecError(f"unknown snapshot format {fmt}")
        offset = _CHUNK_HEADER.size
        leaves: list[SnapshotLeaf] = []
        for _ in range(count):
            if len(data) - offset < _LEAF_HEADER.size:
                raise CodecError("snapshot chunk is truncated")
            key_hash, value_hash, size = _LEAF_HEADER.unpack_from(data, offset)
            offset += _LEAF_HEADER.size
            if len(data) - offset < size:
                raise CodecError("snapshot chunk is truncated")
            leaves.append((key_hash, value_hash, data[offset : offset + size]))
            offset += size
        if offset != len(data):
            raise CodecError("snapshot chunk has trailing bytes")
        return cls(version, nibbles, index, tuple(leaves))


def verify_chunk(hash_fn: HashFn, manifest: SnapshotManifest, index: int, data: bytes) -> StateChunk:
    """Decode chunk ``index`` and check it against the (already verified) manifest.

    Raises :class:`SnapshotRejected` (or :class:`CodecError` for bytes that do not
    decode) for anything that is not exactly the chunk the manifest commits to.
    """
    if not 0 <= index < manifest.chunk_count:
        raise SnapshotRejected("chunk index out of range", index=index)
    chunk = StateChunk.decode(data)
    if (chunk.version, chunk.prefix_nibbles, chunk.index) != (manifest.version, manifest.prefix_nibbles, index):
        raise SnapshotRejected("chunk is for another snapshot or index", index=index)
    previous: bytes | None = None
    pairs: list[tuple[bytes, bytes]] = []
    for key_hash, value_hash, value in chunk.leaves:
        if previous is not None and key_hash <= previous:
            raise SnapshotRejected("chunk keys are not sorted and unique", index=index)
        if _prefix_index(key_hash, manifest.prefix_nibbles) != index:
            raise SnapshotRejected("chunk holds a key outside its prefix", index=index)
        if hash_fn(value) != value_hash:
            raise SnapshotRejected("chunk value does not match its value hash", index=index)
        previous = key_hash
        pairs.append((key_hash, value_hash))
    if subtree_summary(hash_fn, pairs, manifest.prefix_nibbles) != manifest.summaries[index]:
        raise SnapshotRejected("chunk does not rebuild the certified subtree", index=index)
    return chunk


# --- export ----------------------------------------------------------------------


def iter_leaves(get_node: GetStateNode, version: int) -> Iterator[tuple[bytes, bytes]]:
    """Every (key hash, value hash) of the tree at ``version``, in key order."""

    def read(node_key: NodeKey) -> InternalNode | LeafNode | NullNode:
        node = get_node(node_key)
        if node is None:
            raise KeyError(f"state tree node (version={node_key.version}, path={node_key.nibble_path!r}) is missing")
        return node

    stack: list[NodeKey] = [NodeKey(version, "")]
    while stack:
        node_key = stack.pop()
        node = read(node_key)
        if isinstance(node, LeafNode):
            yield node.key_hash, node.value_hash
        elif isinstance(node, InternalNode):
            for nibble in range(15, -1, -1):
                child = node.children[nibble]
                if child is not None:
                    stack.append(NodeKey(child.version, node_key.nibble_path + "0123456789abcdef"[nibble]))


def export_snapshot(
    hash_fn: HashFn,
    get_node: GetStateNode,
    get_value: Callable[[bytes], bytes | None],
    version: int,
    prefix_nibbles: int = 2,
    *,
    get_leaf: Callable[[bytes, bytes], bytes | None] | None = None,
) -> tuple[SnapshotManifest, list[bytes]]:
    """The manifest and encoded chunks of the tree at ``version``.

    ``get_value(value_hash)`` returns the stored value bytes of a leaf; ``get_leaf(key_hash,
    value_hash)``, when given, is asked instead (for values not stored by their hash alone).
    """
    if not 1 <= prefix_nibbles <= MAX_PREFIX_NIBBLES:
        raise ValueError(f"prefix_nibbles must be 1..{MAX_PREFIX_NIBBLES}")
    count = 16**prefix_nibbles
    buckets: list[list[SnapshotLeaf]] = [[] for _ in range(count)]
    for key_hash, value_hash in iter_leaves(get_node, version):
        value = get_value(value_hash) if get_leaf is None else get_leaf(key_hash, value_hash)
        if value is None:
            raise KeyError(f"state value {value_hash.hex()} is missing")
        buckets[_prefix_index(key_hash, prefix_nibbles)].append((key_hash, value_hash, value))
    summaries = tuple(
        subtree_summary(hash_fn, [(k, v) for k, v, _ in bucket], prefix_nibbles) for bucket in buckets
    )
    root = StateTree(hash_fn, get_node).root_hash(version)
    manifest = SnapshotManifest(version, root, prefix_nibbles, summaries)
    if root_of_summaries(hash_fn, summaries) != root:
        raise SnapshotRejected("the local state tree does not fold to its own root")
    chunks = [StateChunk(version, prefix_nibbles, i, tuple(b)).encode() for i, b in enumerate(buckets)]
    return manifest, chunks


# --- import ----------------------------------------------------------------------


def rebuild_state_tree(
    hash_fn: HashFn, manifest: SnapshotManifest, chunks: Sequence[StateChunk]
) -> TreeUpdateBatch:
    """The tree at ``manifest.version`` rebuilt from verified chunks (all of them, in order).

    Every node is written at version ``manifest.version``; the caller persists
    ``new_nodes`` (and each leaf's value under its value hash).
    """
    if [c.index for c in chunks] != list(range(manifest.chunk_count)):
        raise SnapshotRejected("every chunk is needed, in index order")

    def no_nodes(node_key: NodeKey) -> None:
        return None

    updates = [(k, v) for chunk in chunks for k, v, _ in chunk.leaves]
    batch = StateTree(hash_fn, no_nodes).put_batch(manifest.version, None, updates)
    if batch.root_hash != manifest.root_hash:
        raise SnapshotRejected("rebuilt state tree root differs from the certified root")
    return batch


# --- the ledger's key-value store ------------------------------------------------


def store_node_reader(store: KeyValueStore) -> GetStateNode:
    """``get_node`` over a ledger store's state-tree nodes (for :func:`export_snapshot`)."""

    def get_node(node_key: NodeKey) -> InternalNode | LeafNode | NullNode | None:
        raw = store.get(schema.make_state_node_key(encode_node_key(node_key)))
        return None if raw is None else decode_node(raw)

    return get_node


def store_value_reader(store: KeyValueStore) -> Callable[[bytes], bytes | None]:
    """``get_value`` over a ledger store's leaf values (for :func:`export_snapshot`)."""

    def get_value(value_hash: bytes) -> bytes | None:
        return store.get(schema.make_leaf_value_key(value_hash))

    return get_value


def write_rebuilt_tree(batch: WriteBatch, tree_batch: TreeUpdateBatch, chunks: Sequence[StateChunk]) -> None:
    """Put a rebuilt tree's nodes and its leaves' values into a ledger write batch.

    Only the state tree: the ledger's readable indexes, headers and accumulator
    are not part of a state snapshot.
    """
    for node_key, node in sorted(tree_batch.new_nodes.items()):
        batch.put(schema.make_state_node_key(encode_node_key(node_key)), encode_node(node))
    for chunk in chunks:
        for _, value_hash, value in chunk.leaves:
            batch.put(schema.make_leaf_value_key(value_hash), value)


# --- fetching from several peers -------------------------------------------------

FetchChunk = Callable[[int], bytes]
"""Asks one peer for chunk ``index``; raises any exception when the peer cannot answer."""


@dataclass
class FetchReport:
    """What :func:`fetch_snapshot` did: per refused chunk, the peer and the error code."""

    refused: list[tuple[int, int, str]]
    """(chunk index, peer index, error code) of every chunk that did not verify or could not be fetched."""
    bytes_received: int


def fetch_snapshot(
    hash_fn: HashFn,
    manifest: SnapshotManifest,
    peers: Sequence[FetchChunk],
) -> tuple[list[StateChunk], FetchReport]:
    """Fetch and verify every chunk of ``manifest`` (already verified) from ``peers``.

    Chunk ``i`` is asked of peer ``i % len(peers)`` first, then of the following
    peers in turn; a chunk that fails to arrive or to verify is refused and asked of
    the next peer. Raises :class:`SnapshotRejected` if no peer supplies a valid copy.
    """
    if not peers:
        raise SnapshotRejected("no peer to fetch the snapshot from")
    chunks: list[StateChunk] = []
    refused: list[tuple[int, int, str]] = []
    received = 0
    for index in range(manifest.chunk_count):
        chunk: StateChunk | None = None
        for attempt in range(len(peers)):
            peer = (index + attempt) % len(peers)
            try:
                raw = peers[peer](index)
                received += len(raw)
                chunk = verify_chunk(hash_fn, manifest, index, raw)
                break
            except (SnapshotRejected, CodecError) as error:
                refused.append((index, peer, error.code))
            except Exception:  # noqa: BLE001 - a peer's failure is recorded, the next peer is asked
                refused.append((index, peer, "PEER_UNAVAILABLE"))
        if chunk is None:
            raise SnapshotRejected("no peer supplied a valid copy of a chunk", index=index)
        chunks.append(chunk)
    return chunks, FetchReport(refused, received)
