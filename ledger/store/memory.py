"""An in-memory store with the same semantics as the LevelDB one (for tests)."""

from __future__ import annotations

import bisect
from typing import Iterator

from ledger.store.base import OverlayBatch, iteration_bounds


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def exists(self, key: bytes) -> bool:
        return key in self._data

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self._data:
            bisect.insort(self._keys, key)
        self._data[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        if key in self._data:
            del self._data[key]
            index = bisect.bisect_left(self._keys, key)
            del self._keys[index]

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        lower, upper = iteration_bounds(prefix, start, reverse)
        lo = bisect.bisect_left(self._keys, lower)
        hi = len(self._keys) if upper is None else bisect.bisect_left(self._keys, upper)
        keys = self._keys[lo:max(lo, hi)]
        if reverse:
            keys.reverse()
        for key in keys:
            yield key, self._data[key]

    def atomic_batch(self) -> "MemoryBatch":
        return MemoryBatch(self)

    def close(self) -> None:
        pass


class MemoryBatch(OverlayBatch):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._memory = store

    def commit(self) -> None:
        for key, value in self.pending_items():
            if value is None:
                self._memory.delete(key)
            else:
                self._memory.put(key, value)

