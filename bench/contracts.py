"""Benchmark of the contract engine: sandboxed invocations per second against native Python.

Usage: ``python bench/contracts.py [--quick] [--out FILE]``.

Two workloads run on the in-memory test context (``tests/support/fake_context.py``),
each through the same ledger path (transaction wrapper, undo journal, typed values):

* ``kv``: read a key's version and write a new value (the KV-write transaction);
* ``trace``: a traceability capture: one event record, three index entries, one event;
* ``compute``: a 200-iteration loop of arithmetic and dict updates, no storage (the
  instrumentation's worst case: every statement, operator and iteration is metered).

Each runs once as a sandboxed contract (``SandboxRuntime``) and once as the same logic
written as native Python functions behind a ``ContractRuntime`` with no sandbox; the
ratio is the sandbox's overhead (these three are the legacy sandbox's). A third figure times a
cold compile (validate + instrument + compile) against a warm, cached invocation.

The headline for the WebAssembly engine is ``ledger_traceability``: the traceability app's
``capture`` through the real ledger executor on both engines, in transactions per CPU-second of
this process (single-threaded), with the cost of building the contract's image once per node
(``wasm_image_cost``). Writes JSON (default
``bench/results/contracts.json``) and prints, as its very last line, one JSON object of
headline figures. It measures; it never passes or fails on wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_context import FakeLedger  # noqa: E402

from contracts import SandboxRuntime  # noqa: E402
from ledger.contract_api import ContractCode, ContractContext, InvocationResult  # noqa: E402
from ledger.values import TypedValue  # noqa: E402

KV_SOURCE = '''
from jadechain import contract, callable

@contract
class Store:
    @callable
    def put(self, account: str, key: str, value: str) -> int:
        version = self.ctx.get_version(account, key)
        return self.ctx.set(account, key, value, version)
'''

TRACE_SOURCE = '''
from jadechain import contract, callable

EVENTS = ["captured"]

@contract
class Trace:
    @callable
    def capture(self, account: str, event_id: str, epc: str, step: str, location: str, when: int) -> int:
        record = {"id": event_id, "epc": epc, "step": step, "location": location, "time": when,
                  "recorder": self.ctx.caller, "height": self.ctx.block_height}
        self.ctx.set(account, "event:" + event_id, record, -1)
        for index in ["epc:" + epc, "loc:" + location, "step:" + step]:
            key = "idx:" + index + ":" + event_id
            self.ctx.set(account, key, event_id, -1)
        return self.ctx.emit("captured", {"id": event_id, "epc": epc})
'''

COMPUTE_SOURCE = '''
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
'''


def native_score(context: ContractContext, values: list[int]) -> object:
    buckets: dict[int, int] = {}
    total = 0
    for v in values:
        total += v * v % 97
        key = v % 10
        buckets[key] = buckets.get(key, 0) + 1
    return total + len(buckets)


def compute_args(i: int) -> list[object]:
    return [list(range(i % 7, i % 7 + 200))]


def native_put(context: ContractContext, account: str, key: str, value: str) -> object:
    entry = context.get_entry(account, key)
    version = -1 if entry is None else entry.version
    return context.set_entry(account, key, TypedValue.text(value), version)


def native_capture(
    context: ContractContext, account: str, event_id: str, epc: str, step: str, location: str, when: int
) -> object:
    record = {"id": event_id, "epc": epc, "step": step, "location": location, "time": when,
              "recorder": context.caller, "height": context.block_height}
    context.set_entry(account, "event:" + event_id, TypedValue.json_(record), -1)
    for index in ["epc:" + epc, "loc:" + location, "step:" + step]:
        context.set_entry(account, "idx:" + index + ":" + event_id, TypedValue.text(event_id), -1)
    return context.emit_event("captured", TypedValue.json_({"id": event_id, "epc": epc}))


class NativeRuntime:
    """The same logic as plain Python functions: the baseline the sandbox is compared to."""

    def __init__(self, functions: dict[str, Callable[..., object]]) -> None:
        self.functions = functions

    def validate(self, source: str) -> None:
        return None

    def invoke(
        self, code: ContractCode, method: str, args: Sequence[object], context: ContractContext, gas_limit: int
    ) -> InvocationResult:
        value = self.functions[method](context, *args)
        assert isinstance(value, int)
        return InvocationResult(TypedValue.int64(value), 0)


def kv_args(i: int) -> list[object]:
    return ["acct", f"key-{i}", f"value-{i}"]


def trace_args(i: int) -> list[object]:
    return ["trace", f"ev{i:08d}", f"urn:epc:id:sgtin:0614141.107346.{i}", "shipping", f"urn:epc:id:sgln:{i % 50}", 1_700_000_000_000 + i]


def rate(ledger: FakeLedger, method: str, make_args: Callable[[int], list[object]], count: int) -> tuple[float, int]:
    """Invocations per second over ``count`` fresh-key invocations, and gas of the last one."""
    for i in range(min(200, count)):  # warm-up: compile cache, allocator
        ledger.invoke("C", method, make_args(10_000_000 + i))
    started = time.perf_counter()
    gas = 0
    for i in range(count):
        gas = ledger.invoke("C", method, make_args(i)).gas_used
    elapsed = time.perf_counter() - started
    return count / elapsed, gas


def workload(name: str, source: str, method: str, native: Callable[..., object], make_args: Callable[[int], list[object]], count: int) -> dict[str, object]:
    sandboxed = FakeLedger(SandboxRuntime())
    sandboxed.deploy("C", source)
    sandbox_rate, gas = rate(sandboxed, method, make_args, count)
    baseline = FakeLedger(NativeRuntime({method: native}))
    baseline.deploy("C", source)
    native_rate, _ = rate(baseline, method, make_args, count)
    return {
        "workload": name,
        "invocations": count,
        "sandbox_per_s": round(sandbox_rate, 1),
        "native_per_s": round(native_rate, 1),
        "overhead_ratio": round(native_rate / sandbox_rate, 2),
        "gas_per_invocation": gas,
    }


def compile_cost(source: str, repeats: int) -> dict[str, float]:
    """Cold compile (policy + instrumentation + compile) versus a cache hit."""
    started = time.perf_counter()
    for i in range(repeats):
        runtime = SandboxRuntime()
        runtime.compile(ContractCode("C", source, hashlib.sha256(f"{i}".encode()).digest(), 1))
    cold = (time.perf_counter() - started) / repeats
    runtime = SandboxRuntime()
    code = ContractCode("C", source, b"h" * 32, 1)
    runtime.compile(code)
    started = time.perf_counter()
    for _ in range(repeats * 10):
        runtime.compile(code)
    warm = (time.perf_counter() - started) / (repeats * 10)
    return {"cold_compile_ms": round(cold * 1000, 3), "cached_lookup_us": round(warm * 1e6, 3)}


LEDGER_KV_SOURCE = """
from jadechain import contract, callable

@contract
class Store:
    @callable
    def put(self, key: str, value: str) -> int:
        me = self.ctx.address
        return self.ctx.set(me, key, value, self.ctx.get_version(me, key))
"""


def ledger_workload(count: int) -> dict[str, object]:
    """Through the real ledger executor: contract KV invocations against native KV-set operations.

    Both run as signed transactions in blocks of 500 on one node's ledger (in memory,
    signatures pre-verified so that only execution is measured).
    """
    from ledger.crypto import address_from_public_key
    from tests.unit.ledger.ledger_testkit import make_chain, seeded_keypair

    chain = make_chain(runtime=SandboxRuntime(), contract_engine="")  # the legacy engine (old ledgers)
    account = chain.new_data_account("bench")
    pair = seeded_keypair("bench-contract")
    chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, LEDGER_KV_SOURCE, 1)))
    contract = address_from_public_key(pair.public)
    block = 500

    def run(make_tx: Callable[[int], object]) -> float:
        txs = [make_tx(i) for i in range(count)]
        started = time.perf_counter()
        for offset in range(0, count, block):
            chain.time += 1000
            result = chain.ledger.apply_block(
                chain.ledger.make_block(txs[offset:offset + block], time=chain.time),  # type: ignore[arg-type]
                preverified=lambda tx_hash: True,
            )
            assert all(info.status == "SUCCESS" for info in result.tx_infos)
        return count / (time.perf_counter() - started)

    native = run(lambda i: chain.tx(lambda b: b.kv_set(account, f"key-{i:08d}", "value", -1)))
    sandboxed = run(lambda i: chain.tx(lambda b: b.invoke(contract, "put", f"key-{i:08d}", "value")))
    return {
        "workload": "ledger_kv",
        "sandbox_tx_per_s": round(sandboxed, 1),
        "native_tx_per_s": round(native, 1),
        "overhead_ratio": round(native / sandboxed, 2),
    }


def ledger_traceability(engine: str, count: int) -> dict[str, object]:
    """The traceability app's contract through the real ledger executor, single-threaded.

    One signed ``capture`` of one event per transaction (brand-authorised GS1 key, so the
    company-prefix walk reads the registry), blocks of 500, signatures pre-verified so that only
    execution is measured. ``engine``: ``legacy`` (CPython sandbox) or ``wasm`` (MicroPython
    under wasmtime, identity recorded at genesis).
    """
    from baas.apps.traceability.contract import capture_gas
    from tests.contracts.wasm_kit import capture_item as item, traceability_brand
    from tests.unit.ledger.ledger_testkit import make_chain

    if engine == "wasm":
        from tests.contracts.wasm_kit import shared_runtime, wasm_chain

        chain = wasm_chain(1)
        runtime: object = shared_runtime()
    else:
        runtime = SandboxRuntime()
        chain = make_chain(1, runtime=runtime, contract_engine="")
    contract = traceability_brand(chain, "bench-trace")

    txs = [chain.tx(lambda b, i=i: b.invoke(contract, "capture", [item(i)], gas_limit=capture_gas([item(i)])))
           for i in range(count)]
    block = 500
    gas: list[int] = []
    host_calls = getattr(runtime, "host_calls", 0)
    instances = getattr(runtime, "instances_created", 0)
    started = time.perf_counter()
    cpu_started = time.process_time()
    for offset in range(0, count, block):
        chain.time += 1000
        result = chain.ledger.apply_block(
            chain.ledger.make_block(txs[offset:offset + block], time=chain.time),  # type: ignore[arg-type]
            preverified=lambda tx_hash: True,
        )
        assert all(info.status == "SUCCESS" for info in result.tx_infos), result.tx_infos[0]
        gas.extend(info.gas_used for info in result.tx_infos)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    host_calls = getattr(runtime, "host_calls", 0) - host_calls  # the legacy sandbox makes no host calls
    instances = getattr(runtime, "instances_created", 0) - instances  # fresh wasm instances (the rest reused one)
    # tx per second of wall time, and per second of this process's CPU time (the figure that does
    # not depend on what else the machine is running)
    return {"workload": f"ledger_traceability_{engine}", "tx_per_s": round(count / elapsed, 1),
            "tx_per_cpu_s": round(count / cpu, 1), "transactions": count, "gas_per_tx": gas[-1],
            "host_calls_per_tx": round(host_calls / count, 2) if engine == "wasm" else None,
            "fresh_instances_per_tx": round(instances / count, 3) if engine == "wasm" else None}


def wasm_image_cost(repeats: int) -> dict[str, object]:
    """Building the traceability contract's image (once per node and contract; ``contracts.vm``)."""
    from baas.apps.traceability.contract import CONTRACT_SOURCE
    from contracts.vm import WasmRuntime

    started = time.process_time()
    for _ in range(repeats):
        image = WasmRuntime().image(CONTRACT_SOURCE)  # a fresh runtime: an empty image cache
    return {"image_build_cpu_ms": round((time.process_time() - started) / repeats * 1000, 2),
            "image_pages": image.page_count, "image_load_gas": image.load_gas, "image_digest": image.digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer invocations (a few seconds)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "contracts.json"))
    options = parser.parse_args()
    count = 2_000 if options.quick else 20_000
    results = [
        workload("kv", KV_SOURCE, "put", native_put, kv_args, count),
        workload("trace", TRACE_SOURCE, "capture", native_capture, trace_args, count),
        workload("compute", COMPUTE_SOURCE, "score", native_score, compute_args, count // 4),
    ]
    compile_figures = compile_cost(TRACE_SOURCE, 20 if options.quick else 100)
    on_ledger = ledger_workload(2_000 if options.quick else 10_000)
    trace_legacy = ledger_traceability("legacy", 1_000 if options.quick else 5_000)
    trace_wasm = ledger_traceability("wasm", 1_000 if options.quick else 5_000)
    image = wasm_image_cost(5 if options.quick else 20)
    for row in (trace_wasm, trace_legacy):
        print(f"{row['workload']}: {row['tx_per_s']:,.0f} tx/s wall, {row['tx_per_cpu_s']:,.0f} tx per CPU-second, "
              f"gas {row['gas_per_tx']} per capture"
              + (f", {row['host_calls_per_tx']} host calls and {row['fresh_instances_per_tx']} fresh instances per capture"
                 if row["host_calls_per_tx"] is not None else ""))
    print(f"ledger kv: contract {on_ledger['sandbox_tx_per_s']:,.0f} tx/s  native op {on_ledger['native_tx_per_s']:,.0f} tx/s  "
          f"overhead x{on_ledger['overhead_ratio']}")
    for row in results:
        print(f"{row['workload']:>6}: sandbox {row['sandbox_per_s']:>9,.0f}/s  native {row['native_per_s']:>9,.0f}/s  "
              f"overhead x{row['overhead_ratio']}  gas {row['gas_per_invocation']}")
    print(f"compile: cold {compile_figures['cold_compile_ms']} ms, cached lookup {compile_figures['cached_lookup_us']} us")
    print(f"wasm image of the traceability contract: built in {image['image_build_cpu_ms']} ms CPU once per node, "
          f"{image['image_pages']} pages of 4 KiB laid per call, load {image['image_load_gas']} gas (paid by no call)")
    report = {
        "benchmark": "contracts",
        "quick": options.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "workloads": results,
        "ledger": on_ledger,
        "ledger_traceability": [trace_wasm, trace_legacy],
        "compile": compile_figures,
        "wasm_image": image,
    }
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    headline = {
        "kv_sandbox_per_s": results[0]["sandbox_per_s"],
        "kv_overhead_ratio": results[0]["overhead_ratio"],
        "trace_sandbox_per_s": results[1]["sandbox_per_s"],
        "trace_overhead_ratio": results[1]["overhead_ratio"],
        "compute_overhead_ratio": results[2]["overhead_ratio"],
        "ledger_contract_tx_per_s": on_ledger["sandbox_tx_per_s"],
        "ledger_native_tx_per_s": on_ledger["native_tx_per_s"],
        "ledger_overhead_ratio": on_ledger["overhead_ratio"],
        **compile_figures,
        "trace_ledger_wasm_tx_per_s": trace_wasm["tx_per_s"],
        "trace_ledger_wasm_tx_per_cpu_s": trace_wasm["tx_per_cpu_s"],
        "trace_ledger_legacy_tx_per_s": trace_legacy["tx_per_s"],
        "trace_ledger_legacy_tx_per_cpu_s": trace_legacy["tx_per_cpu_s"],
        "trace_ledger_target_tx_per_s": 1500,
        "trace_wasm_gas_per_tx": trace_wasm["gas_per_tx"],
        "trace_wasm_host_calls_per_tx": trace_wasm["host_calls_per_tx"],
        "trace_wasm_fresh_instances_per_tx": trace_wasm["fresh_instances_per_tx"],
        "wasm_image_build_cpu_ms": image["image_build_cpu_ms"],
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
