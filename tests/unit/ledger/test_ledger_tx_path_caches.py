"""The ledger's fast paths give exactly what the slow paths give.

Each shortcut on the transaction path (the block's authority cache, the canonical bytes and
hash a SignedTransaction carries from ingress) is checked here against the plain path: the
same statuses, the same hashes, the same roots.
"""

from __future__ import annotations

import pytest

from ledger import codec
from ledger.crypto import address_from_public_key
from ledger.errors import CodecError
from ledger.executor import (
    BlockAuthority,
    ExecutionEnvironment,
    decode_transaction,
    SignedTransaction,
    encoded_transaction,
    hash_and_content,
)
from ledger.ledger import Ledger
from ledger.merkle.state_tree import NodeKey, verify_sparse_merkle_proof
from ledger.state import WorkingState
from ledger.store.memory import MemoryStore
from ledger.types import (
    AccountState,
    AuthorizeUserRoles,
    ConfigureRole,
    EntryRecord,
    LedgerPermission,
    RolesPolicy,
    Transaction,
    TransactionPermission,
    UpdateAccountState,
    UpdateLedgerSettings,
    UserRolesRecord,
    WritePolicy,
)
from ledger.values import TypedValue

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


def _one_per_block(chain: Chain, txs: list[Transaction]) -> list[str]:
    return [chain.statuses(tx)[0] for tx in txs]


def _twin_chains() -> tuple[Chain, Chain]:
    return make_chain(), make_chain()



# --- the block's authority cache -------------------------------------------------------------

def test_freezing_a_signer_mid_block_refuses_its_later_transactions() -> None:
    outcomes = []
    for batched in (True, False):
        chain = make_chain()
        alice = chain.new_user("alice")
        alice_address = address_from_public_key(alice.public)
        shared = seeded_keypair("any-writer")
        chain.commit(chain.tx(lambda b: b.register_data_account(shared.public.encoded, WritePolicy.ANY_WRITER)))
        shared_address = address_from_public_key(shared.public)
        txs = [
            chain.tx(lambda b: b.kv_set(shared_address, "before", 1, -1), alice),  # caches alice as NORMAL
            chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.FROZEN))),
            chain.tx(lambda b: b.kv_set(shared_address, "after", 1, -1), alice),
            chain.tx(lambda b: b.add(UpdateAccountState(alice_address, AccountState.NORMAL))),
            chain.tx(lambda b: b.kv_set(shared_address, "again", 1, -1), alice),
        ]
        outcomes.append(chain.statuses(*txs) if batched else _one_per_block(chain, txs))
    assert outcomes[0] == outcomes[1] == ["SUCCESS", "SUCCESS", "ACCOUNT_FROZEN", "SUCCESS", "SUCCESS"]


def test_taking_a_role_away_mid_block_denies_the_later_transactions() -> None:
    outcomes = []
    for batched in (True, False):
        chain = make_chain(1)  # one organisation: role changes need no proposal
        reader = ConfigureRole("READER", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
        chain.commit(chain.tx(lambda b: b.add(reader)))
        carol = chain.new_user("carol")
        carol_address = address_from_public_key(carol.public)
        shared_pair = seeded_keypair("shared")
        chain.commit(chain.tx(lambda b: b.register_data_account(shared_pair.public.encoded, WritePolicy.ANY_WRITER)))
        shared = address_from_public_key(shared_pair.public)
        demote = AuthorizeUserRoles((carol_address,), ("READER",), ("DEFAULT",), RolesPolicy.UNION)
        promote = AuthorizeUserRoles((carol_address,), ("DEFAULT",), ("READER",), RolesPolicy.UNION)
        txs = [
            chain.tx(lambda b: b.kv_set(shared, "a", 1, -1), carol),
            chain.tx(lambda b: b.add(demote)),
            chain.tx(lambda b: b.kv_set(shared, "b", 1, -1), carol),
            chain.tx(lambda b: b.add(promote)),
            chain.tx(lambda b: b.kv_set(shared, "c", 1, -1), carol),
        ]
        outcomes.append(chain.statuses(*txs) if batched else _one_per_block(chain, txs))
    assert outcomes[0] == outcomes[1] == ["SUCCESS", "SUCCESS", "PERMISSION_DENIED", "SUCCESS", "SUCCESS"]


def test_reconfiguring_a_role_mid_block_applies_to_the_next_transaction() -> None:
    outcomes = []
    for batched in (True, False):
        chain = make_chain(1)  # one organisation: role changes need no proposal
        alice = chain.new_user("alice")
        shared_pair = seeded_keypair("shared-2")
        chain.commit(chain.tx(lambda b: b.register_data_account(shared_pair.public.encoded, WritePolicy.ANY_WRITER)))
        shared = address_from_public_key(shared_pair.public)
        revoke = ConfigureRole("DEFAULT", (), (LedgerPermission.WRITE_DATA_ACCOUNT,), (), ())
        grant = ConfigureRole("DEFAULT", (LedgerPermission.WRITE_DATA_ACCOUNT,), (), (), ())
        txs = [
            chain.tx(lambda b: b.kv_set(shared, "a", 1, -1), alice),
            chain.tx(lambda b: b.add(revoke)),
            chain.tx(lambda b: b.kv_set(shared, "b", 1, -1), alice),
            chain.tx(lambda b: b.add(grant)),
            chain.tx(lambda b: b.kv_set(shared, "c", 1, -1), alice),
        ]
        outcomes.append(chain.statuses(*txs) if batched else _one_per_block(chain, txs))
    assert outcomes[0] == outcomes[1] == ["SUCCESS", "SUCCESS", "PERMISSION_DENIED", "SUCCESS", "SUCCESS"]


def test_a_settings_change_mid_block_applies_to_the_next_transaction() -> None:
    chain = make_chain(1)  # one organisation: settings and roles need no proposal
    account = chain.new_data_account("acct")
    two_ops = lambda key: chain.tx(lambda b: b.kv_set(account, key + "1", 1, -1).kv_set(account, key + "2", 1, -1))  # noqa: E731
    limit = UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(1))
    statuses = chain.statuses(two_ops("a"), chain.tx(lambda b: b.add(limit)), two_ops("b"))
    assert statuses == ["SUCCESS", "SUCCESS", "INVALID_TRANSACTION"]


def test_a_discarded_layer_invalidates_what_the_cache_learned_inside_it() -> None:
    chain = make_chain(1)  # one organisation: settings and roles need no proposal
    dave = chain.new_user("dave")
    dave_address = address_from_public_key(dave.public)
    chain.commit(chain.tx(lambda b: b.add(AuthorizeUserRoles((dave_address,), (), ("DEFAULT",), RolesPolicy.UNION))))
    chain.commit(chain.tx(lambda b: b.add(ConfigureRole("NOTHING", (), (), (), ()))))
    chain.commit(chain.tx(lambda b: b.add(AuthorizeUserRoles((dave_address,), ("NOTHING",), (), RolesPolicy.UNION))))
    ledger = chain.ledger
    state = WorkingState(ledger.store, ledger.hash_fn)
    env = ExecutionEnvironment(ledger.ledger_hash, ledger.hash_fn, ledger.hash_code, ledger.settings)
    authority = BlockAuthority(state, env)
    assert not authority.has_ledger_permission(dave_address, LedgerPermission.WRITE_DATA_ACCOUNT)
    state.push()
    state.put_user_roles(UserRolesRecord(dave_address, ("DEFAULT",), RolesPolicy.UNION))
    assert authority.has_ledger_permission(dave_address, LedgerPermission.WRITE_DATA_ACCOUNT)
    state.discard()  # the transaction that granted it failed
    assert not authority.has_ledger_permission(dave_address, LedgerPermission.WRITE_DATA_ACCOUNT)
    assert authority.account(dave_address) is not None
    assert authority.settings() == ledger.settings


# --- one value per transaction, from ingress ------------------------------------------------------------

def test_decode_transaction_cuts_the_canonical_field_bytes() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    tx = chain.tx(lambda b: b.kv_set(account, "k", {"v": [1, 2]}, -1), chain.admin, chain.founders[1])
    raw = codec.encode(tx)
    decoded, content, signatures = decode_transaction(raw)
    assert decoded == tx
    assert content == codec.encode(tx.content)
    assert signatures == codec.encode_list(tx.signatures)
    assert encoded_transaction(decoded, content) == raw


@pytest.mark.parametrize("mutate", [
    lambda raw: raw + b"\x00",                                 # trailing byte
    lambda raw: raw[:-1],                                      # truncated
    lambda raw: b"\x93" + raw[1:] + b"\xc0",                   # three fields
    lambda raw: b"\xdc\x00\x02" + raw[1:],                     # array16 header: non-minimal
])
def test_decode_transaction_is_as_strict_as_decode(mutate) -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    bad = mutate(codec.encode(chain.tx(lambda b: b.kv_set(account, "k", 1, -1))))
    with pytest.raises(CodecError):
        codec.decode(Transaction, bad)
    with pytest.raises(CodecError):
        decode_transaction(bad)


def test_a_signed_transaction_decoded_from_bytes_equals_one_made_from_the_object() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    tx = chain.tx(lambda b: b.kv_set(account, "k", 1, -1), chain.admin, chain.founders[2])
    raw = codec.encode(tx)
    decoded = SignedTransaction.decode(raw, chain.ledger.hash_fn, chain.ledger.hash_code)
    made = SignedTransaction.of(tx, chain.ledger.hash_fn, chain.ledger.hash_code)
    assert decoded == made
    assert decoded.encoded == raw and decoded.tx == tx
    assert decoded.tx_hash == chain.ledger.tx_hash(tx) == hash_and_content(
        chain.ledger.hash_fn, chain.ledger.hash_code, tx)[0]
    with pytest.raises(CodecError):
        SignedTransaction.decode(raw + b"\x00", chain.ledger.hash_fn, chain.ledger.hash_code)


def test_blocks_of_ingress_decoded_transactions_commit_the_same_roots() -> None:
    """One ledger applies builder-made transactions, its twin the same ones decoded at ingress."""
    plain, ingress = _twin_chains()
    for chain in (plain, ingress):
        chain.new_data_account("acct")
    account = address_from_public_key(seeded_keypair("acct").public)
    txs = [plain.tx(lambda b, i=i: b.kv_set(account, f"k{i}", i, -1)) for i in range(20)]
    signed = [SignedTransaction.decode(codec.encode(tx), ingress.ledger.hash_fn, ingress.ledger.hash_code)
              for tx in txs]
    first = plain.commit(*txs)
    ingress.time += 1000
    block = ingress.ledger.make_block(signed, time=ingress.time)
    second = ingress.ledger.apply_block(block, signed=signed)
    assert first.roots == second.roots
    assert first.block_hash == second.block_hash == plain.ledger.hash_header(first.header)
    assert [i.status for i in second.tx_infos] == ["SUCCESS"] * 20
    stored = ingress.ledger.get_block(second.header.height)
    assert stored.transactions == tuple(txs)
    assert ingress.ledger.get_transaction(second.tx_infos[3].tx_hash).transaction == txs[3]


def test_apply_block_refuses_signed_transactions_that_are_not_the_blocks() -> None:
    from ledger.errors import InvalidBlock

    chain = make_chain()
    account = chain.new_data_account("acct")
    txs = [chain.tx(lambda b, i=i: b.kv_set(account, f"k{i}", i, -1)) for i in range(2)]
    signed = [SignedTransaction.of(tx, chain.ledger.hash_fn, chain.ledger.hash_code) for tx in txs]
    block = chain.ledger.make_block(signed, time=chain.time + 1000)
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(block, signed=list(reversed(signed)))
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(block, signed=signed[:1])
    assert chain.ledger.apply_block(block, signed=signed).tx_infos[1].status == "SUCCESS"


def test_make_block_hashes_are_reused_only_for_the_same_objects() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    txs = [chain.tx(lambda b, i=i: b.kv_set(account, f"k{i}", i, -1)) for i in range(3)]
    block = chain.ledger.make_block(txs, time=chain.time + 1000)
    # A replica that decoded the same block from bytes holds other objects: same header check.
    copies = [codec.decode(Transaction, codec.encode(tx)) for tx in txs]
    assert chain.ledger.check_header(block.header, copies) == chain.ledger.check_header(block.header, txs)
    result = chain.ledger.apply_block(block)
    assert result.block_hash == chain.ledger.hash_header(block.header)
    next_block = chain.ledger.make_block([], time=chain.time + 2000)
    assert next_block.header.previous_hash == result.block_hash


def test_reopened_ledger_continues_the_chain() -> None:
    store = MemoryStore()
    chain = make_chain(store=store)
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", 1, -1)))
    reopened = Ledger(store)
    assert reopened.make_block([], time=chain.time + 1000).header.previous_hash == chain.ledger.hash_header(
        chain.ledger.last_header
    )


# --- codec fast paths --------------------------------------------------------------------------

def test_generated_record_encoder_checks_every_field_type() -> None:
    good = EntryRecord("acct", "k", 0, TypedValue.int64(1), 1, b"\x00" * 34)
    assert codec.decode(EntryRecord, codec.encode(good)) == good
    for bad in (
        EntryRecord("acct", "k", "0", TypedValue.int64(1), 1, b"h"),  # type: ignore[arg-type]
        EntryRecord("acct", b"k", 0, TypedValue.int64(1), 1, b"h"),  # type: ignore[arg-type]
        EntryRecord("acct", "k", 2**64, TypedValue.int64(1), 1, b"h"),
        EntryRecord("acct", "k", True, TypedValue.int64(1), 1, b"h"),
        EntryRecord("acct", "k", 0, TypedValue.int64(1), 1, "h"),  # type: ignore[arg-type]
    ):
        with pytest.raises(CodecError):
            codec.encode(bad)
    assert codec.encode(EntryRecord("acct", "k", 0, TypedValue.int64(1), 1, bytearray(b"h"))) == codec.encode(
        EntryRecord("acct", "k", 0, TypedValue.int64(1), 1, b"h")
    )


def test_pack_canonical_fast_path_matches_the_checked_path() -> None:
    for value in ([b"a", b"b"], [b"x", "y", 0, -1, 2**64 - 1], [], [[b"k", b"v"]]):
        assert codec.unpack_canonical(codec.pack_canonical(value)) == value
    assert codec.pack_byte_rows([[b"k", b"v"], [b"k2", b""]]) == codec.pack_canonical([[b"k", b"v"], [b"k2", b""]])
    for bad in ([2**64], [1.5], [{}], [True, 2**64]):
        with pytest.raises(CodecError):
            codec.pack_canonical(bad)


# --- state-tree nodes kept between blocks ------------------------------------------------------

def test_a_block_whose_batch_fails_leaves_no_tree_nodes_behind() -> None:
    """The node cache takes a block's nodes only once its batch is written."""
    from ledger.store.memory import MemoryBatch

    failing, clean = _twin_chains()
    for chain in (failing, clean):
        chain.new_data_account("acct")
    account = address_from_public_key(seeded_keypair("acct").public)
    for round_ in range(3):
        txs = [clean.tx(lambda b, i=i: b.kv_set(account, f"r{round_}/{i}", i, -1)) for i in range(40)]
        assert failing.commit(*txs).roots == clean.commit(*txs).roots

    doomed = [failing.tx(lambda b, i=i: b.kv_set(account, f"doomed/{i}", i, -1)) for i in range(40)]
    original_commit = MemoryBatch.commit

    def fail_once(self: MemoryBatch) -> None:
        MemoryBatch.commit = original_commit  # type: ignore[method-assign]
        raise OSError("disk full")

    MemoryBatch.commit = fail_once  # type: ignore[method-assign]
    try:
        with pytest.raises(OSError):
            failing.commit(*doomed)
    finally:
        MemoryBatch.commit = original_commit  # type: ignore[method-assign]
    # The same height again, with other transactions (a different block), on both ledgers.
    survivors = [clean.tx(lambda b, i=i: b.kv_set(account, f"r0/{i}", -i, 0)) for i in range(0, 40, 3)]
    survivors += [clean.tx(lambda b, i=i: b.kv_set(account, f"new/{i}", i, -1)) for i in range(40)]
    after_failure = failing.commit(*survivors)
    reference = clean.commit(*survivors)
    assert [i.status for i in after_failure.tx_infos] == ["SUCCESS"] * len(survivors)
    assert after_failure.roots == reference.roots
    later = [clean.tx(lambda b, i=i: b.kv_set(account, f"doomed/{i}", i, -1)) for i in range(0, 40, 2)]
    assert failing.commit(*later).roots == clean.commit(*later).roots
    # A reader with no cache (a reopened ledger) sees the same tree: same root, proofs verify.
    reopened = Ledger(failing.ledger.store)
    tree = reopened.state_tree()
    root = reopened.roots.state_root
    assert tree.root_hash(reopened.height) == root
    key_hash = reopened.entry_state_key(account, "new/7")
    value_hash, proof = tree.get_with_proof(key_hash, reopened.height)
    assert value_hash is not None
    verify_sparse_merkle_proof(reopened.hash_fn, root, key_hash, value_hash, proof)


def test_a_signed_transaction_hashed_for_another_ledger_is_hashed_again() -> None:
    """A SignedTransaction carrying an SM3 hash given to a SHA-256 ledger: the ledger's own hash counts."""
    sha = make_chain()
    sm3 = make_chain(hash_algorithm="SM3")
    account = sha.new_data_account("acct")
    tx = sha.tx(lambda b: b.kv_set(account, "k", 1, -1))
    foreign = SignedTransaction.of(tx, sm3.ledger.hash_fn, sm3.ledger.hash_code)
    assert foreign.tx_hash != sha.ledger.tx_hash(tx)
    assert sha.ledger.sign_parts(foreign).tx_hash == sha.ledger.tx_hash(tx)
    block = sha.ledger.make_block([foreign], time=sha.time + 1000)
    result = sha.ledger.apply_block(block, signed=[foreign])
    assert [info.tx_hash for info in result.tx_infos] == [sha.ledger.tx_hash(tx)]


def _live_tree_nodes(ledger: Ledger) -> set[NodeKey]:
    """Every node reachable from the newest version's root (what the next block may read)."""
    from ledger.merkle.state_tree import InternalNode

    tree = ledger.state_tree()
    live: set[NodeKey] = set()
    pending = [NodeKey(ledger.height, "")]
    while pending:
        node_key = pending.pop()
        live.add(node_key)
        node = tree._read(node_key)
        if isinstance(node, InternalNode):
            pending += [NodeKey(child.version, node_key.nibble_path + format(nibble, "x"))
                        for nibble, child in enumerate(node.children) if child is not None]
    return live


def test_the_tree_node_cache_keeps_only_the_newest_version() -> None:
    """A block's stale nodes leave the cache when it commits: what stays is all reachable from the
    newest root, and the roots agree with a ledger that reads every node from the store."""
    chain = make_chain()
    chain.new_data_account("acct")
    account = address_from_public_key(seeded_keypair("acct").public)
    for round_ in range(6):
        txs = [chain.tx(lambda b, i=i: b.kv_set(account, f"k/{i}", round_, round_ - 1)) for i in range(60)]
        txs += [chain.tx(lambda b, i=i: b.kv_set(account, f"new/{round_}/{i}", i, -1)) for i in range(30)]
        chain.commit(*txs)
        cached = set(chain.ledger._tree_nodes)
        assert cached, "the commit path caches the nodes it wrote"
        assert cached <= _live_tree_nodes(chain.ledger)
    reopened = Ledger(chain.ledger.store)
    assert reopened.state_tree().root_hash(reopened.height) == chain.ledger.roots.state_root
