"""The LevelDB store and the in-memory store behave the same, and batches behave like writes.

Random sequences of puts, deletes and batches (committed or dropped) run against a plain dict
(the model), a MemoryStore and a LevelDBStore; afterwards every ``iterate`` view (each prefix,
forward and reverse, with and without ``start``) must be identical across the three. Keys come
from a tiny alphabet including 0x00 and 0xFF so that prefixes, range ends and ``start`` values
collide often.

One LevelDB database serves every example of a test (it is emptied at the start of each
example), so the examples stay cheap on a shared machine.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store.base import KeyValueStore
from ledger.store.leveldb import LevelDBStore
from ledger.store.memory import MemoryStore

Put = tuple[str, bytes, bytes]
Delete = tuple[str, bytes]
Write = Union[Put, Delete]
Batch = tuple[str, list[Write], bool]
Operation = Union[Put, Delete, Batch]

_ALPHABET = [0x00, 0x01, 0x61, 0x62, 0x7F, 0xFE, 0xFF]

keys = st.lists(st.sampled_from(_ALPHABET), min_size=0, max_size=4).map(bytes)
values = st.binary(min_size=0, max_size=8)
puts = st.tuples(st.just("put"), keys, values)
deletes = st.tuples(st.just("delete"), keys)
writes = st.one_of(puts, deletes)
batches = st.tuples(st.just("batch"), st.lists(writes, max_size=12), st.booleans())
operations = st.lists(st.one_of(puts, deletes, batches), max_size=30)

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def leveldb_store() -> Iterator[LevelDBStore]:
    directory = tempfile.mkdtemp(prefix="jadechain-store-props-")
    store = LevelDBStore(f"{directory}/db", sync=False)
    try:
        yield store
    finally:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


def _emptied(store: LevelDBStore) -> LevelDBStore:
    store.write_items([(key, None) for key, _ in store.iterate(b"")])
    assert list(store.iterate(b"")) == []
    return store


def _apply_write(target: KeyValueStore | dict[bytes, bytes], write: Write) -> None:
    if write[0] == "put":
        _, key, value = write  # type: ignore[misc]
        if isinstance(target, dict):
            target[key] = value
        else:
            target.put(key, value)
    else:
        _, key = write  # type: ignore[misc]
        if isinstance(target, dict):
            target.pop(key, None)
        else:
            target.delete(key)


def _run(store: KeyValueStore, ops: list[Operation]) -> None:
    for op in ops:
        if op[0] == "batch":
            _, batch_writes, commit = op  # type: ignore[misc]
            batch = store.atomic_batch()
            for write in batch_writes:
                _apply_write(batch, write)  # type: ignore[arg-type]
            if commit:
                batch.commit()
        else:
            _apply_write(store, op)  # type: ignore[arg-type]


def _run_model(ops: list[Operation]) -> dict[bytes, bytes]:
    model: dict[bytes, bytes] = {}
    for op in ops:
        if op[0] == "batch":
            _, batch_writes, commit = op  # type: ignore[misc]
            if commit:
                for write in batch_writes:
                    _apply_write(model, write)
        else:
            _apply_write(model, op)  # type: ignore[arg-type]
    return model


def _model_iterate(
    model: dict[bytes, bytes], prefix: bytes, start: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    items = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
    if start is not None:
        items = [(k, v) for k, v in items if (k <= start if reverse else k >= start)]
    return list(reversed(items)) if reverse else items


def _probe_prefixes(model: dict[bytes, bytes], extra: list[bytes]) -> list[bytes]:
    """Every prefix of every key, plus a few that may match nothing."""
    found = {b""} | set(extra)
    for key in model:
        found.update(key[:length] for length in range(len(key) + 1))
    return sorted(found)


def _views(store: KeyValueStore, prefixes: list[bytes], with_start: bool, starts: list[bytes]) -> dict[object, object]:
    result: dict[object, object] = {}
    for prefix in prefixes:
        for reverse in (False, True):
            if with_start:
                for start in starts:
                    result[(prefix, start, reverse)] = list(store.iterate(prefix, start=start, reverse=reverse))
            else:
                result[(prefix, None, reverse)] = list(store.iterate(prefix, reverse=reverse))
    return result


@_SETTINGS
@given(ops=operations, extra_prefixes=st.lists(keys, max_size=3))
def test_iterate_by_prefix_is_the_same_in_memory_and_leveldb(
    leveldb_store: LevelDBStore, ops: list[Operation], extra_prefixes: list[bytes]
) -> None:
    memory = MemoryStore()
    leveldb = _emptied(leveldb_store)
    _run(memory, ops)
    _run(leveldb, ops)
    model = _run_model(ops)
    prefixes = _probe_prefixes(model, extra_prefixes)
    expected = {
        (prefix, None, reverse): _model_iterate(model, prefix, None, reverse)
        for prefix in prefixes
        for reverse in (False, True)
    }
    assert _views(memory, prefixes, False, []) == expected
    assert _views(leveldb, prefixes, False, []) == expected
    for key, value in model.items():
        assert memory.get(key) == leveldb.get(key) == value
        assert memory.exists(key) and leveldb.exists(key)


@_SETTINGS
@given(ops=operations, starts=st.lists(keys, min_size=1, max_size=4))
def test_iterate_from_start_is_the_same_in_memory_and_leveldb(
    leveldb_store: LevelDBStore, ops: list[Operation], starts: list[bytes]
) -> None:
    memory = MemoryStore()
    leveldb = _emptied(leveldb_store)
    _run(memory, ops)
    _run(leveldb, ops)
    model = _run_model(ops)
    prefixes = _probe_prefixes(model, [])[:12]
    all_starts = sorted(set(starts) | set(list(model)[:3]))
    expected = {
        (prefix, start, reverse): _model_iterate(model, prefix, start, reverse)
        for prefix in prefixes
        for start in all_starts
        for reverse in (False, True)
    }
    assert _views(memory, prefixes, True, all_starts) == expected
    assert _views(leveldb, prefixes, True, all_starts) == expected


@_SETTINGS
@given(before=operations, batch_writes=st.lists(writes, max_size=20), probes=st.lists(keys, max_size=6))
def test_a_batch_reads_its_own_uncommitted_writes(
    leveldb_store: LevelDBStore, before: list[Operation], batch_writes: list[Write], probes: list[bytes]
) -> None:
    for store in (MemoryStore(), _emptied(leveldb_store)):
        _run(store, before)
        model = _run_model(before)
        batch = store.atomic_batch()
        pending = dict(model)
        for write in batch_writes:
            _apply_write(batch, write)  # type: ignore[arg-type]
            _apply_write(pending, write)
        touched = {write[1] for write in batch_writes} | set(probes) | set(model)
        for key in touched:
            assert batch.get(key) == pending.get(key)
            assert store.get(key) == model.get(key)  # the store itself has not changed


@_SETTINGS
@given(before=operations, batch_writes=st.lists(writes, max_size=20))
def test_a_batch_never_committed_changes_nothing(
    leveldb_store: LevelDBStore, before: list[Operation], batch_writes: list[Write]
) -> None:
    for store in (MemoryStore(), _emptied(leveldb_store)):
        _run(store, before)
        snapshot = list(store.iterate(b""))
        batch = store.atomic_batch()
        for write in batch_writes:
            _apply_write(batch, write)  # type: ignore[arg-type]
        del batch
        assert list(store.iterate(b"")) == snapshot


@_SETTINGS
@given(before=operations, batch_writes=st.lists(writes, max_size=20))
def test_a_committed_batch_equals_the_same_direct_writes(
    leveldb_store: LevelDBStore, before: list[Operation], batch_writes: list[Write]
) -> None:
    leveldb = _emptied(leveldb_store)
    direct = MemoryStore()
    batched_memory = MemoryStore()
    for store in (direct, batched_memory, leveldb):
        _run(store, before)
    for write in batch_writes:
        _apply_write(direct, write)
    for store in (batched_memory, leveldb):
        batch = store.atomic_batch()
        for write in batch_writes:
            _apply_write(batch, write)  # type: ignore[arg-type]
        batch.commit()
    expected = list(direct.iterate(b""))
    assert list(batched_memory.iterate(b"")) == expected
    assert list(leveldb.iterate(b"")) == expected


@pytest.mark.parametrize("factory", ["memory", "leveldb"])
def test_an_all_ff_prefix_covers_keys_of_any_length(
    leveldb_store: LevelDBStore, factory: str
) -> None:
    """A prefix of 0xFF bytes has no successor key; its range must still reach every key."""
    store: KeyValueStore = MemoryStore() if factory == "memory" else _emptied(leveldb_store)
    long_key = b"\xff" * 100
    store.put(b"\xff", b"short")
    store.put(long_key, b"long")
    assert list(store.iterate(b"\xff")) == [(b"\xff", b"short"), (long_key, b"long")]
    assert list(store.iterate(b"\xff", reverse=True)) == [(long_key, b"long"), (b"\xff", b"short")]
