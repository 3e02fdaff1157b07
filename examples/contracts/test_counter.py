"""Tests of counter.py: `jadechain contract test examples/contracts/counter.py` runs them on the chain's engine."""

from counter import Counter

from jadechain.contract import LocalContract


def test_add_returns_the_total(contract):
    assert contract.add(2) == 2
    result = contract.invoke("add", 3)
    assert result.value == 5 and result.gas_used > 0
    assert contract.total() == 5
    assert contract.value("total") == 5
    assert contract.events("added") == [{"amount": 2, "total": 2}, {"amount": 3, "total": 5}]


def test_a_revert_writes_nothing(contract):
    contract.add(4)
    error = contract.fails("add", 0)
    assert (error.code, error.message) == ("CONTRACT_REVERTED", "amount must be positive")
    assert contract.total() == 4 and len(contract.events("added")) == 1


def test_in_cpython_too():
    counter = LocalContract(Counter)  # the same class, run by CPython against an in-memory ledger
    assert counter.contract.add(2) == 2 and counter.contract.total() == 2
