"""Ingress checks, fairness, back-pressure and the verified-hash set of the mempool."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import codec
from ledger.crypto import SM2
from ledger.transactions import TransactionBuilder, sign_content
from ledger.types import EndpointSignature, Transaction
from node.mempool import Mempool
from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


@pytest.fixture
def chain() -> Chain:
    return make_chain(1)


def pull(pool: Mempool, max_txs: int, max_bytes: int = 1 << 62) -> list[Transaction]:
    """The transactions the proposer's side takes (``pull_signed``), as plain transactions."""
    return [signed.tx for signed in pool.pull_signed(max_txs, max_bytes)]


def kv_tx(chain: Chain, key: str = "k", signer=None, nonce: int | None = None, expiry: int = 0) -> Transaction:
    builder = TransactionBuilder(chain.ledger.ledger_hash, time_ms=chain.time, expiry=expiry)
    builder.kv_set("LdeNoSuchAccountButSyntaxIsIrrelevantHere", key, "v")
    content = builder.content(nonce=None if nonce is None else nonce.to_bytes(16, "big"))
    return sign_content(content, signer or chain.admin)


def codes(results) -> list[str | None]:
    return [None if r.error is None else r.error.code for r in results]


def test_accepts_valid_transactions_and_returns_their_hashes(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    txs = [kv_tx(chain, f"k{i}") for i in range(3)]
    results = pool.submit_many([codec.encode(tx) for tx in txs])
    assert codes(results) == [None, None, None]
    assert [r.tx_hash for r in results] == [chain.ledger.tx_hash(tx) for tx in txs]
    assert pool.size() == 3


def test_bad_signature_is_refused_and_others_in_the_batch_still_pass(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    good = kv_tx(chain, "good")
    bad = kv_tx(chain, "bad")
    signature = bad.signatures[0]
    flipped = signature.signature[:-1] + bytes([signature.signature[-1] ^ 1])
    bad = Transaction(bad.content, (EndpointSignature(signature.public_key, flipped),))
    # Signed by a different key than the one it claims: also invalid.
    impostor = kv_tx(chain, "impostor", signer=seeded_keypair("someone"))
    impostor = Transaction(impostor.content, (EndpointSignature(chain.admin.public.encoded, impostor.signatures[0].signature),))
    assert codes(pool.submit_many([good, bad, impostor])) == [None, "INVALID_SIGNATURE", "INVALID_SIGNATURE"]
    assert pool.size() == 1
    unsigned = Transaction(good.content, ())
    assert codes(pool.submit_many([unsigned])) == ["INVALID_SIGNATURE"]


def test_wrong_ledger_malformed_oversize_and_expired(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger, max_tx_bytes=400)
    other_ledger = chain.ledger.ledger_hash[:2] + bytes(32)
    foreign = TransactionBuilder(other_ledger).kv_set("x", "k", "v").sign(chain.admin)
    huge = kv_tx(chain, "h" * 500)
    expired = kv_tx(chain, "e", expiry=1000)
    fresh = kv_tx(chain, "f", expiry=10**15)
    results = pool.submit_many(
        [codec.encode(foreign), b"\x93\x01", codec.encode(huge), expired, fresh], now_ms=2000
    )
    assert codes(results) == [
        "LEDGER_MISMATCH", "MALFORMED_ENCODING", "TRANSACTION_TOO_LARGE", "TRANSACTION_EXPIRED", None,
    ]
    assert results[1].tx_hash is None
    assert results[0].tx_hash is not None  # decodable: the client learns which tx was refused
    assert all(r.error.http_status in (400, 413) for r in results[:4])


def test_signature_algorithm_must_be_accepted_by_the_ledger(chain: Chain) -> None:
    pool = Mempool(chain.ledger.ledger_hash, chain.ledger.hash_code, [SM2.code])
    assert codes(pool.submit_many([kv_tx(chain)])) == ["ALGORITHM_NOT_ACCEPTED"]


def test_duplicates_in_batch_in_pool_in_flight_and_committed(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    tx = kv_tx(chain, "dup")
    assert codes(pool.submit_many([tx, tx])) == [None, "DUPLICATE_TRANSACTION"]
    assert codes(pool.submit_many([tx])) == ["DUPLICATE_TRANSACTION"]
    assert pull(pool, 10) == [tx]
    assert codes(pool.submit_many([tx])) == ["DUPLICATE_TRANSACTION"]  # in flight
    chain.commit(tx)
    pool.remove_committed([chain.ledger.tx_hash(tx)])
    assert codes(pool.submit_many([tx])) == ["DUPLICATE_TRANSACTION"]  # on the ledger
    assert pool.submit(tx).error.http_status == 409


def test_full_pool_pushes_back(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger, max_size=2)
    results = pool.submit_many([kv_tx(chain, f"k{i}") for i in range(3)])
    assert codes(results) == [None, None, "MEMPOOL_FULL"]
    assert results[2].error.http_status == 503
    pull(pool, 1)  # in flight still counts: the block is not committed yet
    assert codes(pool.submit_many([kv_tx(chain, "later")])) == ["MEMPOOL_FULL"]
    pool.remove_committed([results[0].tx_hash])
    assert codes(pool.submit_many([kv_tx(chain, "later")])) == [None]


def test_signers_that_are_not_registered_users_are_refused_at_ingress(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    stranger = seeded_keypair("stranger")
    results = pool.submit_many([kv_tx(chain, "s", signer=stranger), kv_tx(chain, "a")])
    assert codes(results) == ["PERMISSION_DENIED", None]
    assert "not a registered user" in results[0].error.message and pool.size() == 1


def test_pull_is_round_robin_across_first_signers_and_fifo_per_signer(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    pool.signer_registered = None  # fairness only: these signers need not be registered here
    alice, bob, carol = (seeded_keypair(name) for name in ("alice", "bob", "carol"))
    busy = [kv_tx(chain, f"a{i}", signer=alice) for i in range(6)]
    quiet = [kv_tx(chain, f"b{i}", signer=bob) for i in range(2)]
    late = [kv_tx(chain, "c0", signer=carol)]
    assert codes(pool.submit_many(busy + quiet + late)) == [None] * 9
    first = pull(pool, 5)
    assert first == [busy[0], quiet[0], late[0], busy[1], quiet[1]]
    assert pull(pool, 100) == busy[2:]
    assert pull(pool, 100) == []


def test_pull_respects_max_bytes_and_requeue_puts_transactions_back_first(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    txs = [kv_tx(chain, f"k{i}") for i in range(4)]
    pool.submit_many(txs)
    size = len(codec.encode(txs[0]))
    taken = pull(pool, 10, max_bytes=2 * size + 1)
    assert taken == txs[:2]
    pool.requeue([chain.ledger.tx_hash(tx) for tx in taken])
    assert pull(pool, 10) == txs


def test_verified_set_lets_the_executor_skip_reverification(chain: Chain) -> None:
    pool = Mempool.for_ledger(chain.ledger)
    account = chain.new_data_account("data")
    txs = []
    for i in range(3):
        builder = TransactionBuilder(chain.ledger.ledger_hash, time_ms=chain.time).kv_set(account, f"k{i}", i)
        txs.append(builder.sign(chain.admin))
    bad = dataclasses.replace(txs[0], signatures=())
    pool.submit_many(txs + [bad])
    hashes = [chain.ledger.tx_hash(tx) for tx in txs]
    batch = pool.pull_signed(10)
    assert all(pool.preverified_for(batch)(h) for h in hashes)
    never = pool.sign_parts(kv_tx(chain, "never-submitted"))
    assert not pool.preverified_for([never])(never.tx_hash)

    checked: list[int] = []
    original = chain.ledger.check_signatures

    def counting(items):
        checked.append(len(items))
        return original(items)

    chain.ledger.check_signatures = counting
    chain.time += 1000
    result = chain.ledger.apply_block(chain.ledger.make_block([s.tx for s in batch], time=chain.time),
                                      preverified=pool.preverified_for(batch))
    assert [info.status for info in result.tx_infos] == ["SUCCESS"] * 3
    assert sum(checked) == 0  # every signature was verified once, at ingress
    admitted = pool.remove_committed(hashes + hashes)  # a second mention of a hash is a no-op
    assert len(admitted) == 3
    assert not any(pool.preverified_for(batch)(h) for h in hashes)
    assert pool.stats().in_flight == 0 and pool.size() == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_with_a_stable_code_never_an_exception(data: bytes) -> None:
    pool = _shared_pool()
    result = pool.submit_many([data])[0]
    assert result.error is not None
    assert result.error.code in {
        "MALFORMED_ENCODING", "LEDGER_MISMATCH", "INVALID_TRANSACTION", "INVALID_SIGNATURE",
        "ALGORITHM_NOT_ACCEPTED", "TRANSACTION_TOO_LARGE", "CRYPTO_ERROR", "UNKNOWN_ALGORITHM", "INVALID_KEY",
    }


_POOL: list[Mempool] = []


def _shared_pool() -> Mempool:
    if not _POOL:
        _POOL.append(Mempool.for_ledger(make_chain(1).ledger))
    return _POOL[0]


def test_held_client_transactions_are_not_proposed_until_released(chain: Chain) -> None:
    from node.replica_parts import ReplicaMempool

    pool = ReplicaMempool.for_ledger(chain.ledger)
    pool.hold_gossiped = True
    mine = [kv_tx(chain, f"mine{i}") for i in range(2)]
    theirs = kv_tx(chain, "theirs")
    assert all(r.accepted for r in pool.submit_many([codec.encode(tx) for tx in mine]))
    assert pool.submit_many([codec.encode(theirs)], from_peer=True)[0].accepted
    assert pool.held == 2
    assert pool.peek_raw(10, 1 << 30, set()) == [codec.encode(theirs)]
    assert len(pool.peek_raw(10, 1 << 30, set(), include_held=True)) == 3  # a leader with nothing else
    outbox = pool.take_outbox()
    assert [encoded for encoded, _ in outbox] == [codec.encode(tx) for tx in mine]
    pool.release([outbox[0][1]])
    assert pool.peek_raw(10, 1 << 30, set()) == [codec.encode(mine[0]), codec.encode(theirs)]
    pool.remove_committed([outbox[1][1]])
    assert pool.held == 0
