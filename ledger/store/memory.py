"""An in-memory store with the same semantics as the LevelDB one (for tests)."""

from __future__ import annotations

import bisect
from typing import Iterator

from ledger.store.base import OverlayBatch


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
        low = max(prefix, start) if (start is not None and not reverse) else prefix
        lo = bisect.bisect_left(self._keys, low)
        hi = bisect.bisect_left(self._keys, _prefix_end(prefix)) if prefix else len(self._keys)
        keys = self._keys[lo:hi]
        if reverse:
            if start is not None:
                keys = [k for k in keys if k <= start]
            keys = list(reversed(keys))
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


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key with ``prefix``."""
    raw = bytearray(prefix)
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b"\xff" * (len(prefix) + 64)
    raw[-1] += 1
    return bytes(raw)
