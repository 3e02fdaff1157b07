"""The LevelDB store: reads, writes, atomic batches, ordered scans, durability and open errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.crypto import ED25519, KeyPair, PrivateKey, address_from_public_key, keypair_from_private
from ledger.errors import LedgerCorrupted, StorageError
from ledger.genesis import assemble_genesis, parse_genesis_config, sign_genesis
from ledger.ledger import Ledger
from ledger.store.directory import create_ledger, list_ledgers, open_ledger
from ledger.store.leveldb import LevelDBStore
from ledger.transactions import TransactionBuilder, sign_content
from ledger.types import Block

KEYS = [b"a", b"a\x00", b"ab", b"abc", b"b", b"b\xff", b"c"]


@pytest.fixture
def store(tmp_path: Path) -> LevelDBStore:
    opened = LevelDBStore(str(tmp_path / "db"), sync=True)
    yield opened
    opened.close()


def _filled(store: LevelDBStore) -> LevelDBStore:
    for key in KEYS:
        store.put(key, b"v:" + key)
    return store


def _keys(items: object) -> list[bytes]:
    return [key for key, _ in items]  # type: ignore[attr-defined]


# --- reads and writes -------------------------------------------------------------------

def test_put_get_delete_exists(store: LevelDBStore) -> None:
    assert store.get(b"k") is None
    assert not store.exists(b"k")
    store.put(b"k", b"value")
    assert store.get(b"k") == b"value"
    assert store.exists(b"k")
    store.put(b"k", b"")
    assert store.get(b"k") == b"" and store.exists(b"k")  # an empty value still exists
    store.delete(b"k")
    assert store.get(b"k") is None and not store.exists(b"k")
    store.delete(b"never-written")  # deleting a missing key is not an error


def test_values_survive_close_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    first = LevelDBStore(path, sync=True)
    first.put(b"kept", b"1")
    first.put(b"gone", b"2")
    first.delete(b"gone")
    batch = first.atomic_batch()
    batch.put(b"batched", b"3")
    batch.commit()
    first.close()
    second = LevelDBStore(path, sync=True, create=False)
    try:
        assert second.get(b"kept") == b"1"
        assert second.get(b"gone") is None
        assert second.get(b"batched") == b"3"
    finally:
        second.close()


# --- batches -----------------------------------------------------------------------------

def test_a_batch_reads_its_own_writes_and_deletes_before_commit(store: LevelDBStore) -> None:
    store.put(b"old", b"1")
    store.put(b"doomed", b"2")
    batch = store.atomic_batch()
    batch.put(b"new", b"3")
    batch.put(b"old", b"changed")
    batch.delete(b"doomed")
    assert batch.get(b"new") == b"3"
    assert batch.get(b"old") == b"changed"
    assert batch.get(b"doomed") is None
    assert batch.get(b"untouched") is None
    # The store does not see any of it yet.
    assert store.get(b"new") is None
    assert store.get(b"old") == b"1"
    assert store.get(b"doomed") == b"2"
    batch.commit()
    assert store.get(b"new") == b"3"
    assert store.get(b"old") == b"changed"
    assert store.get(b"doomed") is None


def test_a_batch_sees_writes_made_to_the_store_after_it_was_opened(store: LevelDBStore) -> None:
    batch = store.atomic_batch()
    store.put(b"late", b"x")
    assert batch.get(b"late") == b"x"


def test_a_dropped_batch_writes_nothing(store: LevelDBStore) -> None:
    _filled(store)
    before = list(store.iterate(b""))
    batch = store.atomic_batch()
    batch.put(b"zz", b"1")
    batch.delete(b"a")
    del batch
    assert list(store.iterate(b"")) == before


def test_the_last_write_to_a_key_in_a_batch_wins(store: LevelDBStore) -> None:
    batch = store.atomic_batch()
    batch.put(b"k", b"1")
    batch.delete(b"k")
    batch.put(b"k", b"2")
    batch.put(b"j", b"1")
    batch.delete(b"j")
    batch.commit()
    assert store.get(b"k") == b"2"
    assert store.get(b"j") is None


# --- ordered scans -------------------------------------------------------------------------

def _value(key: bytes) -> bytes:
    return key[::-1] + bytes(200)


def test_tables_written_with_older_options_read_the_same(tmp_path: Path) -> None:
    """A store an older version wrote (plyvel's defaults: Snappy-compressed tables, no Bloom filter),
    or one reopened that way later, answers every read, hit or miss, exactly as one whose tables are
    all written as the store writes them now (uncompressed, with filters)."""
    import plyvel

    path = str(tmp_path / "db")
    present = [b"\x01T" + i.to_bytes(4, "big") * 8 for i in range(0, 4000, 2)]
    absent = [b"\x01T" + i.to_bytes(4, "big") * 8 for i in range(1, 4000, 2)]
    plain = plyvel.DB(path, create_if_missing=True)  # an older store: Snappy tables without filters
    with plain.write_batch() as batch:
        for key in present[:1000]:
            batch.put(key, _value(key))  # compressible: Snappy really compresses these blocks
    plain.compact_range(start=b"\x00", stop=b"\xff" * 64)
    plain.close()
    filtered = LevelDBStore(path, sync=True)
    try:
        batch_ = filtered.atomic_batch()
        for key in present[1000:]:
            batch_.put(key, _value(key))
        batch_.commit()
        filtered.compact()
        table_bytes = sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path)
                          if name.endswith(".ldb"))
        # The store's own half is written uncompressed (Snappy would shrink all of it to ~1/4 of this).
        assert table_bytes > sum(len(key) + len(_value(key)) for key in present[1000:])
        assert all(filtered.get(key) == _value(key) for key in present)
        assert all(filtered.get(key) is None for key in absent)
        assert _keys(filtered.iterate(b"\x01T")) == sorted(present)
    finally:
        filtered.close()
    reopened = plyvel.DB(path)  # and back: a reader without the filter policy ignores the filters
    try:
        assert all(reopened.get(key) == _value(key) for key in present)
        assert all(reopened.get(key) is None for key in absent)
    finally:
        reopened.close()


def test_iterate_by_prefix_in_key_order(store: LevelDBStore) -> None:
    _filled(store)
    assert _keys(store.iterate(b"a")) == [b"a", b"a\x00", b"ab", b"abc"]
    assert _keys(store.iterate(b"ab")) == [b"ab", b"abc"]
    assert _keys(store.iterate(b"b")) == [b"b", b"b\xff"]
    assert _keys(store.iterate(b"z")) == []
    assert _keys(store.iterate(b"")) == sorted(KEYS)
    assert list(store.iterate(b"c")) == [(b"c", b"v:c")]


def test_iterate_by_prefix_in_reverse(store: LevelDBStore) -> None:
    _filled(store)
    assert _keys(store.iterate(b"a", reverse=True)) == [b"abc", b"ab", b"a\x00", b"a"]
    assert _keys(store.iterate(b"", reverse=True)) == sorted(KEYS, reverse=True)


def test_iterate_in_reverse_over_a_prefix_with_a_single_key(store: LevelDBStore) -> None:
    """The newest item of a range (e.g. the last block, the latest version) read in reverse."""
    _filled(store)
    assert _keys(store.iterate(b"c", reverse=True)) == [b"c"]
    assert _keys(store.iterate(b"abc", reverse=True)) == [b"abc"]


def test_iterate_from_a_start_key_within_the_prefix(store: LevelDBStore) -> None:
    """What ``Ledger.get_events(from_sequence=...)`` does on every LevelDB node."""
    _filled(store)
    assert _keys(store.iterate(b"a", start=b"ab")) == [b"ab", b"abc"]
    assert _keys(store.iterate(b"a", start=b"a\x01")) == [b"ab", b"abc"]
    assert _keys(store.iterate(b"a", start=b"")) == [b"a", b"a\x00", b"ab", b"abc"]  # start below prefix
    assert _keys(store.iterate(b"a", start=b"b")) == []  # start above prefix


def test_iterate_in_reverse_from_a_start_key_includes_the_start(store: LevelDBStore) -> None:
    _filled(store)
    assert _keys(store.iterate(b"a", start=b"ab", reverse=True)) == [b"ab", b"a\x00", b"a"]
    assert _keys(store.iterate(b"a", start=b"zz", reverse=True)) == [b"abc", b"ab", b"a\x00", b"a"]
    assert _keys(store.iterate(b"a", start=b"0", reverse=True)) == []


def test_iterate_sees_deletes_and_overwrites(store: LevelDBStore) -> None:
    _filled(store)
    store.delete(b"ab")
    store.put(b"abc", b"new")
    assert list(store.iterate(b"ab")) == [(b"abc", b"new")]


# --- opening ---------------------------------------------------------------------------------

def test_opening_a_missing_database_without_create_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        LevelDBStore(str(tmp_path / "missing"), create=False)


def test_a_database_open_in_another_store_is_refused(store: LevelDBStore) -> None:
    with pytest.raises(StorageError, match="lock"):
        LevelDBStore(store.path)


def test_a_corrupted_database_is_reported_as_corrupted(tmp_path: Path) -> None:
    path = tmp_path / "db"
    LevelDBStore(str(path)).close()
    (path / "CURRENT").write_text("not a manifest name")
    with pytest.raises(LedgerCorrupted):
        LevelDBStore(str(path))


# --- a ledger over LevelDB -------------------------------------------------------------------

def _pair(label: str) -> KeyPair:
    return keypair_from_private(PrivateKey(ED25519, label.encode().ljust(32, b"\x00")))


def _genesis(founders: list[KeyPair]) -> Block:
    participants = "\n".join(
        f'[[participants]]\nname = "org{i}"\npublic_key = "{pair.public.base58}"\n'
        for i, pair in enumerate(founders)
    )
    config = parse_genesis_config(
        '[ledger]\nname = "store-test"\nhash_algorithm = "SHA256"\n'
        f'signature_algorithms = ["ED25519"]\ncreated_time = 1700000000000\n\n{participants}'
    )
    return assemble_genesis(config, [sign_genesis(config, p.private, p.public) for p in founders])


def _apply(ledger: Ledger, builder: TransactionBuilder, signer: KeyPair, nonce: bytes) -> None:
    tx = sign_content(builder.content(nonce=nonce.ljust(16, b"\x00")), signer)
    time_ms = ledger.last_header.time + 1000
    result = ledger.apply_block(ledger.make_block([tx], time=time_ms, proposer=signer.public.encoded))
    assert [info.status for info in result.tx_infos] == ["SUCCESS"]


def test_a_ledger_on_leveldb_reopens_with_its_entries_and_events(tmp_path: Path) -> None:
    founders = [_pair(f"founder{i}") for i in range(4)]
    admin = founders[0]
    data, events = _pair("data"), _pair("events")
    data_address = address_from_public_key(data.public)
    events_address = address_from_public_key(events.public)
    ledger = create_ledger(str(tmp_path), _genesis(founders))
    try:
        hash_ = ledger.ledger_hash
        _apply(ledger, TransactionBuilder(hash_).register_data_account(data.public.encoded), admin, b"1")
        _apply(ledger, TransactionBuilder(hash_).register_event_account(events.public.encoded), admin, b"2")
        _apply(ledger, TransactionBuilder(hash_).kv_set(data_address, "k", "v0", -1), admin, b"3")
        _apply(ledger, TransactionBuilder(hash_).kv_set(data_address, "k", "v1", 0), admin, b"4")
        for sequence in range(3):
            _apply(ledger, TransactionBuilder(hash_).publish(events_address, "t", f"e{sequence}"), admin,
                   b"e" + bytes([sequence]))
        height, roots = ledger.height, ledger.roots
    finally:
        ledger.close()

    reopened = open_ledger(str(tmp_path), list_ledgers(str(tmp_path))[0])
    try:
        assert (reopened.height, reopened.roots) == (height, roots)
        assert reopened.get_entry(data_address, "k").value.data == b"v1"
        assert [record.version for record in reopened.iterate_entry_versions(data_address, "k")] == [0, 1]
        assert [event.sequence for event in reopened.get_events(events_address, "t")] == [0, 1, 2]
        assert [event.sequence for event in reopened.get_events(events_address, "t", from_sequence=1)] == [1, 2]
    finally:
        reopened.close()
