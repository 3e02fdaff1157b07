"""Workload generation: every kind builds distinct, signed transactions that execute on a real ledger."""

import pytest

from jadechain.bench.workloads import MIX_WEIGHTS, WORKLOADS, Workload, mix_schedule
from contracts import EngineSet
from ledger import codec
from ledger.crypto import from_base58
from ledger.transactions import hash_transaction_content
from ledger.types import Transaction
from tests.unit.ledger.ledger_testkit import make_chain


@pytest.fixture(scope="module")
def chain():
    return make_chain(1, runtime=EngineSet())


def _prepare(chain, kind: str) -> Workload:
    workload = Workload(kind, run_id="t")
    setup = workload.setup_transactions(chain.builder, chain.admin)
    assert chain.statuses(*setup) == ["SUCCESS"] * len(setup)
    return workload


@pytest.mark.parametrize("kind", [k for k in WORKLOADS if k != "kv-read"])
def test_generated_transactions_commit_successfully(chain, kind):
    workload = _prepare(chain, kind)
    signed = workload.generate(25, chain.builder, chain.admin)
    assert len(signed) == 25
    txs = [codec.decode(Transaction, raw) for _, raw in signed]
    for (tx_hash, _), tx in zip(signed, txs):
        assert from_base58(tx_hash) == hash_transaction_content(tx.content)
    assert len({tx_hash for tx_hash, _ in signed}) == 25
    assert chain.statuses(*txs) == ["SUCCESS"] * 25


def test_kv_read_writes_the_keys_it_later_reads(chain):
    workload = _prepare(chain, "kv-read")
    signed = workload.generate(5, chain.builder, chain.admin)
    txs = [codec.decode(Transaction, raw) for _, raw in signed]
    assert chain.statuses(*txs) == ["SUCCESS"] * 5
    for account, key in workload.read_keys(5):
        assert chain.ledger.get_entry(account, key).version == 0


def test_two_runs_on_one_ledger_do_not_collide(chain):
    first, second = Workload("kv-write", run_id="a"), Workload("kv-write", run_id="b")
    for workload in (first, second):
        assert chain.statuses(*workload.setup_transactions(chain.builder, chain.admin)) == ["SUCCESS"]
    second.data_account = first.data_account  # same account, different keys
    txs = [codec.decode(Transaction, raw) for _, raw in first.generate(3, chain.builder, chain.admin)
           + second.generate(3, chain.builder, chain.admin)]
    assert chain.statuses(*txs) == ["SUCCESS"] * 6


def test_mix_schedule_follows_the_weights_and_interleaves():
    schedule = mix_schedule("mix")
    assert {kind: schedule.count(kind) for kind in MIX_WEIGHTS} == MIX_WEIGHTS
    runs = max(len(run) for run in "".join("x" if k == "kv-write" else "." for k in schedule).split("."))
    assert runs <= 2  # spread out, not 40 kv-writes in a row
    assert mix_schedule("event") == ("event",)


def test_unknown_workload_is_refused():
    with pytest.raises(ValueError):
        Workload("kv-delete")
