"""A whole ledger at a certified height, for a node that joins without replaying history.

:mod:`ledger.snapshot` proves the state tree of height ``H`` chunk by chunk. A node needs a little
more beside it to continue the chain at ``H + 1``, and all of it is proven by one certified header:

* header ``H + 1`` with its commit certificate (2f+1 signatures of the validators of its epoch,
  which the node learns from its genesis and the certified epoch changes) carries the roots after
  ``H``: the state root (which the manifest must fold to) and the accumulator root and size;
* header ``H``, proven by its hash (``previous_hash`` of header ``H + 1``), is the block that the
  next one must follow (``previous_hash`` and time checks);
* the accumulator *frontier*: the perfect subtrees of the transaction accumulator at size ``s``
  (one per set bit of ``s``), whose fold must give the certified accumulator root. Appending the
  next block's transactions needs nothing else.

The readable indexes a node serves (accounts, contracts, the latest version of every entry, topic
heads, roles, participants, the validator set, the settings) are rebuilt from the verified state
leaves: each leaf value is a record whose own fields give its state key, so a leaf is accepted
only as the record type whose key hashes to the leaf's key. Nothing that the state root does not
prove is written: transactions and their index, events, older entry versions, the bodies and
certificates of blocks up to ``H`` are *history* this node does not have. The ledger records that
its history starts at ``H`` (:meth:`ledger.ledger.Ledger.history_start`) and answers reads below
it with ``HISTORY_NOT_AVAILABLE``.

Pure and deterministic like the rest of ``ledger``: no clock, randomness or networking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ledger import codec
from ledger.certificate import CommitCertificate, EpochChangeCertificate, ValidatorSet, verify_certificate
from ledger.errors import CodecError
from ledger.ledger import Ledger, block_hash
from ledger.light_client import LightClientRecord
from ledger.merkle.accumulator import MerkleAccumulator
from ledger.merkle.state_tree import HashFn
from ledger.snapshot import (
    SnapshotManifest,
    SnapshotRejected,
    StateChunk,
    export_snapshot,
    rebuild_state_tree,
    store_node_reader,
    write_rebuilt_tree,
)
from ledger.state import (
    NS_ACCOUNT,
    NS_CONTRACT,
    NS_ENTRY,
    NS_LIGHT_CLIENT,
    NS_PARTICIPANT,
    NS_ROLE,
    NS_SETTINGS,
    NS_TOPIC,
    NS_USER_ROLES,
    NS_VALIDATORS,
    make_state_key,
)
from ledger.store import schema
from ledger.store.base import KeyValueStore, WriteBatch
from ledger.types import (
    AccountRecord,
    BlockHeader,
    ContractRecord,
    EntryRecord,
    EventHead,
    ExecutionRoots,
    LedgerSettings,
    ParticipantRecord,
    RoleRecord,
    UserRolesRecord,
    ValidatorSetRecord,
)

__all__ = [
    "LedgerSnapshotOffer",
    "accumulator_frontier",
    "export_ledger_chunks",
    "export_ledger_snapshot",
    "frontier_positions",
    "import_ledger_snapshot",
    "verify_offer",
]


# --- the accumulator frontier -----------------------------------------------------------


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that make up an accumulator of ``size`` leaves, left first."""
    positions: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


def accumulator_frontier(get_node: Callable[[int, int], bytes | None], size: int) -> tuple[bytes, ...]:
    """The frontier node hashes of the accumulator at ``size`` (see :func:`frontier_positions`)."""
    hashes: list[bytes] = []
    for level, index in frontier_positions(size):
        node = get_node(level, index)
        if node is None:
            raise KeyError(f"accumulator node (level={level}, index={index}) is missing")
        hashes.append(node)
    return tuple(hashes)


def _frontier_root(hash_fn: HashFn, size: int, frontier: Sequence[bytes]) -> bytes:
    positions = frontier_positions(size)
    if len(frontier) != len(positions):
        raise SnapshotRejected("accumulator frontier has the wrong number of nodes")
    nodes = dict(zip(positions, frontier))
    return MerkleAccumulator(hash_fn, size, lambda level, index: nodes.get((level, index))).root_hash()


# --- the offer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerSnapshotOffer:
    """What a peer offers for height ``height`` (= H): everything but the state chunks."""

    height: int
    header: BlockHeader
    """Header H (the last block this snapshot includes)."""
    next_header: BlockHeader
    """Header H + 1: carries the roots after H."""
    certificate: CommitCertificate
    """Commit certificate of header H + 1."""
    manifest: SnapshotManifest
    frontier: tuple[bytes, ...]
    epoch_certificates: tuple[EpochChangeCertificate, ...]
    """Every epoch change up to the epoch of header H + 1 (how the validators are learnt from genesis)."""

    def encode(self) -> bytes:
        return codec.pack_canonical([
            self.height, codec.encode(self.header), codec.encode(self.next_header), codec.encode(self.certificate),
            self.manifest.encode(), list(self.frontier), [codec.encode(c) for c in self.epoch_certificates],
        ])

    @classmethod
    def decode(cls, data: bytes) -> LedgerSnapshotOffer:
        try:
            items: Any = codec.unpack_canonical(data)
            height, header, next_header, certificate, manifest, frontier, epochs = items
            if not isinstance(height, int) or not isinstance(frontier, list) or not isinstance(epochs, list):
                raise CodecError("snapshot offer has the wrong shape")
            if not all(isinstance(f, bytes) for f in frontier) or not all(isinstance(e, bytes) for e in epochs):
                raise CodecError("snapshot offer has the wrong shape")
            return cls(
                height, codec.decode(BlockHeader, header), codec.decode(BlockHeader, next_header),
                codec.decode(CommitCertificate, certificate), SnapshotManifest.decode(manifest), tuple(frontier),
                tuple(codec.decode(EpochChangeCertificate, e) for e in epochs),
            )
        except CodecError:
            raise
        except (TypeError, ValueError) as error:
            raise CodecError(f"snapshot offer does not decode: {error}") from error

    @property
    def roots(self) -> ExecutionRoots:
        """The roots after block H (what header H + 1 carries)."""
        return ExecutionRoots(
            self.next_header.state_root, self.next_header.accumulator_root, self.next_header.accumulator_size
        )


def verify_offer(
    offer: LedgerSnapshotOffer,
    *,
    ledger_hash: bytes,
    hash_fn: HashFn,
    hash_code: int,
    validators: ValidatorSet,
) -> None:
    """Refuse an offer unless header H + 1 is certified by ``validators`` (the set of its epoch,
    learnt by the caller from genesis and verified epoch changes) and everything else follows
    from that header: header H by its hash, the manifest by the state root, the frontier by the
    accumulator root. Raises :class:`SnapshotRejected` (or ProofError from the certificate)."""
    header, following = offer.header, offer.next_header
    if offer.height < 1 or header.height != offer.height or following.height != offer.height + 1:
        raise SnapshotRejected("snapshot offer heights are inconsistent", height=offer.height)
    if following.ledger_hash != ledger_hash or header.ledger_hash != ledger_hash:
        raise SnapshotRejected("snapshot offer is for another ledger")
    if following.epoch != validators.epoch:
        raise SnapshotRejected("snapshot header is of another epoch than the validators given")
    verify_certificate(
        offer.certificate, ledger_hash=ledger_hash, height=following.height,
        header_hash=block_hash(hash_fn, hash_code, following), validators=validators,
    )
    if block_hash(hash_fn, hash_code, header) != following.previous_hash:
        raise SnapshotRejected("snapshot header H is not the parent of the certified header")
    offer.manifest.verify(hash_fn, offer.height, following.state_root)
    if _frontier_root(hash_fn, following.accumulator_size, offer.frontier) != following.accumulator_root:
        raise SnapshotRejected("accumulator frontier does not fold to the certified accumulator root")


# --- export (the serving node) --------------------------------------------------------------


def _split_lp(raw: bytes, offset: int) -> tuple[str, int]:
    length = int.from_bytes(raw[offset:offset + 4], "big")
    return raw[offset + 4:offset + 4 + length].decode("utf-8"), offset + 4 + length


def _entry_index(store: KeyValueStore, hash_fn: HashFn) -> dict[bytes, tuple[str, str, int]]:
    """State key of every entry → (account, key, latest version) from the latest-version table."""
    prefix = schema.SCHEMA_VERSION + b"e"
    index: dict[bytes, tuple[str, str, int]] = {}
    for db_key, raw in store.iterate(prefix):
        account, offset = _split_lp(db_key, len(prefix))
        key, _ = _split_lp(db_key, offset)
        index[make_state_key(hash_fn, NS_ENTRY, account, key)] = (account, key, int.from_bytes(raw, "big", signed=True))
    return index


def export_ledger_chunks(ledger: Ledger, height: int, prefix_nibbles: int = 2) -> tuple[SnapshotManifest, list[bytes]]:
    """The manifest and encoded chunks of ``ledger``'s state at ``height``. Needs no certificate: a
    joining node checks every chunk against the manifest of an offer it verified, whoever serves it.
    Reads only immutable data (tree nodes of version H, content-addressed leaf values, entry
    versions), so it runs beside the node's commit path."""
    store = ledger.store
    entries = _entry_index(store, ledger.hash_fn)

    def get_leaf(key_hash: bytes, value_hash: bytes) -> bytes | None:
        value = store.get(schema.make_leaf_value_key(value_hash))
        if value is not None:
            return value
        found = entries.get(key_hash)
        if found is None:
            return None
        account, key, version = found
        for candidate in range(version, -1, -1):  # the entry's version at H: newest first
            raw = store.get(schema.make_entry_key(account, key, candidate))
            if raw is not None and ledger.hash_fn(raw) == value_hash:
                return raw
        return None

    return export_snapshot(
        ledger.hash_fn, store_node_reader(store), lambda _: None, height, prefix_nibbles, get_leaf=get_leaf,
    )


def export_ledger_snapshot(ledger: Ledger, height: int, prefix_nibbles: int = 2) -> tuple[LedgerSnapshotOffer, list[bytes]]:
    """The offer and encoded chunks of ``ledger`` at ``height`` (H), whose successor H + 1 must be
    stored with its commit certificate (the offer carries it)."""
    store = ledger.store
    certificate = ledger.get_certificate(height + 1)
    if certificate is None:
        raise SnapshotRejected("no commit certificate for the header after the snapshot height", height=height)
    header, following = ledger.get_header(height), ledger.get_header(height + 1)
    manifest, chunks = export_ledger_chunks(ledger, height, prefix_nibbles)
    epochs = []
    for epoch in range(1, following.epoch + 1):
        change = ledger.get_epoch_certificate(epoch)
        if change is None:
            raise SnapshotRejected("an epoch change certificate is missing", epoch=epoch)
        epochs.append(change)
    frontier = accumulator_frontier(
        lambda level, index: store.get(schema.make_accumulator_node_key(level, index)), following.accumulator_size
    )
    offer = LedgerSnapshotOffer(height, header, following, certificate, manifest, frontier, tuple(epochs))
    return offer, chunks


# --- import (the joining node) --------------------------------------------------------------

_Indexer = Callable[[WriteBatch, Any], None]


def _index_account(batch: WriteBatch, record: AccountRecord) -> None:
    batch.put(schema.make_account_key(record.address), codec.encode(record))
    batch.put(schema.make_account_kind_index_key(int(record.kind), record.address), b"")


def _index_contract(batch: WriteBatch, record: ContractRecord) -> None:
    batch.put(schema.make_contract_key(record.address), codec.encode(record))
    batch.put(schema.make_contract_source_key(record.address, record.version), record.source.encode("utf-8"))


def _index_entry(batch: WriteBatch, record: EntryRecord) -> None:
    batch.put(schema.make_entry_key(record.account, record.key, record.version), codec.encode(record))
    batch.put(schema.make_latest_version_key(record.account, record.key), record.version.to_bytes(8, "big", signed=True))


def _index_topic(batch: WriteBatch, record: EventHead) -> None:
    batch.put(schema.make_topic_head_key(record.account, record.topic), codec.encode(record))


def _index_validators(batch: WriteBatch, record: ValidatorSetRecord) -> None:
    encoded = codec.encode(record)
    batch.put(schema.META_VALIDATORS, encoded)
    batch.put(schema.make_epoch_key(record.epoch), encoded)


_RECORD_KINDS: tuple[tuple[type[Any], str, Callable[[Any], tuple[str, str]], _Indexer], ...] = (
    (EntryRecord, NS_ENTRY, lambda r: (r.account, r.key), _index_entry),
    (AccountRecord, NS_ACCOUNT, lambda r: (r.address, ""), _index_account),
    (EventHead, NS_TOPIC, lambda r: (r.account, r.topic), _index_topic),
    (ContractRecord, NS_CONTRACT, lambda r: (r.address, ""), _index_contract),
    (RoleRecord, NS_ROLE, lambda r: (r.role, ""),
     lambda b, r: b.put(schema.make_role_key(r.role), codec.encode(r))),
    (UserRolesRecord, NS_USER_ROLES, lambda r: (r.user, ""),
     lambda b, r: b.put(schema.make_user_roles_key(r.user), codec.encode(r))),
    (ParticipantRecord, NS_PARTICIPANT, lambda r: (r.address, ""),
     lambda b, r: b.put(schema.make_participant_key(r.address), codec.encode(r))),
    (ValidatorSetRecord, NS_VALIDATORS, lambda r: ("validators", ""), _index_validators),
    (LedgerSettings, NS_SETTINGS, lambda r: ("settings", ""),
     lambda b, r: b.put(schema.META_SETTINGS, codec.encode(r))),
    (LightClientRecord, NS_LIGHT_CLIENT, lambda r: (r.ledger_hash.hex(), ""),
     lambda b, r: b.put(schema.make_light_client_key(r.ledger_hash), codec.encode(r))),
)


def classify_leaf(hash_fn: HashFn, key_hash: bytes, value: bytes) -> tuple[Any, _Indexer]:
    """The record a state leaf holds and how to index it: the one type whose own state key is the
    leaf's key. A leaf no type explains is refused (never guessed)."""
    for record_type, namespace, parts, indexer in _RECORD_KINDS:
        try:
            record = codec.decode(record_type, value)
        except (CodecError, TypeError, ValueError):
            continue
        if codec.encode(record) != value:
            continue
        first, second = parts(record)
        if make_state_key(hash_fn, namespace, first, second) == key_hash:
            return record, indexer
    raise SnapshotRejected("a state leaf is no record this version knows", key=key_hash.hex())


def _iter_leaves(chunks: Sequence[StateChunk]) -> Iterator[tuple[bytes, bytes]]:
    for chunk in chunks:
        for key_hash, _, value in chunk.leaves:
            yield key_hash, value


def import_ledger_snapshot(ledger: Ledger, offer: LedgerSnapshotOffer, chunks: Sequence[StateChunk]) -> None:
    """Write a verified offer and its verified chunks into a ledger that holds only its genesis block,
    in one atomic batch, then reload the ledger: it continues at height H with history from H."""
    if ledger.height != 0:
        raise SnapshotRejected("a snapshot is imported only into a ledger at its genesis block", height=ledger.height)
    hash_fn = ledger.hash_fn
    tree = rebuild_state_tree(hash_fn, offer.manifest, chunks)
    batch = ledger.store.atomic_batch()
    write_rebuilt_tree(batch, tree, chunks)
    for key_hash, value in _iter_leaves(chunks):
        record, indexer = classify_leaf(hash_fn, key_hash, value)
        indexer(batch, record)
    for change in offer.epoch_certificates:
        batch.put(schema.make_epoch_certificate_key(change.epoch), codec.encode(change))
    for (level, index), node in zip(frontier_positions(offer.next_header.accumulator_size), offer.frontier):
        batch.put(schema.make_accumulator_node_key(level, index), node)
    height = offer.height
    header_hash = block_hash(hash_fn, ledger.hash_code, offer.header)
    batch.put(schema.make_header_key(height), codec.encode(offer.header))
    batch.put(schema.make_block_hash_key(header_hash), height.to_bytes(8, "big"))
    encoded_roots = codec.encode(offer.roots)
    batch.put(schema.make_height_roots_key(height), encoded_roots)
    batch.put(schema.META_ROOTS, encoded_roots)
    batch.put(schema.META_HEIGHT, height.to_bytes(8, "big"))
    batch.put(schema.META_HISTORY_START, height.to_bytes(8, "big"))
    batch.commit()
    ledger.reload()
