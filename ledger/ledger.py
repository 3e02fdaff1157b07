"""One ledger: its blocks, its state and its proofs, over one key-value store.

:meth:`Ledger.apply_block` is the state transition, read top to bottom: it
checks the header against the chain (height, ledger, previous hash, execution
roots, transaction root, time), executes the transactions, updates the state
tree and the transaction accumulator, and writes everything for the block in
one atomic batch. A process killed at any point reopens at the last block whose
batch was written, never in between.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from ledger import codec
from ledger.certificate import CommitCertificate, EpochChangeCertificate, ValidatorSet
from ledger.contract_api import ContractRuntime
from ledger.crypto import algorithm_by_code, hasher
from ledger.errors import (
    Archived,
    HistoryNotAvailable,
    IncompatibleStorageFormat,
    InvalidBlock,
    LedgerCorrupted,
    NotFound,
    RootMismatch,
)
from ledger.executor import (
    BlockExecution,
    CallOutcome,
    ExecutionEnvironment,
    SignatureCheck,
    SignedTransaction,
    call_readonly,
    encoded_transaction,
    execute_block,
    hash_and_content,
    verify_signatures,
)
from ledger.merkle.accumulator import MerkleAccumulator, empty_root
from ledger.merkle.state_tree import (
    FoldCache,
    SPARSE_MERKLE_PLACEHOLDER_HASH,
    Node,
    NodeKey,
    StateTree,
    decode_node,
    encode_nibble_path,
    encode_node,
    encode_node_key,
    encode_node_version,
)
from ledger.state import NS_ENTRY, WorkingState, make_state_key
from ledger.store import schema
from ledger.store.base import KeyValueStore, WriteBatch
from ledger.types import (
    AccountKind,
    AccountRecord,
    Block,
    BlockHeader,
    ContractRecord,
    EntryRecord,
    Event,
    EventHead,
    ExecutionRoots,
    LedgerSettings,
    ParticipantRecord,
    RoleRecord,
    Transaction,
    TransactionInfo,
    UpdateLedgerSettings,
    UserRolesRecord,
    ValidatorSetRecord,
)
from ledger.values import ValueType


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    """A committed transaction with its execution info and accumulator position."""

    transaction: Transaction
    info: TransactionInfo
    accumulator_index: int


@dataclass(frozen=True, slots=True)
class BlockResult:
    header: BlockHeader
    block_hash: bytes
    roots: ExecutionRoots
    """Roots after executing this block (the next header must carry them)."""
    tx_infos: tuple[TransactionInfo, ...]
    events: tuple[Event, ...]
    skipped_duplicates: tuple[bytes, ...]


def compute_tx_root(hash_fn: Callable[[bytes], bytes], tx_hashes: Sequence[bytes]) -> bytes:
    """The header's commitment to the block's transactions (in order)."""
    return hash_fn(codec.pack_canonical(list(tx_hashes)))


def settings_from_genesis(block: Block) -> LedgerSettings:
    """The settings a genesis block carries in its first operation."""
    if block.header.height != 0 or len(block.transactions) != 1:
        raise InvalidBlock("a genesis block has height 0 and exactly one transaction")
    first = block.transactions[0].content.operations[0]
    if not isinstance(first, UpdateLedgerSettings) or first.name != "genesis":
        raise InvalidBlock("the genesis transaction must start with the genesis settings")
    if first.value.type != ValueType.BYTES:
        raise InvalidBlock("genesis settings must be the encoded LedgerSettings")
    return codec.decode(LedgerSettings, first.value.data)


_BLOCK_ARRAY = b"\x92"
"""msgpack's header of a two-element array: an encoded Block is [header, transactions]."""

ARCHIVED_TX_TAG = b"\x00"
"""First byte of a transaction record whose body was archived (a real record is a msgpack array).

The record keeps the block height and stays under the transaction's key, so that a replayed
transaction is still a duplicate on this node exactly as on a node that archived nothing."""


def encode_archived_tx_record(height: int) -> bytes:
    return ARCHIVED_TX_TAG + height.to_bytes(8, "big")


def archived_tx_height(raw: bytes) -> int | None:
    """The block height of an archived transaction record; None for a full record."""
    if raw[:1] != ARCHIVED_TX_TAG:
        return None
    return int.from_bytes(raw[1:9], "big")


def read_archive_boundary(store: KeyValueStore) -> int:
    """The first block height the store still holds (1 when nothing is archived)."""
    raw = store.get(schema.META_ARCHIVE)
    return 1 if raw is None else int.from_bytes(raw, "big")


def check_storage_format(store: KeyValueStore) -> None:
    """Refuse a store whose values this version would misread (written in another storage format)."""
    raw = store.get(schema.META_STORAGE_FORMAT)
    found = 1 if raw is None else int.from_bytes(raw, "big")
    if found != schema.STORAGE_FORMAT:
        raise IncompatibleStorageFormat(
            f"this ledger database is in storage format {found}; this version of Jadechain reads format "
            f"{schema.STORAGE_FORMAT}. Run it with the version that wrote it, or move the node's data "
            "directory aside and create the network again")


class Ledger:
    """A ledger over a store: one writer (the node's commit path), concurrent readers.

    Readers on other threads see either the state before a block or after it,
    never in between: the block's writes reach LevelDB in one atomic batch, and
    ``height``, ``roots`` and ``last_header`` move only after that batch is written.
    A reader that reads several keys may still see them from two different
    blocks; readers that need one consistent view pin a height and read by it.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        runtime: ContractRuntime | None = None,
        check_signatures: SignatureCheck = verify_signatures,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.check_signatures = check_signatures
        ledger_hash = store.get(schema.META_LEDGER_HASH)
        settings_raw = store.get(schema.META_SETTINGS)
        if ledger_hash is None or settings_raw is None:
            raise NotFound("no ledger in this store (create it from a genesis block)")
        check_storage_format(store)
        self.ledger_hash = ledger_hash
        self._load_meta()
        # Decoded state-tree nodes by node key. Nodes are immutable once their block is
        # committed, and each block reads the upper nodes the previous one wrote; only
        # committed nodes enter (after the batch is written), so a failed block leaves none.
        self._tree_nodes: dict[NodeKey, Node] = {}
        self._tree_folds = FoldCache()
        """Level hashes of full tree nodes, so a block refolds only what changed under them."""
        self._commit_lock = _CommitFirstLock()
        """Held while a block's batch is written and the ledger moves to it, and for a whole read-only
        call, so that a call reads one committed state; a waiting commit goes before any call that has
        not started, so it waits for at most one call."""

    def _load_meta(self) -> None:
        settings_raw = self.store.get(schema.META_SETTINGS)
        height_raw = self.store.get(schema.META_HEIGHT)
        roots_raw = self.store.get(schema.META_ROOTS)
        if settings_raw is None or height_raw is None or roots_raw is None:
            raise LedgerCorrupted("ledger metadata is incomplete")
        self._load_settings(codec.decode(LedgerSettings, settings_raw))
        start_raw = self.store.get(schema.META_HISTORY_START)
        self._history_start = 0 if start_raw is None else int.from_bytes(start_raw, "big")
        self.archived_below = read_archive_boundary(self.store)
        """Blocks 1 .. archived_below - 1 are in archive files, not in this store."""
        self._height = int.from_bytes(height_raw, "big")
        self._roots = codec.decode(ExecutionRoots, roots_raw)
        self._last_header = self.get_header(self._height)
        self._last_header_hash = self.hash_header(self._last_header)

    def reload(self) -> None:
        """Read the metadata again after the store was written outside :meth:`apply_block`
        (a state snapshot imported by :func:`ledger.snapshot_ledger.import_ledger_snapshot`)."""
        self._tree_nodes = {}
        self._load_meta()

    @property
    def history_start(self) -> int:
        """0 for a ledger with every block since genesis; else the snapshot height it started from:
        blocks 1..history_start (bodies, transactions, events, certificates) are not here."""
        return self._history_start

    def _history_missing(self, height: int, what: str) -> HistoryNotAvailable:
        return HistoryNotAvailable(
            f"{what} {height} is older than this node's history, which starts at height "
            f"{self._history_start} (a state snapshot); ask a node with full history",
            height=height, history_start=self._history_start,
        )

    def _load_settings(self, settings: LedgerSettings) -> None:
        self.settings = settings
        self.hash_algorithm = algorithm_by_code(settings.hash_algorithm)
        self.hash_fn = hasher(self.hash_algorithm)
        self.hash_code = settings.hash_algorithm
        self._hash_prefix = self.hash_code.to_bytes(2, "big")

    # --- creation -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        store: KeyValueStore,
        genesis: Block,
        *,
        runtime: ContractRuntime | None = None,
        check_signatures: SignatureCheck = verify_signatures,
    ) -> "Ledger":
        """Initialise an empty store with a genesis block (from the genesis ceremony)."""
        if store.get(schema.META_LEDGER_HASH) is not None:
            raise InvalidBlock("this store already holds a ledger")
        settings = settings_from_genesis(genesis)
        algorithm = algorithm_by_code(settings.hash_algorithm)
        hash_fn = hasher(algorithm)
        header = genesis.header
        empty = ExecutionRoots(SPARSE_MERKLE_PLACEHOLDER_HASH, empty_root(hash_fn), 0)
        if header.ledger_hash or header.previous_hash or header.proposer:
            raise InvalidBlock("genesis header must have empty ledger hash, previous hash and proposer")
        if (header.state_root, header.accumulator_root, header.accumulator_size) != (
            empty.state_root, empty.accumulator_root, empty.accumulator_size
        ):
            raise RootMismatch("genesis header must carry the empty roots")
        ledger_hash = block_hash(hash_fn, settings.hash_algorithm, header)
        env = ExecutionEnvironment(
            ledger_hash=ledger_hash,
            hash_fn=hash_fn,
            hash_code=settings.hash_algorithm,
            settings=settings,
            runtime=runtime,
            check_signatures=check_signatures,
            genesis=True,
        )
        batch = store.atomic_batch()
        batch.put(schema.META_LEDGER_HASH, ledger_hash)
        batch.put(schema.META_STORAGE_FORMAT, schema.STORAGE_FORMAT.to_bytes(2, "big"))
        execution, _, _ = _persist_block(batch, genesis, env, empty, base_tree_version=None)
        failed = [info.status for info in execution.tx_infos if info.status != "SUCCESS"]
        if failed or len(execution.tx_infos) != 1:
            raise InvalidBlock(f"the genesis transaction failed: {', '.join(failed) or 'not executed'}")
        batch.commit()
        return cls(store, runtime=runtime, check_signatures=check_signatures)

    # --- chain ----------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self._height

    @property
    def roots(self) -> ExecutionRoots:
        """Roots after the last committed block."""
        return self._roots

    @property
    def last_header(self) -> BlockHeader:
        return self._last_header

    def hash_header(self, header: BlockHeader) -> bytes:
        return block_hash(self.hash_fn, self.hash_code, header)

    def tx_hash(self, tx: Transaction) -> bytes:
        return hash_and_content(self.hash_fn, self.hash_code, tx)[0]

    def sign_parts(self, tx: Transaction | SignedTransaction) -> SignedTransaction:
        """The transaction as one :class:`SignedTransaction` (encoded and hashed here if it is not one,
        or if it was hashed with another ledger's algorithm)."""
        if isinstance(tx, SignedTransaction):
            if tx.tx_hash[:2] == self._hash_prefix:
                return tx
            tx = tx.tx
        return SignedTransaction.of(tx, self.hash_fn, self.hash_code)

    def next_header(
        self, transactions: Sequence[Transaction | SignedTransaction], *, time: int, proposer: bytes,
        epoch: int | None = None,
    ) -> BlockHeader:
        """The header a proposer puts on the next block (carrying the current roots)."""
        hashes = [self.sign_parts(tx).tx_hash for tx in transactions]
        return BlockHeader(
            ledger_hash=self.ledger_hash,
            height=self._height + 1,
            previous_hash=self._last_header_hash,
            tx_root=compute_tx_root(self.hash_fn, hashes),
            tx_count=len(transactions),
            state_root=self._roots.state_root,
            accumulator_root=self._roots.accumulator_root,
            accumulator_size=self._roots.accumulator_size,
            time=max(time, self._last_header.time),
            proposer=proposer,
            epoch=self.current_epoch() if epoch is None else epoch,
        )

    def make_block(
        self, transactions: Sequence[Transaction | SignedTransaction], *, time: int, proposer: bytes = b"",
        epoch: int | None = None,
    ) -> Block:
        """The next block. Give :class:`SignedTransaction` values (and the same to :meth:`apply_block`)
        to hash and encode nothing again."""
        header = self.next_header(transactions, time=time, proposer=proposer, epoch=epoch)
        return Block(header, tuple(tx.tx if isinstance(tx, SignedTransaction) else tx for tx in transactions))

    def check_header(self, header: BlockHeader, transactions: Sequence[Transaction | SignedTransaction]) -> list[bytes]:
        """Every check a replica makes before voting for / applying a block.

        Returns the transactions' hashes (computed on the way).
        """
        return [signed.tx_hash for signed in self._check_header(header, transactions)]

    def _check_header(
        self, header: BlockHeader, transactions: Sequence[Transaction | SignedTransaction]
    ) -> list[SignedTransaction]:
        if header.ledger_hash != self.ledger_hash:
            raise InvalidBlock("block is for another ledger")
        if header.height != self._height + 1:
            raise InvalidBlock(f"expected height {self._height + 1}, got {header.height}")
        if header.previous_hash != self._last_header_hash:
            raise InvalidBlock("previous hash does not match the last committed block")
        if header.state_root != self._roots.state_root:
            raise RootMismatch("state root differs from this replica's execution")
        if header.accumulator_root != self._roots.accumulator_root:
            raise RootMismatch("accumulator root differs from this replica's execution")
        if header.accumulator_size != self._roots.accumulator_size:
            raise RootMismatch("accumulator size differs from this replica's execution")
        if header.tx_count != len(transactions):
            raise InvalidBlock("transaction count does not match the header")
        signed = [self.sign_parts(tx) for tx in transactions]
        if header.tx_root != compute_tx_root(self.hash_fn, [item.tx_hash for item in signed]):
            raise InvalidBlock("transaction root does not match the block's transactions")
        if header.time < self._last_header.time:
            raise InvalidBlock("block time goes backwards")
        if header.epoch != self.current_epoch():
            raise InvalidBlock(f"block is for epoch {header.epoch}; the ledger is in epoch {self.current_epoch()}")
        return signed

    def apply_block(
        self,
        block: Block,
        *,
        certificate: CommitCertificate | None = None,
        preverified: Callable[[bytes], bool] | None = None,
        signed: Sequence[SignedTransaction] | None = None,
    ) -> BlockResult:
        """Validate and execute the next block and persist it atomically.

        ``signed``: the block's transactions as the caller already holds them decoded and hashed
        (the values given to :meth:`make_block`), so they are not encoded and hashed again.
        """
        if signed is not None:
            if len(signed) != len(block.transactions) or any(
                item.tx is not tx and item.tx != tx for item, tx in zip(signed, block.transactions)
            ):
                raise InvalidBlock("the signed transactions given are not the block's transactions")
            parts = self._check_header(block.header, signed)
        else:
            parts = self._check_header(block.header, block.transactions)
        env = ExecutionEnvironment(
            ledger_hash=self.ledger_hash,
            hash_fn=self.hash_fn,
            hash_code=self.hash_code,
            settings=self.settings,
            runtime=self.runtime,
            check_signatures=self.check_signatures,
            preverified=preverified,
            tx_hashes=[item.tx_hash for item in parts],
        )
        batch = self.store.atomic_batch()
        new_tree_nodes: dict[NodeKey, Node] = {}
        stale_tree_nodes: list[NodeKey] = []
        execution, roots, header_hash = _persist_block(
            batch, block, env, self._roots, base_tree_version=self._height,
            encoded_txs=[item.encoded for item in parts],
            node_cache=self._tree_nodes, tree_nodes_out=new_tree_nodes, stale_nodes_out=stale_tree_nodes,
            fold_cache=self._tree_folds,
        )
        if certificate is not None:
            batch.put(schema.make_certificate_key(block.header.height), codec.encode(certificate))
        with self._commit_lock.committing():  # a read-only call never sees half of this
            batch.commit()
            # The next block reads only the tree's newest version: the nodes this one replaced go.
            for node_key in stale_tree_nodes:
                self._tree_nodes.pop(node_key, None)
            if len(self._tree_nodes) + len(new_tree_nodes) > TREE_NODE_CACHE_LIMIT:
                self._tree_nodes.clear()
            self._tree_nodes.update(new_tree_nodes)
            self._height = block.header.height
            self._roots = roots
            self._last_header = block.header
            self._last_header_hash = header_hash
            new_settings = self.store.get(schema.META_SETTINGS)
            if new_settings is not None:
                self._load_settings(codec.decode(LedgerSettings, new_settings))
        return BlockResult(
            header=block.header,
            block_hash=header_hash,
            roots=roots,
            tx_infos=tuple(execution.tx_infos),
            events=tuple(execution.events),
            skipped_duplicates=tuple(execution.skipped_duplicates),
        )

    def call(self, tx: Transaction) -> CallOutcome:
        """Run a signed one-``InvokeContract`` transaction against the committed state; write nothing.

        Like web3's ``eth_call``: the contract runs as it would in the next block (that height,
        the last block's time), with the signer as caller, and every write is discarded. The call
        reads one committed state: a block that finishes executing meanwhile waits to be written
        until the call returns (the contract engine runs one invocation at a time per process too,
        so a call delays the node's blocks by at most its gas limit's worth of work).
        """
        with self._commit_lock.calling():
            return self._call(tx)

    def _call(self, tx: Transaction) -> CallOutcome:
        last = self._last_header
        header = BlockHeader(
            ledger_hash=self.ledger_hash, height=last.height + 1, previous_hash=self._last_header_hash,
            tx_root=b"", tx_count=1, state_root=self._roots.state_root,
            accumulator_root=self._roots.accumulator_root, accumulator_size=self._roots.accumulator_size,
            time=last.time, proposer=b"", epoch=last.epoch,
        )
        env = ExecutionEnvironment(
            ledger_hash=self.ledger_hash, hash_fn=self.hash_fn, hash_code=self.hash_code, settings=self.settings,
            runtime=self.runtime, check_signatures=self.check_signatures,
        )
        tx_hash = hash_and_content(self.hash_fn, self.hash_code, tx)[0]
        return call_readonly(WorkingState(self.store, self.hash_fn), tx, tx_hash, Block(header, (tx,)), env)

    def put_certificate(self, certificate: CommitCertificate) -> None:
        """Attach a commit certificate that arrived after the block was applied."""
        header = self.get_header(certificate.height)
        if certificate.header_hash != self.hash_header(header):
            raise InvalidBlock("certificate is for another header")
        self.store.put(schema.make_certificate_key(certificate.height), codec.encode(certificate))

    # --- reads: blocks and transactions --------------------------------------------------

    def is_archived(self, height: int) -> bool:
        return 1 <= height < self.archived_below

    def check_not_archived(self, height: int) -> None:
        """Raise Archived for a height whose block is in archive files (before reading a range from it)."""
        if self.is_archived(height):
            raise self._missing_block(height)

    def _missing_block(self, height: int) -> NotFound:
        if self.is_archived(height):
            return Archived(
                f"block {height} is archived (this node holds blocks from {self.archived_below}); "
                "import its archive file to serve it again", height=height, first_held=self.archived_below)
        return NotFound(f"no block at height {height}")

    def get_header(self, height: int) -> BlockHeader:
        raw = self.store.get(schema.make_header_key(height))
        if raw is None:
            if 0 < height < self._history_start:
                raise self._history_missing(height, "block")
            raise self._missing_block(height)
        return codec.decode(BlockHeader, raw)

    def get_height_by_hash(self, block_hash_: bytes) -> int:
        raw = self.store.get(schema.make_block_hash_key(block_hash_))
        if raw is None:
            raise NotFound("no block with this hash")
        return int.from_bytes(raw, "big")

    def get_block_tx_hashes(self, height: int) -> list[bytes]:
        raw = self.store.get(schema.make_block_txs_key(height))
        if raw is None:
            if 0 < height <= self._history_start:
                raise self._history_missing(height, "the transactions of block")
            raise self._missing_block(height)
        hashes = codec.unpack_canonical(raw)
        return list(hashes)

    def get_block(self, height: int) -> Block:
        header = self.get_header(height)
        raw = self.store.get(schema.make_block_body_key(height))
        if raw is None:
            if 0 < height <= self._history_start:
                raise self._history_missing(height, "the transactions of block")
            raise LedgerCorrupted(f"block {height} transactions missing")
        encoded = codec.unpack_canonical(raw)
        return Block(header, tuple(codec.decode(Transaction, item) for item in encoded))

    def get_block_encoded(self, height: int) -> bytes:
        """``codec.encode(self.get_block(height))`` without decoding the transactions and encoding them
        again (what ledger sync serves to a lagging peer, block after block): a block is the array
        [header, [transaction, ...]], the header is stored in its encoding and the body as the list of
        the transactions' encodings."""
        header_raw = self.store.get(schema.make_header_key(height))
        body_raw = self.store.get(schema.make_block_body_key(height))
        if header_raw is None or body_raw is None:
            self.get_block(height)  # raises the error that says what is missing
            raise LedgerCorrupted(f"block {height} missing")
        encoded_txs: list[bytes] = codec.unpack_canonical(body_raw)
        return b"".join((_BLOCK_ARRAY, header_raw, codec.array_header(len(encoded_txs)), *encoded_txs))

    def get_certificate(self, height: int) -> CommitCertificate | None:
        """The header's commit certificate; None if it has none here (archived ones included:
        consensus asks about heights peers name, and an old one is simply not served)."""
        raw = self.store.get(schema.make_certificate_key(height))
        return None if raw is None else codec.decode(CommitCertificate, raw)

    def get_transaction(self, tx_hash: bytes) -> StoredTransaction:
        raw = self.store.get(schema.make_tx_key(tx_hash))
        if raw is None:
            if self._history_start:
                raise NotFound("no transaction with this hash since height "
                               f"{self._history_start}, where this node's history starts (a state snapshot)")
            raise NotFound("no transaction with this hash")
        archived_at = archived_tx_height(raw)
        if archived_at is not None:
            raise Archived(f"the transaction is in archived block {archived_at}", height=archived_at)
        tx_raw, info_raw, index = codec.unpack_canonical(raw)
        return StoredTransaction(
            codec.decode(Transaction, tx_raw), codec.decode(TransactionInfo, info_raw), index
        )

    def has_transaction(self, tx_hash: bytes) -> bool:
        """Whether a committed block holds this transaction (one key lookup, nothing decoded)."""
        return self.store.get(schema.make_tx_key(tx_hash)) is not None

    def get_tx_events(self, tx_hash: bytes) -> list[Event]:
        raw = self.store.get(schema.make_tx_events_key(tx_hash))
        return [] if raw is None else codec.decode_list(Event, raw)

    def get_tx_hash_at(self, accumulator_index: int) -> bytes:
        raw = self.store.get(schema.make_tx_index_key(accumulator_index))
        if raw is None and self.archived_below > 1 and accumulator_index < self.get_header(
                self.archived_below).accumulator_size:
            raise Archived(f"transaction {accumulator_index} of the log is in an archived block")
        if raw is None:
            raise NotFound(f"no transaction at accumulator index {accumulator_index}")
        return raw

    def roots_at(self, height: int) -> ExecutionRoots:
        """Roots after executing block ``height``."""
        raw = self.store.get(schema.make_height_roots_key(height))
        if raw is None:
            if 0 < height < self._history_start:
                raise self._history_missing(height, "the roots of block")
            raise self._missing_block(height)
        return codec.decode(ExecutionRoots, raw)

    # --- reads: accounts and data -----------------------------------------------------------

    def _view(self) -> WorkingState:
        return WorkingState(self.store, self.hash_fn)

    def get_account(self, address: str) -> AccountRecord:
        record = self._view().get_account(address)
        if record is None:
            raise NotFound(f"no account {address}")
        return record

    def list_accounts(self, kind: AccountKind, offset: int = 0, limit: int = 100) -> list[AccountRecord]:
        prefix = schema.make_account_kind_prefix(int(kind))
        result: list[AccountRecord] = []
        for position, (key, _) in enumerate(self.store.iterate(prefix)):
            if position < offset:
                continue
            if len(result) >= limit:
                break
            result.append(self.get_account(key[len(prefix):].decode("ascii")))
        return result

    def count_accounts(self, kind: AccountKind) -> int:
        return sum(1 for _ in self.store.iterate(schema.make_account_kind_prefix(int(kind))))

    def get_contract(self, address: str) -> ContractRecord:
        record = self._view().get_contract(address)
        if record is None:
            raise NotFound(f"no contract {address}")
        return record

    def get_entry(self, account: str, key: str, version: int | None = None) -> EntryRecord:
        view = self._view()
        wanted = view.get_latest_version(account, key) if version is None else version
        record = view.get_entry(account, key, wanted)
        if record is None:
            raise NotFound(f"no entry {key!r} at version {wanted} in {account}")
        return record

    def get_latest_version(self, account: str, key: str) -> int:
        return self._view().get_latest_version(account, key)

    def iterate_entry_versions(self, account: str, key: str) -> Iterator[EntryRecord]:
        for _, raw in self.store.iterate(schema.make_entry_versions_prefix(account, key)):
            yield codec.decode(EntryRecord, raw)

    def list_entry_keys(self, account: str, offset: int = 0, limit: int = 100) -> list[tuple[str, int]]:
        prefix = schema.make_latest_versions_prefix(account)
        result: list[tuple[str, int]] = []
        for position, (key, raw) in enumerate(self.store.iterate(prefix)):
            if position < offset:
                continue
            if len(result) >= limit:
                break
            result.append((schema.split_latest_version_key(key, account), int.from_bytes(raw, "big", signed=True)))
        return result

    def get_events(self, account: str, topic: str, from_sequence: int = 0, limit: int = 100) -> list[Event]:
        prefix = schema.make_event_topic_prefix(account, topic)
        start = schema.make_event_key(account, topic, max(from_sequence, 0))
        events: list[Event] = []
        for _, raw in self.store.iterate(prefix, start=start):
            events.append(codec.decode(Event, raw))
            if len(events) >= limit:
                break
        if self.archived_below > 1 and limit > 0:
            self._check_events_not_archived(account, topic, max(from_sequence, 0), events)
        return events

    def _check_events_not_archived(self, account: str, topic: str, wanted: int, found: list[Event]) -> None:
        """Sequences of a topic are contiguous from 0 and never deleted except by archiving,
        so a gap before the first event found (or nothing found below the topic head) is archived."""
        if found and found[0].sequence == wanted:
            return
        head_raw = self.store.get(schema.make_topic_head_key(account, topic))
        if head_raw is None or codec.decode(EventHead, head_raw).sequence < wanted:
            return
        raise Archived(f"event {wanted} of topic {topic!r} of {account} is in an archived block",
                       sequence=wanted)

    def list_topics(self, account: str) -> list[tuple[str, int]]:
        prefix = schema.make_topics_prefix(account)
        return [
            (schema.split_topic_head_key(key, account), codec.decode(EventHead, raw).sequence)
            for key, raw in self.store.iterate(prefix)
        ]

    def get_role(self, role: str) -> RoleRecord:
        record = self._view().get_role(role)
        if record is None:
            raise NotFound(f"no role {role!r}")
        return record

    def list_roles(self) -> list[RoleRecord]:
        return [codec.decode(RoleRecord, raw) for _, raw in self.store.iterate(schema.ROLE_PREFIX)]

    def get_user_roles(self, user: str) -> UserRolesRecord | None:
        return self._view().get_user_roles(user)

    def list_participants(self) -> list[ParticipantRecord]:
        return [
            codec.decode(ParticipantRecord, raw)
            for _, raw in self.store.iterate(schema.PARTICIPANT_PREFIX)
        ]

    def validator_set(self, epoch: int | None = None) -> ValidatorSet:
        """The validators of ``epoch`` (default: the set in force now)."""
        record = self.validator_set_record(epoch)
        return ValidatorSet(record.epoch, record.public_keys)

    def validator_set_record(self, epoch: int | None = None) -> ValidatorSetRecord:
        key = schema.META_VALIDATORS if epoch is None else schema.make_epoch_key(epoch)
        raw = self.store.get(key)
        if raw is None:
            raise NotFound(f"no validator set for epoch {epoch}")
        return codec.decode(ValidatorSetRecord, raw)

    def current_epoch(self) -> int:
        return self.validator_set_record().epoch

    def put_epoch_certificate(self, certificate: "EpochChangeCertificate") -> None:
        """Keep the old validators' signatures over a change of validator set (for light clients)."""
        self.store.put(schema.make_epoch_certificate_key(certificate.epoch), codec.encode(certificate))

    def get_epoch_certificate(self, epoch: int) -> "EpochChangeCertificate | None":
        raw = self.store.get(schema.make_epoch_certificate_key(epoch))
        return None if raw is None else codec.decode(EpochChangeCertificate, raw)

    # --- state tree access (proofs) -------------------------------------------------------------

    def state_tree(self) -> StateTree:
        return StateTree(self.hash_fn, self._read_state_node)

    def _read_state_node(self, node_key: NodeKey) -> Node | None:
        raw = self.store.get(schema.make_state_node_key(encode_node_key(node_key)))
        return None if raw is None else decode_node(raw)

    def accumulator(self, size: int | None = None) -> MerkleAccumulator:
        return MerkleAccumulator(
            self.hash_fn,
            self._roots.accumulator_size if size is None else size,
            self._read_accumulator_node,
        )

    def _read_accumulator_node(self, level: int, index: int) -> bytes | None:
        return self.store.get(schema.make_accumulator_node_key(level, index))

    def entry_state_key(self, account: str, key: str) -> bytes:
        return make_state_key(self.hash_fn, NS_ENTRY, account, key)

    def close(self) -> None:
        self.store.close()


class _CommitFirstLock:
    """Mutual exclusion of a block's commit and read-only calls, in which a waiting commit goes first.

    A call holds it for the whole invocation; a stream of calls must not keep the node's blocks
    from being written, so once a commit waits, no new call starts until it is done.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._commits = 0
        """Commits waiting or in progress."""
        self._busy = False

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        with self._condition:
            self._commits += 1
            while self._busy:
                self._condition.wait()
            self._busy = True
        try:
            yield
        finally:
            with self._condition:
                self._commits -= 1
                self._busy = False
                self._condition.notify_all()

    @contextlib.contextmanager
    def calling(self) -> Iterator[None]:
        with self._condition:
            while self._busy or self._commits:
                self._condition.wait()
            self._busy = True
        try:
            yield
        finally:
            with self._condition:
                self._busy = False
                self._condition.notify_all()

    @property
    def commits_waiting(self) -> int:
        with self._condition:
            return self._commits


# --- persistence of one block ---------------------------------------------------------------

def block_hash(hash_fn: Callable[[bytes], bytes], hash_code: int, header: BlockHeader) -> bytes:
    """``code ‖ H(encode(header))``: the block hash (and, for genesis, the ledger hash)."""
    return hash_code.to_bytes(2, "big") + hash_fn(codec.encode(header))


TREE_NODE_CACHE_LIMIT = 50_000
"""Most decoded state-tree nodes a ledger keeps between blocks (dropped all at once). Only nodes of
the newest version are kept (a block's stale nodes leave), so a tree of up to ~45,000 keys stays whole."""


def _persist_block(
    batch: WriteBatch,
    block: Block,
    env: ExecutionEnvironment,
    roots: ExecutionRoots,
    *,
    base_tree_version: int | None,
    encoded_txs: Sequence[bytes] | None = None,
    node_cache: dict[NodeKey, Node] | None = None,
    tree_nodes_out: dict[NodeKey, Node] | None = None,
    stale_nodes_out: list[NodeKey] | None = None,
    fold_cache: FoldCache | None = None,
) -> tuple[BlockExecution, ExecutionRoots, bytes]:
    """Execute ``block`` and put every resulting write into ``batch``.

    Returns the execution, the new roots and the block's hash. ``node_cache`` holds
    committed state-tree nodes by node key (read through, never written here);
    ``tree_nodes_out`` receives this block's tree nodes, for the caller to cache once committed,
    and ``stale_nodes_out`` the keys of the older nodes they replace; ``fold_cache`` keeps the
    level hashes of full tree nodes between blocks (it changes no hash, only the work).
    """
    height = block.header.height
    hash_fn = env.hash_fn
    state = WorkingState(batch, hash_fn)
    if env.genesis:
        state.put_settings(env.settings)
    execution = execute_block(state, block, env)
    layer = state.block_layer()

    # Readable indexes written by execution.
    put = batch.put
    for key, value in layer.db.items():
        if value is None:
            batch.delete(key)
        else:
            put(key, value)
    for value_hash, encoded in layer.leaves.items():
        put(schema.make_leaf_value_key(value_hash), encoded)

    # State tree: one new version per block.
    cache: dict[NodeKey, Node] = {} if node_cache is None else node_cache

    def read_node(node_key: NodeKey) -> Node | None:
        # The tree reads only nodes of committed versions (never this block's own).
        node = cache.get(node_key)
        if node is not None:
            return node
        raw = batch.get(schema.make_state_node_key(encode_node_key(node_key)))
        return None if raw is None else decode_node(raw)

    tree = StateTree(hash_fn, read_node, fold_cache)
    updates = sorted(layer.state.items())
    tree_batch = tree.put_batch(height, base_tree_version, updates)
    # Every node of the batch carries the new version: encode that part of their keys once.
    version_prefix = schema.make_state_node_key(encode_node_version(height))
    for node_key, node in tree_batch.new_nodes.items():
        if node_key.version != height:
            raise LedgerCorrupted(f"the state tree wrote a node of version {node_key.version} at height {height}")
        put(version_prefix + encode_nibble_path(node_key.nibble_path), encode_node(node))
    if tree_nodes_out is not None:
        tree_nodes_out.update(tree_batch.new_nodes)
    if stale_nodes_out is not None:
        stale_nodes_out.extend(tree_batch.stale_nodes)

    # Transaction accumulator.
    accumulator = MerkleAccumulator(
        hash_fn, roots.accumulator_size,
        lambda level, index: batch.get(schema.make_accumulator_node_key(level, index)),
    )
    leaves = [codec.encode(info) for info in execution.tx_infos]
    accumulator_root, accumulator_size, new_nodes = accumulator.append(leaves)
    for (level, index), node_hash in new_nodes.items():
        batch.put(schema.make_accumulator_node_key(level, index), node_hash)

    # Block, transactions, metadata.
    header_hash = block_hash(hash_fn, env.hash_code, block.header)
    batch.put(schema.make_header_key(height), codec.encode(block.header))
    batch.put(schema.make_block_hash_key(header_hash), height.to_bytes(8, "big"))
    executed_hashes = [tx_hash for tx_hash, _, _ in execution.executed]
    batch.put(schema.make_block_txs_key(height), codec.pack_canonical(executed_hashes))
    if encoded_txs is None:
        encoded_txs = [encoded_transaction(tx) for tx in block.transactions]
    batch.put(schema.make_block_body_key(height), codec.pack_canonical(encoded_txs))
    position_of: dict[bytes, int] = {}
    for position, tx_hash in enumerate(execution.tx_hashes):
        position_of.setdefault(tx_hash, position)
    make_tx_key, make_tx_index_key, pack_canonical = schema.make_tx_key, schema.make_tx_index_key, codec.pack_canonical
    index = roots.accumulator_size
    for (tx_hash, _tx, _info), leaf in zip(execution.executed, leaves, strict=True):
        put(make_tx_key(tx_hash), pack_canonical([encoded_txs[position_of[tx_hash]], leaf, index]))
        put(make_tx_index_key(index), tx_hash)
        index += 1
    new_roots = ExecutionRoots(tree_batch.root_hash, accumulator_root, accumulator_size)
    encoded_roots = codec.encode(new_roots)
    batch.put(schema.make_height_roots_key(height), encoded_roots)
    batch.put(schema.META_ROOTS, encoded_roots)
    batch.put(schema.META_HEIGHT, height.to_bytes(8, "big"))
    return execution, new_roots, header_hash

