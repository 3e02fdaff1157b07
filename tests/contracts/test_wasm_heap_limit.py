"""Contracts at the edge of MicroPython's 4 MiB heap end the same way everywhere: MemoryError.

MicroPython's collector scans linear memory conservatively, but a WebAssembly function keeps
pointers in its locals, which are not in linear memory: a collection in the middle of a call
can free objects that are still in use. Before the engine stopped collecting during
invocations, a contract that filled the heap triggered one and then, depending on the size and
pattern of its allocations, ended in a wasm trap (``MEMORY_OUT_OF_BOUNDS``, or an uncaught
exception when even the fault report could not allocate) instead of ``MemoryError``.

Now (engine ABI 4) the heap is never collected inside the guest (``gc`` is a stub; a contract
has the heap's free space for one invocation), and the guest reports a MemoryError without
allocating. Every pattern below -- single allocations around the edge, fills in chunks of 16
bytes to 64 KiB, growing strings, lists, dicts and bytearrays, a host call or an exception
after the heap is full -- ends in SUCCESS or CONTRACT_LIMIT_EXCEEDED (``limit="memory"``),
never a trap, and three replicas in fresh processes (other hash seeds, recursion limits, GC
thresholds, data rlimits) reach the same statuses, gas and roots.
"""

from __future__ import annotations

from pathlib import Path

from ledger.crypto import address_from_public_key

from tests.contracts.replay_wasm import assert_replicas_agree
from tests.contracts.wasm_kit import wasm_chain
from tests.support.fake_context import FakeLedger
from tests.unit.ledger.ledger_testkit import seeded_keypair

PRESSURE = '''
from jadechain import contract, callable

@contract
class Pressure:
    @callable
    def one(self, n: int) -> int:
        return len(b"x" * n)

    @callable
    def fill(self, chunk: int) -> int:
        keep = []
        while True:
            keep.append(bytearray(chunk))

    @callable
    def fill_then_call(self, chunk: int) -> int:
        keep = []
        try:
            while True:
                keep.append(bytearray(chunk))
        except MemoryError:
            pass
        return self.ctx.get_version(self.ctx.address, "k")

    @callable
    def fill_then_raise(self, chunk: int) -> int:
        keep = []
        try:
            while True:
                keep.append(bytearray(chunk))
        except MemoryError:
            pass
        raise ValueError("after the heap filled up")

    @callable
    def grow_str(self, step: int) -> int:
        s = ""
        while True:
            s = s + "y" * step

    @callable
    def grow_list(self, n: int) -> int:
        items = []
        while True:
            items.append([n, n + 1, n + 2])

    @callable
    def grow_dict(self, n: int) -> int:
        table = {}
        while True:
            table[n] = str(n)
            n += 1

    @callable
    def grow_bytearray(self, step: int) -> int:
        data = bytearray()
        while True:
            data.extend(b"z" * step)

    @callable
    def collect(self, n: int) -> int:
        import gc
        gc.enable()
        gc.collect()
        return len(b"x" * n)
'''

CASES: list[tuple[str, int]] = [
    ("one", 3_000_000), ("one", 3_900_000), ("one", 4_000_000), ("one", 4_100_000), ("one", 4_194_000),
    ("one", 8_000_000),
    ("fill", 16), ("fill", 256), ("fill", 4096), ("fill", 65536), ("fill", 1_000_000),
    ("fill_then_call", 16), ("fill_then_call", 4096), ("fill_then_call", 65536),
    ("fill_then_raise", 16), ("fill_then_raise", 65536),
    ("grow_str", 1000), ("grow_str", 100_000),
    ("grow_list", 0), ("grow_dict", 0),
    ("grow_bytearray", 1000), ("grow_bytearray", 100_000),
    ("collect", 1000),
]
GAS = 5_000_000


def test_heap_exhaustion_is_a_memory_error_on_every_replica(tmp_path: Path) -> None:
    chain = wasm_chain()
    pair = seeded_keypair("heap-limit")
    address = address_from_public_key(pair.public)
    chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, PRESSURE, 1)))
    statuses = []
    for method, argument in CASES:
        result = chain.commit(chain.tx(lambda b, m=method, a=argument: b.invoke(address, m, a, gas_limit=GAS)))
        info = result.tx_infos[0]
        allowed = {"SUCCESS", "CONTRACT_LIMIT_EXCEEDED"} | ({"CONTRACT_FAULT"} if method == "fill_then_raise" else set())
        assert info.status in allowed, (method, argument, info.status)
        assert 0 < info.gas_used < GAS, (method, argument)
        statuses.append(info.status)
    assert statuses.count("CONTRACT_LIMIT_EXCEEDED") >= len(CASES) - 6  # the heap really ran out
    assert_replicas_agree(chain, tmp_path)


def test_no_case_ends_in_a_trap() -> None:
    """What each case ends with: its own result, MemoryError as the memory limit, or (one case, which
    still has room for it) its own ValueError -- never a trap of the engine."""
    from contracts.vm import WasmRuntime
    from ledger.errors import ContractFault, ContractLimitExceeded

    ledger = FakeLedger(WasmRuntime())
    ledger.deploy("P", PRESSURE)
    for method, argument in CASES:
        try:
            ledger.invoke("P", method, [argument], gas_limit=GAS)
        except ContractLimitExceeded as exc:
            assert exc.details.get("limit") == "memory", (method, argument, exc.details)
        except ContractFault as exc:
            assert (method, exc.details.get("error")) == ("fill_then_raise", "ValueError"), (method, argument, exc)
