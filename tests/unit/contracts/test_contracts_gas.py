"""Gas is a pure function of the contract, its inputs and the state: same on every run and in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from contract_sources import CALLER, KV
from tests.support.fake_context import FakeLedger

from contracts import SandboxRuntime
from contracts.limits import DEFAULT_GAS
from ledger.errors import OutOfGas

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

WORKLOAD = '''
from jadechain import contract, callable

@contract
class Work:
    @callable
    def churn(self, n: int, words: list) -> dict:
        counts = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        squares = [i * i for i in range(n) if i % 3 != 0]
        text = "-".join([str(s) for s in squares])
        ordered = sorted(counts.items())
        return {"sum": sum(squares), "len": len(text), "ordered": ordered, "keys": list(counts)}
'''

SCRIPT = """
import json
from tests.support.fake_context import FakeLedger
from tests.unit.contracts.contract_sources import KV, CALLER
from contracts import SandboxRuntime
workload = {workload!r}
ledger = FakeLedger(SandboxRuntime())
ledger.deploy("W", workload)
ledger.deploy("KV", KV)
ledger.deploy("C", CALLER)
gas = [
    ledger.invoke("W", "churn", [300, ["b", "a", "b", "c"]]).gas_used,
    ledger.invoke("KV", "put", ["acct", "k", "value"]).gas_used,
    ledger.invoke("C", "attempt", ["KV", "acct"]).gas_used,
]
print(json.dumps(gas))
"""


def measure(ledger: FakeLedger) -> list[int]:
    ledger.deploy("W", WORKLOAD)
    ledger.deploy("KV", KV)
    ledger.deploy("C", CALLER)
    return [
        ledger.invoke("W", "churn", [300, ["b", "a", "b", "c"]]).gas_used,
        ledger.invoke("KV", "put", ["acct", "k", "value"]).gas_used,
        ledger.invoke("C", "attempt", ["KV", "acct"]).gas_used,
    ]


def test_same_gas_on_repeated_runs_and_fresh_runtimes() -> None:
    first = measure(FakeLedger(SandboxRuntime()))
    second = measure(FakeLedger(SandboxRuntime()))
    assert first == second
    ledger = FakeLedger(SandboxRuntime())
    ledger.deploy("W", WORKLOAD)
    runs = {ledger.invoke("W", "churn", [300, ["b", "a", "b", "c"]]).gas_used for _ in range(5)}
    assert len(runs) == 1


def test_same_gas_in_another_process_with_another_hash_seed() -> None:
    expected = measure(FakeLedger(SandboxRuntime()))
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(workload=WORKLOAD)],
        capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=60, check=True,
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) == expected


def test_gas_grows_exactly_with_loop_iterations() -> None:
    ledger = FakeLedger(SandboxRuntime())
    ledger.deploy("KV", KV)
    used = [ledger.invoke("KV", "spin", ["acct", n]).gas_used for n in (10, 20, 30)]
    step = used[1] - used[0]
    assert step > 0 and used[2] - used[1] == step
    # per iteration: loop_iteration + one statement + one guarded operator (+=)
    assert step == 10 * (DEFAULT_GAS.loop_iteration + DEFAULT_GAS.statement + DEFAULT_GAS.operator)


def test_storage_writes_are_charged_per_byte() -> None:
    ledger = FakeLedger(SandboxRuntime())
    ledger.deploy("KV", KV)
    short = ledger.invoke("KV", "put", ["acct", "a", "x"]).gas_used
    long = ledger.invoke("KV", "put", ["acct", "b", "x" * 101]).gas_used
    per_byte = DEFAULT_GAS.storage_write_byte + DEFAULT_GAS.argument_byte
    assert long - short == 100 * per_byte


def test_out_of_gas_reports_the_limit_as_used() -> None:
    ledger = FakeLedger(SandboxRuntime())
    ledger.deploy("KV", KV)
    for limit in (600, 5_000, 123_457):
        with pytest.raises(OutOfGas) as caught:
            ledger.invoke("KV", "spin", ["acct", 10**9], gas_limit=limit)
        assert caught.value.details["gas_used"] == limit
        assert caught.value.code == "OUT_OF_GAS"
    assert ledger.entries == {}


def test_nested_call_gas_is_charged_to_the_caller() -> None:
    ledger = FakeLedger(SandboxRuntime())
    ledger.deploy("KV", KV)
    ledger.deploy("C", CALLER)
    direct = ledger.invoke("KV", "put", ["acct", "k", "v"]).gas_used
    via = ledger.invoke("C", "forward", ["KV", "acct", "k2", "v"]).gas_used
    assert via > direct + DEFAULT_GAS.nested_call_base
