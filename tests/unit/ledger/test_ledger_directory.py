"""One data directory, several ledgers, each in its own LevelDB, reopened where they stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.crypto import SM2, to_base58
from ledger.errors import NotFound
from ledger.store.directory import create_ledger, list_ledgers, open_ledger

from tests.unit.ledger.ledger_testkit import Chain, make_genesis, seeded_keypair


def test_two_ledgers_share_a_data_dir_and_survive_reopen(tmp_path: Path) -> None:
    classic = [seeded_keypair(f"c{i}") for i in range(4)]
    national = [seeded_keypair(f"s{i}", SM2) for i in range(4)]
    first = create_ledger(str(tmp_path), make_genesis(classic))
    second = create_ledger(str(tmp_path), make_genesis(national, hash_algorithm="SM3"))
    assert first.ledger_hash != second.ledger_hash
    assert list_ledgers(str(tmp_path)) == sorted([to_base58(first.ledger_hash), to_base58(second.ledger_hash)])

    chain = Chain(first, classic)
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v", -1)))
    roots, height = first.roots, first.height
    first.close()
    second.close()

    reopened = open_ledger(str(tmp_path), to_base58(chain.ledger.ledger_hash))
    assert (reopened.height, reopened.roots) == (height, roots)
    assert reopened.get_entry(account, "k").value.to_python() == "v"
    other = open_ledger(str(tmp_path), to_base58(second.ledger_hash))
    assert other.height == 0 and other.hash_algorithm.name == "SM3"
    reopened.close()
    other.close()


def test_creating_the_same_ledger_twice_is_refused(tmp_path: Path) -> None:
    founders = [seeded_keypair("x")]
    create_ledger(str(tmp_path), make_genesis(founders)).close()
    with pytest.raises(FileExistsError):
        create_ledger(str(tmp_path), make_genesis(founders))
    with pytest.raises(NotFound):
        open_ledger(str(tmp_path), "NoSuchLedger")


def test_a_ledger_in_another_storage_format_is_refused_with_its_code(tmp_path: Path) -> None:
    """A database written before the storage format changed (no marker: format 1) or by a newer version is
    refused whole with a stable code, not misread field by field."""
    import plyvel

    from ledger.errors import IncompatibleStorageFormat
    from ledger.store import schema

    ledger = create_ledger(str(tmp_path), make_genesis([seeded_keypair("x")]))
    name = to_base58(ledger.ledger_hash)
    ledger.close()
    path = str(tmp_path / "ledgers" / name)
    older = (2).to_bytes(2, "big")  # format 2: transaction infos without contract return values
    assert schema.STORAGE_FORMAT == 3
    for marker, found in ((None, 1), (older, 2), ((schema.STORAGE_FORMAT + 1).to_bytes(2, "big"), schema.STORAGE_FORMAT + 1)):
        database = plyvel.DB(path)
        if marker is None:
            database.delete(schema.META_STORAGE_FORMAT)
        else:
            database.put(schema.META_STORAGE_FORMAT, marker)
        database.close()
        with pytest.raises(IncompatibleStorageFormat) as refused:
            open_ledger(str(tmp_path), name)
        assert refused.value.code == "INCOMPATIBLE_STORAGE_FORMAT"
        assert f"storage format {found}" in refused.value.message
