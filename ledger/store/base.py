"""Storage behind a small interface: get / put / delete / iterate / atomic batch.

The ledger writes each block through one :class:`WriteBatch`, which can read its
own uncommitted writes (py-evm style), so execution of a block sees a
consistent view and a crash leaves either the whole block or none of it.
"""

from __future__ import annotations

from typing import Iterator, Protocol


class WriteBatch(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """The batch's own pending value if any, else the store's."""
        ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def commit(self) -> None:
        """Write everything atomically (and durably, for a durable store)."""
        ...


class KeyValueStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def exists(self, key: bytes) -> bool: ...

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items whose key starts with ``prefix``, in key order, from ``start`` if given."""
        ...

    def atomic_batch(self) -> WriteBatch: ...

    def close(self) -> None: ...


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``; None if unbounded."""
    raw = bytearray(prefix)
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return None
    raw[-1] += 1
    return bytes(raw)


def iteration_bounds(prefix: bytes, start: bytes | None, reverse: bool) -> tuple[bytes, bytes | None]:
    """``[lower, upper)`` of an ``iterate`` call, shared by every store so they agree exactly.

    Forward, ``start`` raises the lower bound; in reverse it is the first key to
    yield (inclusive), so it lowers the upper bound to just past it.
    """
    lower = prefix
    upper = prefix_end(prefix)
    if start is not None:
        if reverse:
            just_past = start + b"\x00"
            upper = just_past if upper is None else min(upper, just_past)
        else:
            lower = max(lower, start)
    return lower, upper


class OverlayBatch:
    """A write batch over any store: pending writes in a dict, flushed by ``apply``.

    Stores build their own ``commit`` on top of it.
    """

    _DELETED = object()

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._pending: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        return self._store.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def delete(self, key: bytes) -> None:
        self._pending[key] = None

    def pending_items(self) -> list[tuple[bytes, bytes | None]]:
        return list(self._pending.items())

    def __len__(self) -> int:
        return len(self._pending)
