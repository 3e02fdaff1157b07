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
