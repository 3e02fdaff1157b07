"""Gas tracks work: across the whole hostile corpus (new and legacy), process CPU time per unit
of gas stays within 20x of the median of benign contracts.

This is a ratio of CPU time to gas measured in the same thread, never a speed: each figure is
the best of three batches of at least 30 ms of the calling thread's CPU time, so that scheduling
noise and other load on the machine cancel out. An invocation runs entirely on the calling thread
(wasmtime executes the guest and its host calls there), so the thread's clock holds all of its
work and none of other threads': with the process clock, threads an earlier test in the same
pytest worker left running were counted as contract work (a loaded CI run measured the benign
median at 333 ns/gas instead of ~69, and three hostile contracts at 48-78x of it).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from contracts.vm import WasmRuntime
from ledger.errors import JadechainError

from tests.support.fake_context import FakeLedger
from tests.contracts.wasm_kit import shared_runtime

HERE = Path(__file__).resolve().parent
CORPUS = sorted((HERE / "hostile_wasm").glob("hostile_*.py")) + sorted((HERE / "hostile").glob("hostile_*.py"))
MAX_RATIO = 20.0
RETRIES = 5
GAS_LIMIT = 300_000

KV = '''
from jadechain import contract, callable

@contract
class Store:
    @callable
    def put(self, key: str, value: str) -> int:
        me = self.ctx.address
        return self.ctx.set(me, key, value, self.ctx.get_version(me, key))
'''

TRACE = '''
from jadechain import contract, callable

EVENTS = ["captured"]

@contract
class Trace:
    @callable
    def capture(self, event_id: str, epc: str, step: str, location: str, when: int) -> int:
        me = self.ctx.address
        record = {"id": event_id, "epc": epc, "step": step, "location": location, "time": when,
                  "recorder": self.ctx.caller, "height": self.ctx.block_height}
        self.ctx.set(me, "event:" + event_id, record, -1)
        for index in ["epc:" + epc, "loc:" + location, "step:" + step]:
            self.ctx.set(me, "idx:" + index + ":" + event_id, event_id, -1)
        return self.ctx.emit("captured", {"id": event_id, "epc": epc})
'''

COMPUTE = '''
from jadechain import contract, callable

@contract
class Score:
    @callable
    def score(self, values: list) -> int:
        buckets = {}
        total = 0
        for v in values:
            total += v * v % 97
            key = v % 10
            buckets[key] = buckets.get(key, 0) + 1
        return total + len(buckets)

    @callable
    def words(self, text: str) -> dict:
        counts = {}
        for word in text.split():
            word = word.strip(".,").lower()
            counts[word] = counts.get(word, 0) + 1
        return counts
'''

_counter = [0]


def _fresh(prefix: str) -> str:
    _counter[0] += 1
    return f"{prefix}{_counter[0]}"


BENIGN: list[tuple[str, str, Callable[[], list[object]]]] = [
    (KV, "put", lambda: [_fresh("k"), "value"]),
    (TRACE, "capture", lambda: [_fresh("ev"), "urn:epc:id:sgtin:0614141.107346.1", "shipping", "urn:epc:id:sgln:1", 1]),
    (COMPUTE, "score", lambda: [list(range(200))]),
    (COMPUTE, "words", lambda: ["the quick brown fox jumps over the lazy dog. " * 40]),
]


def cpu_per_gas(runtime: WasmRuntime, source: str, method: str, make_args: Callable[[], list[object]]) -> float | None:
    ledger = FakeLedger(runtime)
    ledger.deploy("C", source)
    best: float | None = None
    for _ in range(3):
        started = time.thread_time()
        gas = runs = 0
        while True:
            try:
                gas += ledger.invoke("C", method, make_args(), gas_limit=GAS_LIMIT).gas_used
            except JadechainError as exc:
                used = exc.details.get("gas_used")
                gas += used if isinstance(used, int) else 0
            runs += 1
            spent = time.thread_time() - started
            if spent >= 0.03 and runs >= 2:
                break
        if gas == 0:
            return None
        ratio = spent / gas
        best = ratio if best is None else min(best, ratio)
    return best


def test_cpu_per_gas_of_every_hostile_contract_is_within_20x_of_benign() -> None:
    runtime = shared_runtime()
    benign = [cpu_per_gas(runtime, source, method, args) for source, method, args in BENIGN]
    assert all(r is not None for r in benign)
    median = statistics.median(r for r in benign if r is not None)
    worst: list[tuple[float, str]] = []
    measured = 0
    for path in CORPUS:
        source = path.read_text(encoding="utf-8").replace("VICTIM_ADDRESS", "nobody")
        try:
            runtime.validate(source)
        except JadechainError:
            continue  # refused at deploy: never runs
        ratio = cpu_per_gas(runtime, source, "attack", lambda: [])
        if ratio is None:
            continue
        # Load on the machine can only add CPU time, never remove it, so the least of several measures is
        # the contract's own cost: one past half the limit is measured again (a CI run with a parallel
        # worker once put a contract measured at 4.6x alone at 31x). A real unpriced loop stays high.
        for _ in range(RETRIES):
            if ratio / median <= MAX_RATIO / 2:
                break
            again = cpu_per_gas(runtime, source, "attack", lambda: [])
            ratio = ratio if again is None else min(ratio, again)
        measured += 1
        worst.append((ratio / median, path.name))
    worst.sort(reverse=True)
    print(f"benign median {median * 1e9:.1f} ns/gas; worst ratios {[(round(r, 2), n) for r, n in worst[:5]]}")
    assert measured >= 100
    assert worst[0][0] <= MAX_RATIO, f"CPU per gas vs benign median, worst first: {worst[:5]}"
