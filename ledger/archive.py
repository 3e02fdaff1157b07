"""Archive old ledger blocks to self-verifying files, and import them back.

A node's database grows with every block: headers, the transactions (twice: the block body and
the per-transaction record), their execution infos, events. None of it is needed to run a
validator once it is old: execution reads state, and the state tree and the transaction
accumulator's nodes stay. ``archive_ledger`` moves blocks ``first .. below - 1`` out of a
*stopped* node's store into files, one per range of blocks; ``import_archive`` puts them back.

One archive file holds, for a range ``[first, anchor)``:

* every block's header, body (the transactions exactly as proposed), commit certificate (if the
  node kept one), the execution info of each executed transaction and its events;
* the *anchor*: the header at height ``anchor`` (the next block, kept by the node or by the next
  file) with its commit certificate;
* the accumulator's frontier before the range: the frozen nodes whose fold is the
  accumulator root that the first header carries.

It verifies on its own bytes: every header links to the one before by hash, the anchor links to
the last, the anchor's certificate is a quorum of the validators of its epoch, every body hashes
to its header's transaction root, and appending the infos to the frontier yields exactly the
accumulator root and size that the anchor carries (so every info, and through its events hash
every event, is certified by the anchor). Everything the database held for those blocks is then
*derived* from the file (:func:`derived_writes`), never read from it, and an archive run checks
that the derivation reproduces the database byte for byte before it deletes anything.

What is kept for an archived block: one small record per transaction (its key with the block
height) so that a replayed transaction is refused as a duplicate on this node exactly as on a node
that archived nothing — execution must not depend on whether a node archived.

Files are written before any key is deleted, one atomic batch per file moves the boundary
(:data:`schema.META_ARCHIVE`); a crash leaves either the blocks or their file, never neither.
Endpoint signatures are not covered by the transaction root (a transaction hash is the hash of its
content): those of successful transactions are verified again, and the node keeps each file's digest,
so that an import refuses a file whose other signature bytes were altered and takes back exactly
the bytes it archived.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ledger import codec
from ledger.certificate import CommitCertificate, verify_certificate
from ledger.crypto import to_base58
from ledger.errors import ArchiveInvalid, ArchiveRefused, CodecError, JadechainError, NotFound, ProofError
from ledger.executor import SUCCESS, events_hash, hash_and_content, verify_signatures
from ledger.ledger import (
    Ledger,
    archived_tx_height,
    compute_tx_root,
    encode_archived_tx_record,
    read_archive_boundary,
)
from ledger.merkle.accumulator import MerkleAccumulator
from ledger.store import schema
from ledger.store.base import KeyValueStore
from ledger.types import BlockHeader, Event, ExecutionRoots, Transaction, TransactionInfo

ARCHIVE_FORMAT = "jadechain-ledger-archive/1"
FILE_SUFFIX = ".jca"
DEFAULT_BLOCKS_PER_FILE = 1000
MAX_FILE_BYTES = codec.MAX_ENCODED_SIZE // 2
"""A range whose file would be larger is split (a file must decode within the codec's bound)."""

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ArchivedBlock:
    """One block as the archive keeps it (canonical bytes only; everything else is derived)."""

    header: bytes
    body: bytes
    """The block's transactions as the store keeps them (a canonical list of encoded transactions)."""
    certificate: bytes
    """The encoded commit certificate, or empty if the node held none for this header."""
    infos: tuple[bytes, ...]
    """Encoded TransactionInfo of each executed transaction, in accumulator order."""
    events: tuple[bytes, ...]
    """Per executed transaction: its encoded event list, or empty if it emitted none."""


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    ledger_hash: bytes
    first_height: int
    anchor_height: int
    """The block after the range; its header and certificate certify everything in the file."""
    frontier: tuple[tuple[int, int, bytes], ...]
    """``(level, index, hash)`` of the accumulator's frozen nodes before the range."""
    blocks: tuple[ArchivedBlock, ...]
    anchor_header: bytes
    anchor_certificate: bytes


@dataclass(frozen=True, slots=True)
class VerifiedArchive:
    """An archive file that verified, with the database writes that restore it."""

    file: ArchiveFile
    writes: tuple[tuple[bytes, bytes], ...]
    """Every key and value the database held for the range (transaction records in full)."""
    transactions: tuple[tuple[bytes, int], ...]
    """(tx hash, height) of every executed transaction in the range."""


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    files: tuple[str, ...]
    blocks: int
    transactions: int
    first_held: int
    """The first height the store holds afterwards."""


# --- encoding -----------------------------------------------------------------------------

def encode_archive(archive: ArchiveFile) -> bytes:
    return codec.pack_canonical([
        ARCHIVE_FORMAT, archive.ledger_hash, archive.first_height, archive.anchor_height,
        [[level, index, node] for level, index, node in archive.frontier],
        [[b.header, b.body, b.certificate, list(b.infos), list(b.events)] for b in archive.blocks],
        archive.anchor_header, archive.anchor_certificate,
    ])


def decode_archive(raw: bytes) -> ArchiveFile:
    """Parse an archive file's bytes (canonical encoding only); ArchiveInvalid on anything else."""
    try:
        value = codec.unpack_canonical(raw)
    except CodecError as exc:
        raise ArchiveInvalid(f"not an archive file: {exc.message}") from exc
    try:
        fmt, ledger_hash, first, anchor, frontier, blocks, anchor_header, anchor_certificate = value
        if fmt != ARCHIVE_FORMAT:
            raise ArchiveInvalid(f"archive format {fmt!r}; this version reads {ARCHIVE_FORMAT!r}")
        parsed = ArchiveFile(
            _bytes(ledger_hash), _int(first), _int(anchor),
            tuple((_int(level), _int(index), _bytes(node)) for level, index, node in _list(frontier)),
            tuple(
                ArchivedBlock(_bytes(h), _bytes(body), _bytes(cert), tuple(_bytes(i) for i in _list(infos)),
                              tuple(_bytes(e) for e in _list(events)))
                for h, body, cert, infos, events in _list(blocks)
            ),
            _bytes(anchor_header), _bytes(anchor_certificate),
        )
    except (TypeError, ValueError) as exc:
        raise ArchiveInvalid(f"archive file has the wrong shape: {exc}") from exc
    if encode_archive(parsed) != raw:  # one archive, one encoding: no other bytes may decode to it
        raise ArchiveInvalid("archive file is not in canonical form")
    return parsed


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):  # a string or bytes would iterate too, and silently mean "empty"
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return value


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a non-negative integer, got {value!r}")
    return value


# --- verification and derivation ---------------------------------------------------------------

def accumulator_frontier(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the frozen nodes whose fold is the root of a log of ``size`` leaves."""
    nodes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def _decode_record(tp: type[R], raw: bytes, what: str) -> R:
    try:
        return codec.decode(tp, raw)
    except JadechainError as exc:
        raise ArchiveInvalid(f"{what}: {exc.message}") from exc
    except (TypeError, ValueError) as exc:
        raise ArchiveInvalid(f"{what}: {exc}") from exc


def verify_archive(ledger: Ledger, raw: bytes) -> VerifiedArchive:
    """Check an archive file against this ledger's hash function and validator sets.

    Does not look at the ledger's blocks: the caller checks how the file links to them
    (:func:`import_archive`, :func:`archive_ledger`). ArchiveInvalid names the failed check.
    """
    archive = decode_archive(raw)
    if archive.ledger_hash != ledger.ledger_hash:
        raise ArchiveInvalid(f"archive is for ledger {to_base58(archive.ledger_hash)}, not this one")
    first, anchor = archive.first_height, archive.anchor_height
    if first < 1 or anchor != first + len(archive.blocks) or not archive.blocks:
        raise ArchiveInvalid(f"archive names blocks {first}..{anchor - 1} but holds {len(archive.blocks)}")
    hash_fn = ledger.hash_fn

    headers: list[BlockHeader] = []
    for offset, block in enumerate(archive.blocks):
        header = _decode_record(BlockHeader, block.header, f"header {first + offset}")
        headers.append(header)
    anchor_header = _decode_record(BlockHeader, archive.anchor_header, "anchor header")
    chain = [*headers, anchor_header]
    hashes = [ledger.hash_header(header) for header in chain]
    for offset, header in enumerate(chain):
        height = first + offset
        if header.height != height or header.ledger_hash != ledger.ledger_hash:
            raise ArchiveInvalid(f"header {height}: wrong height or ledger")
        if offset and header.previous_hash != hashes[offset - 1]:
            raise ArchiveInvalid(f"header {height}: does not link to header {height - 1}")

    _check_certificate(ledger, archive.anchor_certificate, anchor_header, hashes[-1], required=True)

    # Frontier before the range -> the first header's accumulator root.
    expected_frontier = accumulator_frontier(headers[0].accumulator_size)
    if [(level, index) for level, index, _ in archive.frontier] != expected_frontier:
        raise ArchiveInvalid("accumulator frontier does not fit the first header's log size")
    frontier = {(level, index): node for level, index, node in archive.frontier}
    accumulator = MerkleAccumulator(hash_fn, headers[0].accumulator_size, lambda level, index: frontier.get((level, index)))
    if accumulator.root_hash() != headers[0].accumulator_root:
        raise ArchiveInvalid("accumulator frontier does not fold to the first header's root")

    writes: list[tuple[bytes, bytes]] = []
    transactions: list[tuple[bytes, int]] = []
    leaves: list[bytes] = []
    log_index = headers[0].accumulator_size
    for offset, block in enumerate(archive.blocks):
        height = first + offset
        header = headers[offset]
        following = chain[offset + 1]
        if header.accumulator_size != log_index:
            raise ArchiveInvalid(f"header {height}: log size {header.accumulator_size}, expected {log_index}")
        block_writes, block_txs = _derive_block(ledger, height, header, hashes[offset], block, log_index)
        if block.certificate:
            _check_certificate(ledger, block.certificate, header, hashes[offset], required=False)
        writes.extend(block_writes)
        transactions.extend((tx_hash, height) for tx_hash in block_txs)
        leaves.extend(block.infos)
        log_index += len(block.infos)
        roots = ExecutionRoots(following.state_root, following.accumulator_root, following.accumulator_size)
        writes.append((schema.make_height_roots_key(height), codec.encode(roots)))

    root, size, _ = accumulator.append(leaves)
    if (root, size) != (anchor_header.accumulator_root, anchor_header.accumulator_size):
        raise ArchiveInvalid("the transaction infos do not extend the log to the anchor's accumulator root")
    return VerifiedArchive(archive, tuple(writes), tuple(transactions))


def _check_certificate(ledger: Ledger, raw: bytes, header: BlockHeader, header_hash: bytes, *, required: bool) -> None:
    if not raw:
        if required:
            raise ArchiveInvalid(f"header {header.height}: no commit certificate")
        return
    certificate = _decode_record(CommitCertificate, raw, f"certificate {header.height}")
    try:
        validators = ledger.validator_set(header.epoch)
    except NotFound as exc:
        raise ArchiveInvalid(f"header {header.height}: epoch {header.epoch} is unknown to this ledger") from exc
    try:
        verify_certificate(certificate, ledger_hash=ledger.ledger_hash, height=header.height,
                           header_hash=header_hash, validators=validators)
    except ProofError as exc:
        raise ArchiveInvalid(f"header {header.height}: {exc.message}") from exc


def _derive_block(
    ledger: Ledger, height: int, header: BlockHeader, header_hash: bytes, block: ArchivedBlock, log_index: int,
) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """The database writes of one archived block, each checked against what certifies it.

    Endpoint signatures are not under the transaction root (a transaction hash is its content's), so
    those of successful transactions are verified again here; those of failed ones (which may never
    have verified) only the digest the node keeps covers.
    """
    try:
        encoded_txs = codec.unpack_canonical(block.body)
        if not isinstance(encoded_txs, list) or not all(isinstance(item, bytes) for item in encoded_txs):
            raise ArchiveInvalid(f"block {height}: body is not a list of transactions")
        transactions = [codec.decode(Transaction, item) for item in encoded_txs]
    except CodecError as exc:
        raise ArchiveInvalid(f"block {height}: body: {exc.message}") from exc
    tx_hashes = [hash_and_content(ledger.hash_fn, ledger.hash_code, tx)[0] for tx in transactions]
    if header.tx_count != len(transactions) or header.tx_root != compute_tx_root(ledger.hash_fn, tx_hashes):
        raise ArchiveInvalid(f"block {height}: transactions do not match the header's transaction root")
    if len(block.events) != len(block.infos):
        raise ArchiveInvalid(f"block {height}: {len(block.infos)} infos but {len(block.events)} event lists")
    position_of: dict[bytes, int] = {}
    for position, tx_hash in enumerate(tx_hashes):
        position_of.setdefault(tx_hash, position)

    writes: list[tuple[bytes, bytes]] = [
        (schema.make_header_key(height), block.header),
        (schema.make_block_hash_key(header_hash), height.to_bytes(8, "big")),
        (schema.make_block_body_key(height), block.body),
    ]
    if block.certificate:
        writes.append((schema.make_certificate_key(height), block.certificate))
    executed: list[bytes] = []
    seen: set[bytes] = set()
    signatures: list[tuple[bytes, bytes, bytes]] = []
    for offset, (info_raw, events_raw) in enumerate(zip(block.infos, block.events)):
        info = _decode_record(TransactionInfo, info_raw, f"block {height} info {offset}")
        if info.height != height or info.index != offset or info.tx_hash not in position_of:
            raise ArchiveInvalid(f"block {height} info {offset}: names another block, position or transaction")
        if info.tx_hash in seen:
            raise ArchiveInvalid(f"block {height}: transaction executed twice")
        events: list[Event] = []
        if events_raw:
            try:
                events = codec.decode_list(Event, events_raw)
            except CodecError as exc:
                raise ArchiveInvalid(f"block {height} events {offset}: {exc.message}") from exc
            if not events:
                raise ArchiveInvalid(f"block {height} events {offset}: an empty list is stored as nothing")
        if events_hash(ledger.hash_fn, events) != info.events_hash:
            raise ArchiveInvalid(f"block {height} events {offset}: do not match the info's events hash")
        index = log_index + offset
        writes.append((
            schema.make_tx_key(info.tx_hash),
            codec.pack_canonical([encoded_txs[position_of[info.tx_hash]], info_raw, index]),
        ))
        writes.append((schema.make_tx_index_key(index), info.tx_hash))
        if events:
            writes.append((schema.make_tx_events_key(info.tx_hash), events_raw))
            for event in events:
                if event.tx_hash != info.tx_hash or event.height != height:
                    raise ArchiveInvalid(f"block {height}: an event names another transaction or block")
                writes.append((schema.make_event_key(event.account, event.topic, event.sequence), codec.encode(event)))
        executed.append(info.tx_hash)
        seen.add(info.tx_hash)
        if info.status == SUCCESS:  # it executed, so every endpoint signature verified then
            signed = transactions[position_of[info.tx_hash]]
            signatures += [(s.public_key, info.tx_hash, s.signature) for s in signed.signatures]
    if not all(verify_signatures(signatures)):
        raise ArchiveInvalid(f"block {height}: an endpoint signature of a successful transaction does not verify")
    writes.append((schema.make_block_txs_key(height), codec.pack_canonical(executed)))
    return writes, executed


# --- building -----------------------------------------------------------------------------------

def _required(store: KeyValueStore, key: bytes, what: str) -> bytes:
    raw = store.get(key)
    if raw is None:
        raise ArchiveRefused(f"the database lacks {what}; it cannot be archived")
    return raw


def build_archive(ledger: Ledger, first: int, anchor: int) -> bytes:
    """The archive file of blocks ``[first, anchor)``, read from the ledger (deterministic bytes)."""
    store = ledger.store
    blocks = []
    for height in range(first, anchor):
        tx_hashes = ledger.get_block_tx_hashes(height)
        infos = []
        events = []
        for tx_hash in tx_hashes:
            record = codec.unpack_canonical(_required(store, schema.make_tx_key(tx_hash), f"transaction {to_base58(tx_hash)}"))
            infos.append(record[1])
            events.append(store.get(schema.make_tx_events_key(tx_hash)) or b"")
        blocks.append(ArchivedBlock(
            header=_required(store, schema.make_header_key(height), f"header {height}"),
            body=_required(store, schema.make_block_body_key(height), f"block body {height}"),
            certificate=store.get(schema.make_certificate_key(height)) or b"",
            infos=tuple(infos),
            events=tuple(events),
        ))
    first_header = ledger.get_header(first)
    frontier = tuple(
        (level, index, _required(store, schema.make_accumulator_node_key(level, index), "an accumulator node"))
        for level, index in accumulator_frontier(first_header.accumulator_size)
    )
    return encode_archive(ArchiveFile(
        ledger_hash=ledger.ledger_hash, first_height=first, anchor_height=anchor, frontier=frontier,
        blocks=tuple(blocks), anchor_header=_required(store, schema.make_header_key(anchor), f"header {anchor}"),
        anchor_certificate=_required(store, schema.make_certificate_key(anchor), f"the certificate of header {anchor}"),
    ))


def _built_files(ledger: Ledger, ranges: list[tuple[int, int]]) -> list[tuple[int, int, bytes]]:
    """Build each range's file, splitting at a certified height in between any that is too large."""
    pending = list(reversed(ranges))
    built = []
    while pending:
        first, anchor = pending.pop()
        raw = build_archive(ledger, first, anchor)
        if len(raw) > MAX_FILE_BYTES:
            middle = (first + anchor) // 2
            while middle > first and ledger.get_certificate(middle) is None:
                middle -= 1
            if middle > first:
                pending += [(middle, anchor), (first, middle)]
                continue
            raise ArchiveRefused(f"blocks {first}..{anchor - 1} make a file over {MAX_FILE_BYTES} bytes and "
                                 "no certified header lies between them to split at")
        built.append((first, anchor, raw))
    return built


def archive_file_name(first: int, anchor: int) -> str:
    return f"blocks-{first:012d}-{anchor - 1:012d}{FILE_SUFFIX}"


def plan_ranges(ledger: Ledger, below: int, blocks_per_file: int) -> list[tuple[int, int]]:
    """Ranges ``[first, anchor)`` covering ``[archived_below, below)``, each ending at a certified header.

    ArchiveRefused when ``below`` is not allowed: it must be a certified header the node keeps,
    not past the start of the current epoch (the node reads that header to resume consensus).
    """
    start = ledger.archived_below
    if blocks_per_file < 1:
        raise ArchiveRefused("blocks per file must be at least 1")
    if below <= start:
        raise ArchiveRefused(f"blocks below {below} are archived already (this node holds blocks from {start})")
    if below > ledger.height:
        raise ArchiveRefused(f"--below {below} is past the latest block {ledger.height}; the latest block is never archived")
    record = ledger.validator_set_record()
    epoch_start = max(0, record.since_height - 1)
    if record.epoch and below > epoch_start:
        raise ArchiveRefused(
            f"--below {below} is past block {epoch_start}, where the current epoch {record.epoch} starts "
            "(a node needs that block to resume consensus)")
    if ledger.get_certificate(below) is None:
        raise ArchiveRefused(
            f"block {below} has no commit certificate here; choose a certified height (it anchors the archive)")
    ranges = []
    first = start
    while first < below:
        anchor = min(first + blocks_per_file, below)
        while anchor > first + 1 and ledger.get_certificate(anchor) is None:
            anchor -= 1
        if ledger.get_certificate(anchor) is None:  # no certified header in the range: stretch it
            anchor = first + blocks_per_file
            while ledger.get_certificate(anchor) is None:
                anchor += 1
        ranges.append((first, anchor))
        first = anchor
    return ranges


def archive_ledger(
    ledger: Ledger, below: int, out_dir: str, *, blocks_per_file: int = DEFAULT_BLOCKS_PER_FILE,
) -> ArchiveReport:
    """Move blocks ``archived_below .. below - 1`` into files in ``out_dir`` (the node must be stopped).

    Every file is written, read back and verified, and the writes derived from it must equal
    the database's own bytes, before the range's keys are deleted (one atomic batch per file).
    """
    ranges = plan_ranges(ledger, below, blocks_per_file)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    written = []
    transactions = 0
    for first, anchor, raw in _built_files(ledger, ranges):
        verified = verify_archive(ledger, raw)
        for key, value in verified.writes:
            if ledger.store.get(key) != value:
                raise ArchiveRefused(f"the archive of blocks {first}..{anchor - 1} would not restore the database "
                                     "byte for byte; nothing was archived from that range")
        path = os.path.join(out_dir, archive_file_name(first, anchor))
        _write_durably(path, raw)
        with open(path, "rb") as handle:
            if handle.read() != raw:
                raise ArchiveRefused(f"{path} does not read back as written; nothing was archived from that range")
        batch = ledger.store.atomic_batch()
        for key, _ in verified.writes:
            batch.delete(key)
        for tx_hash, height in verified.transactions:
            batch.put(schema.make_tx_key(tx_hash), encode_archived_tx_record(height))
        batch.put(schema.make_archive_file_key(first), file_record(ledger, anchor, raw))
        batch.put(schema.META_ARCHIVE, anchor.to_bytes(8, "big"))
        batch.commit()
        ledger.archived_below = anchor
        written.append(path)
        transactions += len(verified.transactions)
    return ArchiveReport(tuple(written), below - ranges[0][0], transactions, ledger.archived_below)


def file_record(ledger: Ledger, anchor: int, raw: bytes) -> bytes:
    """What the node keeps of an archive file: the block it ends before and the file's digest."""
    return codec.pack_canonical([anchor, ledger.hash_fn(raw)])


def _write_durably(path: str, raw: bytes) -> None:
    staging = path + ".partial"
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- import ---------------------------------------------------------------------------------------

def list_archive_files(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ArchiveRefused(f"cannot read archive directory {directory}: {exc.strerror}") from exc
    return [os.path.join(directory, name) for name in names if name.endswith(FILE_SUFFIX)]


def import_archive(ledger: Ledger, directory: str, *, read: Callable[[str], bytes] | None = None) -> ArchiveReport:
    """Re-import every archive file of ``directory`` that this ledger lacks (the node must be stopped).

    All files are verified, and must chain down from the first block the ledger holds to the
    first archived block with no gap, before anything is written; files of ranges the ledger
    holds already are skipped (after verifying them too).
    """
    reader = read or _read_file
    verified: dict[int, VerifiedArchive] = {}
    for path in list_archive_files(directory):
        raw = reader(path)
        try:
            checked = verify_archive(ledger, raw)
            if checked.file.first_height < ledger.archived_below:
                kept = ledger.store.get(schema.make_archive_file_key(checked.file.first_height))
                if kept != file_record(ledger, checked.file.anchor_height, raw):
                    raise ArchiveInvalid("the file differs from the one this node archived")
        except ArchiveInvalid as exc:
            raise ArchiveInvalid(f"{os.path.basename(path)}: {exc.message}; nothing was imported") from exc
        if checked.file.anchor_height in verified:
            raise ArchiveRefused(f"two archive files end at block {checked.file.anchor_height - 1}")
        verified[checked.file.anchor_height] = checked
    boundary = ledger.archived_below
    chain: list[VerifiedArchive] = []
    link = boundary
    while link > 1:
        item = verified.get(link)
        if item is None:
            raise ArchiveRefused(
                f"no archive file in {directory} ends at block {link - 1}: blocks 1..{link - 1} "
                "cannot be imported with a gap; nothing was imported")
        expected_anchor = (ledger.store.get(schema.make_header_key(link)) if not chain
                           else chain[-1].file.blocks[0].header)
        if item.file.anchor_header != expected_anchor:
            raise ArchiveInvalid(f"the archive of blocks {item.file.first_height}..{link - 1} does not link to "
                                 f"block {link} of this ledger; nothing was imported")
        chain.append(item)
        link = item.file.first_height
    if link != 1:
        raise ArchiveRefused("the archive files do not start at block 1; nothing was imported")
    for item in chain:
        _check_unchanged(ledger, item)
    for item in chain:
        batch = ledger.store.atomic_batch()
        for key, value in item.writes:
            batch.put(key, value)
        first = item.file.first_height
        batch.delete(schema.make_archive_file_key(first))
        if first <= 1:
            batch.delete(schema.META_ARCHIVE)
        else:
            batch.put(schema.META_ARCHIVE, first.to_bytes(8, "big"))
        batch.commit()
    ledger.archived_below = read_archive_boundary(ledger.store)
    files = tuple(archive_file_name(item.file.first_height, item.file.anchor_height) for item in chain)
    return ArchiveReport(files, boundary - ledger.archived_below,
                         sum(len(item.transactions) for item in chain), ledger.archived_below)


def _check_unchanged(ledger: Ledger, item: VerifiedArchive) -> None:
    """The database must hold exactly the archived-transaction records the archive run left."""
    for tx_hash, height in item.transactions:
        raw = ledger.store.get(schema.make_tx_key(tx_hash))
        if raw is None or archived_tx_height(raw) != height:
            raise ArchiveRefused(f"transaction {to_base58(tx_hash)} of block {height} is not recorded as archived "
                                 "here; nothing was imported")


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ArchiveRefused(f"cannot read {path}: {exc.strerror}") from exc
