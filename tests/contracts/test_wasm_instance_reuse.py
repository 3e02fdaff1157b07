"""Reused instances (``contracts.warm``) are indistinguishable from fresh ones.

* the pinned MicroPython module has no instruction that changes what a reset does not lay
  again (the function table, data and element segments, a global other than the stack
  pointer): every function body is decoded;
* after any invocation -- of this contract or another, clean or one that filled the heap -- a
  reset instance's whole linear memory and its stack pointer are byte-identical to a fresh
  instance laid with the same image;
* a corpus of invocations (success, revert, exceptions, MemoryError near and past the heap,
  huge allocations, out of gas in the guest and inside a host call, a malformed host call, deep
  recursion, the hostile corpus) ends with the same status, gas, state and roots on a node that
  reuses instances and on one that never does;
* an invocation that ends in a trap never hands its instance on;
* (property) a layout sets every byte of memory exactly once, to the image over blank memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

import contracts.vm as vm
from baas.apps.traceability.contract import CONTRACT_SOURCE, capture_gas
from contracts.vm import REUSABLE_MODULES, WasmRuntime, module_path
from contracts.warm import PAGE, RESET_SUPPORTED, WASM_PAGE, layout_of
from ledger.contract_api import ContractCode
from ledger.crypto import address_from_public_key

from tests.contracts.wasm_kit import capture_item, traceability_brand, wasm_chain
from tests.contracts.wasm_opcodes import _Reader, module_instructions, sections
from tests.unit.ledger.ledger_testkit import Chain, seeded_keypair

pytestmark = pytest.mark.skipif(not RESET_SUPPORTED, reason="instances are reused only on Linux")

HERE = Path(__file__).resolve().parent

PRESSURE = '''
from jadechain import contract, callable

JUNK = []

@contract
class Pressure:
    @callable
    def ok(self, key: str) -> int:
        JUNK.append(key * 1000)
        return self.ctx.set(self.ctx.address, key, len(JUNK), -1)

    @callable
    def revert(self) -> int:
        self.ctx.set(self.ctx.address, "reverted", 1, -1)
        self.ctx.revert("no")

    @callable
    def fault(self) -> int:
        raise ValueError("bad " + "x" * 100)

    @callable
    def one(self, n: int) -> int:
        return len(b"x" * n)

    @callable
    def fill(self, chunk: int) -> int:
        keep = []
        while True:
            keep.append(bytearray(chunk))

    @callable
    def fill_then_write(self, chunk: int) -> int:
        keep = []
        try:
            while True:
                keep.append(bytearray(chunk))
        except MemoryError:
            pass
        keep = None
        return self.ctx.set(self.ctx.address, "after-fill", chunk, -1)

    @callable
    def spin(self) -> int:
        while True:
            pass

    @callable
    def big_write(self, n: int) -> int:
        return self.ctx.set(self.ctx.address, "big", "y" * n, -1)

    @callable
    def malformed(self) -> int:
        import host
        host.call("set", "[1, 2")
        return 0

    @callable
    def deep(self, n: int) -> int:
        return n if n == 0 else 1 + self.deep(n - 1)
'''

CORPUS: list[tuple[str, list[object], int]] = [
    ("ok", ["a"], 100_000),
    ("revert", [], 100_000),
    ("ok", ["b"], 100_000),
    ("fault", [], 100_000),
    ("one", [3_900_000], 1_000_000),
    ("one", [4_000_000], 1_000_000),
    ("one", [50_000_000], 1_000_000),
    ("ok", ["c"], 100_000),
    ("fill", [65536], 2_000_000),
    ("fill", [16], 2_000_000),
    ("ok", ["d"], 100_000),
    ("fill_then_write", [4096], 3_000_000),
    ("ok", ["e"], 100_000),
    ("spin", [], 50_000),
    ("ok", ["f"], 100_000),
    ("big_write", [30_000], 5_000),  # out of gas inside the host call that writes
    ("ok", ["g"], 100_000),
    ("malformed", [], 100_000),
    ("ok", ["h"], 100_000),
    ("deep", [100_000], 3_000_000),
    ("ok", ["i"], 100_000),
]


def test_the_module_never_changes_what_a_reset_does_not_lay_again() -> None:
    wasm = module_path().read_bytes()
    assert hashlib.sha256(wasm).hexdigest() in REUSABLE_MODULES  # the audit below is of this module
    counts = module_instructions(wasm)
    changes_table_or_segments = {(0x26,)} | {(0xFC, sub) for sub in (8, 9, 12, 13, 14, 15, 17)}
    assert not changes_table_or_segments & set(counts)
    assert {key for key in counts if key[0] == 0x24} == {(0x24, 0)}  # global.set of the stack pointer only
    for section, body in sections(wasm):
        reader = _Reader(body)
        if section == 6:  # globals: only the first is mutable
            mutable = []
            for _ in range(reader.uleb()):
                reader.byte()
                mutable.append(reader.byte())
                while reader.byte() != 0x0B:
                    pass
            assert mutable[0] == 1 and not any(mutable[1:])
        if section == 4:  # one table that cannot grow: minimum == maximum
            assert reader.uleb() == 1 and reader.byte() == 0x70 and reader.byte() == 1
            assert reader.uleb() == reader.uleb()
        if section == 11:  # data segments all active: dropped at instantiation, on every instance alike
            for _ in range(reader.uleb()):
                assert reader.uleb() == 0
                while reader.byte() != 0x0B:
                    pass
                length = reader.uleb()
                reader.at += length


def whole_memory(instance: vm._Instance) -> tuple[bytes, object]:
    store = instance.store
    return bytes(instance.memory.read(store, 0, instance.memory.data_len(store))), instance.stack_pointer.value(store)


def fresh_memory(runtime: WasmRuntime, loaded: vm.LoadedContract) -> tuple[bytes, object]:
    run = runtime._new_run(0)
    run.resume = loaded.image
    instance = runtime._instantiate(run)
    vm._lay_image(run, instance, loaded.image)
    return whole_memory(instance)


def test_a_reset_instance_is_byte_identical_to_a_fresh_one() -> None:
    from tests.support.fake_context import FakeLedger

    runtime = WasmRuntime()
    engine = runtime._engine
    ledger = FakeLedger(runtime)
    ledger.deploy("P", PRESSURE)
    heavy = "BALLAST = (b\"x\" * 1024) * 2048\n" + PRESSURE.replace("class Pressure", "class Heavy")
    loaded = {name: runtime.load(ContractCode(name, source, hashlib.sha256(source.encode()).digest(), 1))
              for name, source in (("P", PRESSURE), ("T", CONTRACT_SOURCE), ("H", heavy))}
    for dirty, target in (("fill_then_write", "T"), ("ok", "H"), ("fill", "P"), ("one", "T"), ("ok", "P")):
        engine._idle.clear()
        arguments: list[object] = {"fill_then_write": [16], "fill": [4096], "one": [3_000_000],
                                   "ok": [dirty + target]}[dirty]
        try:
            ledger.invoke("P", dirty, arguments, gas_limit=3_000_000)
        except Exception:
            pass
        assert len(engine._idle) == 1  # the invocation ended without a trap: its instance is kept
        instance = engine.acquire(loaded[target].layout)
        assert instance is not None
        assert whole_memory(instance) == fresh_memory(runtime, loaded[target]), (dirty, target)


def run_corpus(runtime: WasmRuntime) -> list[object]:
    chain = wasm_chain(runtime=runtime)
    pair = seeded_keypair("reuse-pressure")
    address = address_from_public_key(pair.public)
    chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, PRESSURE, 1)))
    tracer = traceability_brand(chain, "reuse-trace")
    outcomes: list[object] = []
    for number, (method, arguments, gas) in enumerate(CORPUS):
        result = chain.commit(
            chain.tx(lambda b, m=method, a=arguments, g=gas: b.invoke(address, m, *a, gas_limit=g)),
            chain.tx(lambda b, i=number: b.invoke(tracer, "capture", [capture_item(i)],
                                                  gas_limit=capture_gas([capture_item(i)]))),
        )
        outcomes.append([(info.status, info.gas_used) for info in result.tx_infos])
        outcomes.append(chain.ledger.roots_at(chain.ledger.height))
    outcomes.append(_hostile_outcomes(chain))
    return outcomes


def _hostile_outcomes(chain: Chain) -> list[object]:
    account = chain.new_data_account("reuse-benign")
    outcomes: list[object] = []
    for path in sorted((HERE / "hostile_wasm").glob("hostile_*.py")):
        source = path.read_text(encoding="utf-8").replace("VICTIM_ADDRESS", account)
        pair = seeded_keypair(f"reuse-hostile-{path.stem}")
        address = address_from_public_key(pair.public)
        result = chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1)),
                              chain.tx(lambda b: b.invoke(address, "attack", gas_limit=300_000)))
        outcomes.append((path.name, [(info.status, info.gas_used) for info in result.tx_infos],
                         chain.ledger.roots_at(chain.ledger.height)))
    return outcomes


def test_reused_and_fresh_instances_give_the_same_outcomes_gas_and_roots() -> None:
    reusing = WasmRuntime()
    fresh = WasmRuntime(reuse_instances=False)
    assert reusing._engine.reusable
    reused_outcomes = run_corpus(reusing)
    assert reused_outcomes == run_corpus(fresh)
    statuses = {status for block in reused_outcomes[:-1:2] for status, _ in block}  # type: ignore[union-attr]
    assert {"SUCCESS", "CONTRACT_REVERTED", "CONTRACT_FAULT", "CONTRACT_LIMIT_EXCEEDED", "OUT_OF_GAS"} <= statuses
    assert fresh.instances_created >= 2 * len(CORPUS)  # one per invocation
    assert reusing.instances_created < fresh.instances_created // 2  # most invocations ran on a reused instance


def test_a_trap_discards_the_instance() -> None:
    from tests.support.fake_context import FakeLedger

    runtime = WasmRuntime()
    ledger = FakeLedger(runtime)
    ledger.deploy("P", PRESSURE)
    runtime._engine._idle.clear()
    ledger.invoke("P", "ok", ["first"])
    created = runtime.instances_created
    ledger.invoke("P", "ok", ["second"])
    assert runtime.instances_created == created  # the clean run's instance was reused
    with pytest.raises(Exception):
        ledger.invoke("P", "spin", [], gas_limit=10_000)  # out of gas: a trap
    assert not runtime._engine._idle  # not handed on
    ledger.invoke("P", "ok", ["third"])
    assert runtime.instances_created == created + 1


def test_memory_is_reset_even_where_it_grew() -> None:
    """An instance whose memory is larger than the next image cannot be reset: it is dropped."""
    runtime = WasmRuntime()
    engine = runtime._engine
    source = PRESSURE
    loaded = runtime.load(ContractCode("P", source, hashlib.sha256(source.encode()).digest(), 1))
    run = runtime._new_run(0)
    run.resume = loaded.image
    instance = runtime._instantiate(run)
    vm._lay_image(run, instance, loaded.image)
    instance.memory.grow(instance.store, 1)
    engine._idle.clear()
    engine.release(instance)
    assert engine.acquire(loaded.layout) is None
    assert not engine._idle
    assert isinstance(instance.memory, wasmtime.Memory)


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, tuple[tuple[int, bytes], ...], int]:
    """A blank memory of whole pages, an image's runs of pages over it, and a memory size that holds both."""
    blank_pages = draw(st.integers(1, 6))
    blank = b"".join(bytes([draw(st.integers(0, 2))]) * PAGE for _ in range(blank_pages))
    memory_pages = draw(st.integers(1, 2))
    total = memory_pages * WASM_PAGE // PAGE
    chosen = sorted(draw(st.sets(st.integers(0, total - 1), max_size=8)))
    runs: list[tuple[int, bytes]] = []
    for page in chosen:
        data = bytes([draw(st.integers(1, 255))]) * PAGE
        if runs and runs[-1][0] + len(runs[-1][1]) == page * PAGE:
            runs[-1] = (runs[-1][0], runs[-1][1] + data)
        else:
            runs.append((page * PAGE, data))
    return blank, tuple(runs), memory_pages


@given(images())
@settings(max_examples=200, deadline=None)
def test_a_layout_is_the_image_over_blank_memory_and_covers_it_once(case: tuple[bytes, tuple[tuple[int, bytes], ...], int]) -> None:
    blank, runs, memory_pages = case
    size = memory_pages * WASM_PAGE
    expected = bytearray(size)
    expected[:len(blank)] = blank
    for offset, data in runs:
        expected[offset:offset + len(data)] = data
    layout = layout_of(runs, memory_pages, 123, blank)
    rebuilt = bytearray(b"\xee" * size)
    covered = []
    for offset, data in layout.content:
        rebuilt[offset:offset + len(data)] = data
        covered.append((offset, len(data)))
    for offset, length in layout.zero:
        assert offset % PAGE == 0 and length % PAGE == 0  # what madvise is given is whole pages
        rebuilt[offset:offset + length] = bytes(length)
        covered.append((offset, length))
    covered.sort()
    assert covered[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(covered, covered[1:]))
    assert covered[-1][0] + covered[-1][1] == size  # every byte set exactly once
    assert bytes(rebuilt) == bytes(expected)
    assert layout.pages == memory_pages and layout.stack_pointer == 123
