"""LevelDB storage through plyvel; the one place in ``ledger`` that imports it."""

from __future__ import annotations

import os
from typing import Iterator

import plyvel

from ledger.errors import LedgerCorrupted, StorageError
from ledger.store.base import OverlayBatch, iteration_bounds


BLOOM_FILTER_BITS = 10
"""Bits per key of each table's Bloom filter (LevelDB's recommended 10: about 1% false positives).

Applying a block looks up keys that are usually absent: every transaction's key (is it a
duplicate?) and every new entry's latest version, and ingress asks again whether a submitted
transaction is committed. Without filters a miss searches every level-0 table and one table per
level below; with them it reads a table only when its filter says the key may be there. Measured
on a store shaped like a ledger's (8 keys per transaction): a miss costs 3.4 -> 1.6 us after
30,000 transactions, 6.0 -> 3.5 us after 80,000. Tables written without a filter (older stores)
are still read, only without the shortcut; what any read returns is unchanged."""


COMPRESSION = None
"""Tables are written uncompressed (LevelDB's default is Snappy).

A ledger's values are mostly hashes, signatures and keys, which do not compress, yet every table
LevelDB's background compaction rewrites was decompressed and compressed again, and every read of
a table block decompressed it. ``bench/ledger_growth.py --quick`` (20 blocks of 2,000 KV writes):
process CPU per transaction over the last 8,000 transactions 136-166 us uncompressed against
194-289 us with Snappy (commit thread 99-125 against 105-156), for about a third more disk
(1,573 against 1,170 bytes per transaction). Tables an older version wrote compressed stay
readable: each block records its own compression."""


class LevelDBStore:
    """A LevelDB database; batches are written atomically, with fsync when ``sync``.

    After one write fails (disk full, I/O error) the store refuses every later write. The failed
    write may have left part of its record at the end of LevelDB's log; LevelDB drops such a tail
    on recovery as a write that never finished, but a record appended after it would sit behind a
    torn one, and the next open would find the database corrupted (CI's chaos seed 12: a
    fail-stopping node wrote again once the disk had room). Reopening is the way back."""

    def __init__(self, path: str, *, sync: bool = True, create: bool = True) -> None:
        self.path = path
        self.sync = sync
        self._failed: str | None = None
        if create:
            os.makedirs(path, exist_ok=True)
        try:
            self._db = plyvel.DB(
                path,
                create_if_missing=create,
                paranoid_checks=True,
                write_buffer_size=16 * 1024 * 1024,
                lru_cache_size=64 * 1024 * 1024,
                bloom_filter_bits=BLOOM_FILTER_BITS,
                compression=COMPRESSION,
            )
        except plyvel.CorruptionError as exc:
            raise LedgerCorrupted(f"LevelDB at {path} is corrupted: {exc}") from exc
        except plyvel.Error as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from exc

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)  # type: ignore[no-any-return]

    def exists(self, key: bytes) -> bool:
        return self._db.get(key) is not None

    def put(self, key: bytes, value: bytes) -> None:
        self.write_items([(key, value)])

    def delete(self, key: bytes) -> None:
        self.write_items([(key, None)])

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        lower, upper = iteration_bounds(prefix, start, reverse)
        if upper is not None and upper <= lower:
            return
        # Explicit bounds rather than plyvel's ``prefix=``: it cannot be combined with
        # ``start``, and the same bounds in every store keep them in exact agreement.
        if not reverse:
            with self._db.iterator(start=lower, stop=upper) as it:
                for key, value in it:
                    yield key, value
            return
        # plyvel's bounded reverse iterator skips keys in some cases (a single key just
        # below ``stop``); seek and step back by hand instead.
        raw = self._db.raw_iterator()
        try:
            if upper is None:
                raw.seek_to_last()
            else:
                raw.seek(upper)
                if raw.valid():
                    raw.prev()
                else:
                    raw.seek_to_last()
            while raw.valid():
                key = raw.key()
                if key < lower:
                    break
                yield key, raw.value()
                raw.prev()
        finally:
            raw.close()

    def atomic_batch(self) -> "LevelDBBatch":
        return LevelDBBatch(self)

    def write_items(self, items: list[tuple[bytes, bytes | None]]) -> None:
        if self._failed is not None:
            raise StorageError(f"write to {self.path} refused: an earlier write failed ({self._failed}); "
                               "reopen the store once the disk is fixed")
        try:
            with self._db.write_batch(sync=self.sync) as batch:
                put, delete = batch.put, batch.delete
                for key, value in items:
                    if value is None:
                        delete(key)
                    else:
                        put(key, value)
        except plyvel.Error as exc:
            self._failed = str(exc)
            raise StorageError(f"write to {self.path} failed: {exc}") from exc

    def compact(self) -> None:
        """Compact the whole key range (reclaims the space of deleted keys now rather than later).

        Explicit bounds: plyvel's unbounded ``compact_range()`` leaves tables below level 0 alone."""
        if self._failed is not None:
            raise StorageError(f"compaction of {self.path} refused: an earlier write failed ({self._failed})")
        self._db.compact_range(start=b"\x00", stop=b"\xff" * 64)

    def copy_snapshot_to(self, path: str, batch_bytes: int = 4 << 20) -> int:
        """Copy the database as of one instant into a new LevelDB at ``path`` while it stays in use.

        Reads go through a LevelDB snapshot, so the copy holds exactly the writes of the atomic
        batches committed before it was taken (for a ledger: whole blocks, never part of one).
        Returns the number of keys copied.
        """
        if os.path.exists(path):
            raise StorageError(f"{path} exists already")
        target = plyvel.DB(path, create_if_missing=True, error_if_exists=True)
        copied = 0
        try:
            with self._db.snapshot() as snapshot, snapshot.iterator() as it:
                batch = target.write_batch(sync=False)
                pending = 0
                for key, value in it:
                    batch.put(key, value)
                    copied += 1
                    pending += len(key) + len(value)
                    if pending >= batch_bytes:
                        batch.write()
                        batch = target.write_batch(sync=False)
                        pending = 0
                batch.write()
            target.compact_range()
        except plyvel.Error as exc:
            raise StorageError(f"copy of {self.path} to {path} failed: {exc}") from exc
        finally:
            target.close()
        return copied

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()


class LevelDBBatch(OverlayBatch):
    def __init__(self, store: LevelDBStore) -> None:
        super().__init__(store)
        self._leveldb = store

    def commit(self) -> None:
        self._leveldb.write_items(self.pending_items())
