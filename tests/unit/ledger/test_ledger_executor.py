"""The state transition as a user of the ledger would check it."""

from __future__ import annotations

import pytest

from ledger.crypto import ED25519, SM2, address_from_public_key
from ledger.errors import InvalidBlock, RootMismatch
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore
from ledger.types import (
    AccountState,
    AuthorizeUserRoles,
    ConfigureRole,
    EndpointSignature,
    KVSet,
    KVWrite,
    LedgerPermission,
    RolesPolicy,
    Transaction,
    TransactionPermission,
    UpdateAccountState,
    UpdateLedgerSettings,
    WritePolicy,
)
from ledger.values import TypedValue

from tests.unit.ledger.ledger_testkit import make_chain, make_genesis, seeded_keypair


def test_versioned_write_and_every_version_readable() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", "v0", -1))) == ["SUCCESS"]
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", "v1", 0))) == ["SUCCESS"]
    assert chain.ledger.get_entry(account, "k").value.to_python() == "v1"
    assert chain.ledger.get_entry(account, "k", 0).value.to_python() == "v0"
    assert [r.version for r in chain.ledger.iterate_entry_versions(account, "k")] == [0, 1]
    assert chain.ledger.get_latest_version(account, "k") == 1
    assert chain.ledger.get_latest_version(account, "never") == -1


def test_version_conflict_is_recorded_and_writes_discarded() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v0", -1)))
    # The second write of one transaction conflicts: the first write of it must vanish too.
    bad = chain.tx(lambda b: b.kv_set(account, "other", "x", -1).kv_set(account, "k", "stale", -1))
    assert chain.statuses(bad) == ["VERSION_CONFLICT"]
    assert chain.ledger.get_latest_version(account, "other") == -1
    assert chain.ledger.get_entry(account, "k").value.to_python() == "v0"


def test_two_writes_of_one_key_in_one_block_second_must_name_first() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    first = chain.tx(lambda b: b.kv_set(account, "k", 1, -1))
    second = chain.tx(lambda b: b.kv_set(account, "k", 2, 0))
    racing = chain.tx(lambda b: b.kv_set(account, "k", 3, 0))
    assert chain.statuses(first, second, racing) == ["SUCCESS", "SUCCESS", "VERSION_CONFLICT"]
    assert chain.ledger.get_entry(account, "k").value.to_python() == 2


def test_unregistered_signer_is_denied() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    stranger = seeded_keypair("stranger")
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", "x", -1), stranger)) == ["PERMISSION_DENIED"]


def test_only_owners_write_an_owners_account_but_any_writer_account_is_shared() -> None:
    chain = make_chain()
    alice = chain.new_user("alice")  # DEFAULT role: may write data accounts
    private = chain.new_data_account("private")
    shared_pair = seeded_keypair("shared")
    chain.commit(chain.tx(lambda b: b.register_data_account(shared_pair.public.encoded, WritePolicy.ANY_WRITER)))
    shared = address_from_public_key(shared_pair.public)
    assert chain.statuses(chain.tx(lambda b: b.kv_set(private, "k", 1, -1), alice)) == ["PERMISSION_DENIED"]
    assert chain.statuses(chain.tx(lambda b: b.kv_set(shared, "k", 1, -1), alice)) == ["SUCCESS"]


def test_frozen_user_cannot_transact_until_unfrozen_and_revoked_is_final() -> None:
    chain = make_chain()
    alice = chain.new_user("alice")
    alice_address = address_from_public_key(alice.public)
    account = chain.new_data_account("alices", owner=alice)
    freeze = chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.FROZEN)))
    assert chain.statuses(freeze) == ["SUCCESS"]
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", 1, -1), alice)) == ["ACCOUNT_FROZEN"]
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.NORMAL))))
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", 1, -1), alice)) == ["SUCCESS"]
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.REVOKED))))
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", 2, 0), alice)) == ["ACCOUNT_REVOKED"]
    unrevoke = chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.NORMAL)))
    assert chain.statuses(unrevoke) == ["ACCOUNT_REVOKED"]


def test_frozen_data_account_refuses_writes() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(account, AccountState.FROZEN))))
    assert chain.statuses(chain.tx(lambda b: b.kv_set(account, "k", 1, -1))) == ["ACCOUNT_FROZEN"]


def test_user_without_permission_cannot_register_users_or_configure_roles() -> None:
    chain = make_chain()
    alice = chain.new_user("alice")
    bob = seeded_keypair("bob")
    assert chain.statuses(chain.tx(lambda b: b.register_user(bob.public.encoded, "bob"), alice)) == ["PERMISSION_DENIED"]
    role = ConfigureRole("HACKER", tuple(LedgerPermission), (), tuple(TransactionPermission), ())
    assert chain.statuses(chain.tx(lambda b: b.add(role), alice)) == ["PERMISSION_DENIED"]


def test_roles_union_and_intersect() -> None:
    chain = make_chain(1)  # one organisation configures its ledger's roles alone
    writer = ConfigureRole("WRITER", (LedgerPermission.WRITE_DATA_ACCOUNT,), (), (TransactionPermission.DIRECT_OPERATION,), ())
    reader = ConfigureRole("READER", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
    chain.commit(chain.tx(lambda b: b.add(writer)), chain.tx(lambda b: b.add(reader)))
    carol = chain.new_user("carol")
    carol_address = address_from_public_key(carol.public)
    shared_pair = seeded_keypair("shared")
    chain.commit(chain.tx(lambda b: b.register_data_account(shared_pair.public.encoded, WritePolicy.ANY_WRITER)))
    shared = address_from_public_key(shared_pair.public)

    def authorize(policy: RolesPolicy) -> None:
        op = AuthorizeUserRoles((carol_address,), ("WRITER", "READER"), ("DEFAULT",), policy)
        assert chain.statuses(chain.tx(lambda b: b.add(op))) == ["SUCCESS"]

    authorize(RolesPolicy.UNION)
    assert chain.statuses(chain.tx(lambda b: b.kv_set(shared, "a", 1, -1), carol)) == ["SUCCESS"]
    authorize(RolesPolicy.INTERSECT)
    assert chain.statuses(chain.tx(lambda b: b.kv_set(shared, "b", 1, -1), carol)) == ["PERMISSION_DENIED"]
    assert chain.ledger.get_user_roles(carol_address).roles == ("READER", "WRITER")


def test_multi_signature_any_signer_with_permission_suffices() -> None:
    chain = make_chain()
    alice = chain.new_user("alice")
    bob = seeded_keypair("bob")
    # alice alone may not register users; signed together with an admin the transaction passes.
    tx = chain.tx(lambda b: b.register_user(bob.public.encoded, "bob"), alice, chain.admin)
    assert chain.statuses(tx) == ["SUCCESS"]


def test_events_get_consecutive_sequences_and_expected_sequence_is_checked() -> None:
    chain = make_chain()
    pair = seeded_keypair("events")
    chain.commit(chain.tx(lambda b: b.register_event_account(pair.public.encoded)))
    account = address_from_public_key(pair.public)
    assert chain.statuses(
        chain.tx(lambda b: b.publish(account, "shipped", "a").publish(account, "shipped", "b")),
        chain.tx(lambda b: b.publish(account, "shipped", "c", 1)),
        chain.tx(lambda b: b.publish(account, "shipped", "late", 1)),
    ) == ["SUCCESS", "SUCCESS", "VERSION_CONFLICT"]
    events = chain.ledger.get_events(account, "shipped")
    assert [(e.sequence, e.content.to_python()) for e in events] == [(0, "a"), (1, "b"), (2, "c")]
    assert chain.ledger.get_events(account, "shipped", 2)[0].content.to_python() == "c"
    assert chain.ledger.list_topics(account) == [("shipped", 2)]


def test_bad_signature_and_wrong_ledger_and_expiry_are_recorded_failures() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    good = chain.tx(lambda b: b.kv_set(account, "k", 1, -1))
    forged = Transaction(good.content, (EndpointSignature(good.signatures[0].public_key, good.signatures[0].signature[:-1] + b"\x00"),))
    other_ledger = make_chain(1, algorithm=ED25519, hash_algorithm="SM3")
    foreign = other_ledger.tx(lambda b: b.kv_set(account, "k", 1, -1), chain.admin)
    builder = chain.builder().kv_set(account, "e", 1, -1)
    builder.expiry = chain.time  # the next block is later than this
    from ledger.transactions import sign_content

    expired = sign_content(builder.content(nonce=b"e" * 16), chain.admin)
    assert chain.statuses(forged, foreign, expired) == ["INVALID_SIGNATURE", "LEDGER_MISMATCH", "TRANSACTION_EXPIRED"]
    assert chain.ledger.get_latest_version(account, "k") == -1


def test_duplicate_transaction_is_executed_once() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    tx = chain.tx(lambda b: b.kv_set(account, "k", 1, -1))
    first = chain.commit(tx, tx)
    assert len(first.tx_infos) == 1 and len(first.skipped_duplicates) == 1
    again = chain.commit(tx)
    assert again.tx_infos == () and len(again.skipped_duplicates) == 1


def test_settings_change_is_governed() -> None:
    chain = make_chain()
    alice = chain.new_user("alice")
    op = UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(2))
    assert chain.statuses(chain.tx(lambda b: b.add(op), alice)) == ["PERMISSION_DENIED"]
    # Four founding organisations: one alone must propose; a majority signing together may.
    assert chain.statuses(chain.tx(lambda b: b.add(op))) == ["PROPOSAL_REQUIRED"]
    assert chain.statuses(chain.tx(lambda b: b.add(op), *chain.founders[:3])) == ["SUCCESS"]
    assert chain.ledger.settings.max_ops_per_tx == 2
    account = chain.new_data_account("acct")
    three = chain.tx(lambda b: b.kv_set(account, "a", 1, -1).kv_set(account, "b", 1, -1).kv_set(account, "c", 1, -1))
    assert chain.statuses(three) == ["INVALID_TRANSACTION"]
    genesis_only = UpdateLedgerSettings("genesis", TypedValue.bytes_(b""))
    assert chain.statuses(chain.tx(lambda b: b.add(genesis_only), *chain.founders[:3])) == ["PERMISSION_DENIED"]


def test_block_checks_refuse_a_divergent_header() -> None:
    chain = make_chain()
    block = chain.ledger.make_block([], time=chain.time + 1)
    import dataclasses

    wrong_root = dataclasses.replace(block, header=dataclasses.replace(block.header, state_root=b"\x00" * 32))
    with pytest.raises(RootMismatch):
        chain.ledger.apply_block(wrong_root)
    wrong_height = dataclasses.replace(block, header=dataclasses.replace(block.header, height=5))
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(wrong_height)
    wrong_parent = dataclasses.replace(block, header=dataclasses.replace(block.header, previous_hash=b"\x00" * 34))
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(wrong_parent)
    extra_tx = dataclasses.replace(block, transactions=(chain.tx(lambda b: b.kv_set("x", "k", 1, -1)),))
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(extra_tx)
    assert chain.ledger.height == 0
    chain.ledger.apply_block(block)
    assert chain.ledger.height == 1


@pytest.mark.parametrize("algorithm,hash_name", [(ED25519, "SHA256"), (SM2, "SM3")])
def test_replay_of_the_same_blocks_gives_identical_roots(algorithm, hash_name) -> None:
    chain = make_chain(algorithm=algorithm, hash_algorithm=hash_name)
    account = chain.new_data_account("acct")
    for round_ in range(5):
        chain.commit(*[chain.tx(lambda b, i=i: b.kv_set(account, f"k{i}", round_, round_ - 1)) for i in range(10)])
    replica = Ledger.create(MemoryStore(), chain.ledger.get_block(0))
    for height in range(1, chain.ledger.height + 1):
        replica.apply_block(chain.ledger.get_block(height))
        assert replica.roots == chain.ledger.roots_at(height)
        assert replica.hash_header(replica.last_header) == chain.ledger.hash_header(chain.ledger.get_header(height))
    assert replica.roots == chain.ledger.roots


def test_genesis_needs_every_founder_and_gives_one_hash() -> None:
    founders = [seeded_keypair(f"g{i}") for i in range(3)]
    a = Ledger.create(MemoryStore(), make_genesis(founders))
    b = Ledger.create(MemoryStore(), make_genesis(founders))
    assert a.ledger_hash == b.ledger_hash
    assert [p.name for p in sorted(a.list_participants(), key=lambda p: p.name)] == ["org0", "org1", "org2"]
    assert len(a.validator_set().public_keys) == 3


def test_failed_transaction_leaves_no_trace_but_its_info() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    roots_before = chain.ledger.roots
    bad = chain.tx(lambda b: b.add(KVSet(account, (KVWrite("k", TypedValue.text("x"), 7),))))
    result = chain.commit(bad)
    assert [i.status for i in result.tx_infos] == ["VERSION_CONFLICT"]
    assert result.roots.state_root == roots_before.state_root
    assert result.roots.accumulator_size == roots_before.accumulator_size + 1
    stored = chain.ledger.get_transaction(result.tx_infos[0].tx_hash)
    assert stored.info.status == "VERSION_CONFLICT"
