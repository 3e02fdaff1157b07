"""The solo committer: certified blocks, the sealing empty block, waiting, subscriptions, shutdown."""

from __future__ import annotations

import asyncio

from ledger.proofs import build_entry_bundle, build_transaction_bundle, verify_bundle
from ledger.transactions import TransactionBuilder
from node.mempool import Mempool
from node.solo import SoloCommitter
from tests.support.waiting import wait_until_async
from tests.unit.ledger.ledger_testkit import Chain, make_chain


def write(chain: Chain, account: str, key: str, value: object, version: int = -1):
    return TransactionBuilder(chain.ledger.ledger_hash, time_ms=chain.time).kv_set(account, key, value, version).sign(chain.admin)


def run(coroutine):
    return asyncio.run(coroutine)


def test_commits_certified_blocks_and_seals_the_last_one_so_it_is_provable() -> None:
    chain = make_chain(1)
    account = chain.new_data_account("data")
    pool = Mempool.for_ledger(chain.ledger)
    ledger = chain.ledger

    async def scenario():
        async with SoloCommitter(ledger, pool, chain.founders, idle_block_ms=5) as committer:
            subscription = committer.subscribe()
            txs = [write(chain, account, f"k{i}", i) for i in range(5)]
            results = pool.submit_many(txs)
            infos = await committer.wait_for([r.tx_hash for r in results], timeout=10)
            committed = await subscription.get()
            height_after_commit = max(info.height for info in infos.values())
            # the seal block follows within idle_block_ms
            await wait_until_async(lambda: ledger.height > height_after_commit, 30, "the seal block", interval=0.01)
            await asyncio.sleep(0.05)  # ten idle periods in which a wrong second empty block would appear
            return results, infos, committed, height_after_commit

    results, infos, committed, height = run(scenario())
    assert [infos[r.tx_hash].status for r in results] == ["SUCCESS"] * 5
    assert committed.height == height and len(committed.tx_infos) == 5
    assert ledger.height == height + 1, "exactly one empty block seals the last non-empty one"
    assert ledger.get_header(height + 1).tx_count == 0
    validators = ledger.validator_set()
    for h in (height, height + 1):
        assert ledger.get_certificate(h) is not None
    report = verify_bundle(build_entry_bundle(ledger, account, "k4"), trusted_validators=validators,
                           require_certificate=True)
    assert report.certified
    assert verify_bundle(build_transaction_bundle(ledger, results[0].tx_hash), trusted_validators=validators,
                         require_certificate=True).certified
    assert pool.size() == 0 and pool.stats().in_flight == 0


def test_cuts_a_block_early_when_max_block_txs_wait() -> None:
    chain = make_chain(1)
    account = chain.new_data_account("data")
    pool = Mempool.for_ledger(chain.ledger)

    async def scenario():
        async with SoloCommitter(chain.ledger, pool, chain.founders, idle_block_ms=60_000, max_block_txs=4) as committer:
            await asyncio.sleep(0.01)  # the committer settles into its 60 s idle wait (the scenario, not a wait)
            results = pool.submit_many([write(chain, account, f"k{i}", i) for i in range(4)])
            committer.notify()
            return await committer.wait_for([r.tx_hash for r in results], timeout=5)

    infos = run(scenario())
    assert len(infos) == 4 and len({info.height for info in infos.values()}) == 1


def test_wait_for_returns_committed_history_and_times_out_on_unknown() -> None:
    chain = make_chain(1)
    account = chain.new_data_account("data")
    old = write(chain, account, "old", 1)
    chain.commit(old)
    pool = Mempool.for_ledger(chain.ledger)

    async def scenario():
        async with SoloCommitter(chain.ledger, pool, chain.founders, idle_block_ms=5) as committer:
            known = await committer.wait_for([chain.ledger.tx_hash(old)], timeout=0.01)
            unknown = await committer.wait_for([b"\x00\x01" + bytes(32)], timeout=0.05)
            return known, unknown, committer._waiters

    known, unknown, waiters = run(scenario())
    assert list(known.values())[0].status == "SUCCESS"
    assert unknown == {} and waiters == {}


def test_stop_finishes_the_work_in_flight_and_ends_subscriptions() -> None:
    chain = make_chain(1)
    account = chain.new_data_account("data")
    pool = Mempool.for_ledger(chain.ledger)
    start_height = chain.ledger.height

    async def scenario():
        committer = SoloCommitter(chain.ledger, pool, chain.founders, idle_block_ms=30_000, shutdown_timeout=5)
        await committer.start()
        subscription = committer.subscribe()
        pool.submit_many([write(chain, account, "k", "v")])
        await asyncio.sleep(0.01)  # the committer is idle, waiting for its 30 s timer
        await committer.stop()
        ends = []
        while True:
            item = await subscription.get()
            ends.append(item)
            if item is None:
                break
        return ends

    ends = run(scenario())
    assert ends[-1] is None
    # Stop starts no new block of transactions: the transaction stays pending (never half-committed);
    # the only block made is the empty one that seals the last block of the chain.
    assert pool.size() == 1
    assert chain.ledger.height == start_height + 1 and chain.ledger.last_header.tx_count == 0


def test_a_lagging_subscriber_is_cut_off_instead_of_slowing_the_committer() -> None:
    chain = make_chain(1)
    account = chain.new_data_account("data")
    pool = Mempool.for_ledger(chain.ledger)

    async def scenario():
        async with SoloCommitter(chain.ledger, pool, chain.founders, idle_block_ms=1, max_block_txs=1) as committer:
            slow = committer.subscribe(max_queue=2)
            results = pool.submit_many([write(chain, account, f"k{i}", i) for i in range(6)])
            await committer.wait_for([r.tx_hash for r in results], timeout=10)
            items = []
            while True:
                item = await slow.get()
                items.append(item)
                if item is None:
                    break
            return slow.lagged, items

    lagged, items = run(scenario())
    assert lagged and items == [None]
