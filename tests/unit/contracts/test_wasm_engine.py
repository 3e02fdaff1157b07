"""The WebAssembly engine on the in-memory context: the contract API, stable failure codes,
no capability beyond the host module, deterministic gas, the module cache and the watchdog."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from contracts import vm
from contracts.vm import EngineWatchdog, WasmRuntime
from ledger.errors import ContractRejected, JadechainError

from tests.support.fake_context import FakeLedger

_RUNTIME: WasmRuntime | None = None


def runtime() -> WasmRuntime:
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = WasmRuntime()
    return _RUNTIME


def ledger_with(source: str, address: str = "C") -> FakeLedger:
    ledger = FakeLedger(runtime())
    ledger.deploy(address, source)
    return ledger


def failure(ledger: FakeLedger, method: str, args: list[object] | None = None, gas_limit: int = 2_000_000) -> JadechainError:
    with pytest.raises(JadechainError) as info:
        ledger.invoke("C", method, args or [], gas_limit=gas_limit)
    assert isinstance(info.value.details.get("gas_used"), int)
    return info.value


API = '''
from jadechain import contract, callable, event

EVENTS = ["stored", "note"]

@contract
class Api:
    @event
    def stored(self, key: str, version: int): ...

    @callable
    def put(self, key: str, value: str) -> int:
        me = self.ctx.address
        version = self.ctx.set(me, key, value, self.ctx.get_version(me, key))
        self.stored(key, version=version)
        return version

    @callable
    def echo(self, s: str, i: int, b: bool, raw: bytes, items: list, table: dict) -> list:
        return [s, i, b, raw.hex(), items, table, None]

    @callable
    def raw(self, data: bytes) -> bytes:
        return data + b"!"

    @callable
    def entry(self, key: str) -> dict:
        return self.ctx.get_entry(self.ctx.address, key)

    @callable
    def env(self) -> dict:
        c = self.ctx
        return {"caller": c.caller, "signers": c.signers, "height": c.block_height, "time": c.block_time,
                "address": c.address, "depth": c.call_depth, "tx": c.tx_hash.hex(), "ledger": len(c.ledger_hash)}

    @callable
    def undeclared(self) -> int:
        return self.ctx.emit("other", {"x": 1})

    @callable
    def revert_after_write(self) -> int:
        self.ctx.set(self.ctx.address, "r", "written", -1)
        self.ctx.revert("no, thanks")
        return 0

    @callable
    def float_out(self) -> int:
        return 0.5

    @callable
    def nested(self, callee: str, fail: bool) -> dict:
        return self.ctx.try_call(callee, "maybe_fail", [fail])

    @callable
    def nested_hard(self, callee: str) -> int:
        return self.ctx.call(callee, "maybe_fail", [True])
'''

CALLEE = '''
from jadechain import contract, callable

@contract
class Callee:
    @callable
    def maybe_fail(self, fail: bool) -> str:
        self.ctx.set(self.ctx.address, "touched", "yes", self.ctx.get_version(self.ctx.address, "touched"))
        if fail:
            self.ctx.revert("callee failed")
        return "fine"
'''


def test_the_contract_api_round_trips_values_and_events() -> None:
    ledger = ledger_with(API)
    assert ledger.invoke("C", "put", ["k", "v"]).return_value.to_python() == 0
    assert ledger.invoke("C", "put", ["k", "w"]).return_value.to_python() == 1
    assert ledger.value("C", "k") == "w"
    assert [e.to_python() for e in ledger.events[("C", "stored")]] == [{"key": "k", "version": 0}, {"key": "k", "version": 1}]
    echoed = ledger.invoke("C", "echo", ["s", -5, True, b"\x00\xff", [1, "a", [2]], {"z": 1, "a": [None]}])
    assert echoed.return_value.to_python() == ["s", -5, True, "00ff", [1, "a", [2]], {"a": [None], "z": 1}, None]
    assert ledger.invoke("C", "raw", [b"\x01"]).return_value.to_python() == b"\x01!"
    assert ledger.invoke("C", "entry", ["k"]).return_value.to_python() == {"value": "w", "version": 1}
    env = ledger.invoke("C", "env", [], caller="alice", signers=("alice", "bob")).return_value.to_python()
    assert env["caller"] == "alice" and env["signers"] == ["alice", "bob"] and env["depth"] == 0
    assert env["address"] == "C" and env["ledger"] == 32


def test_failures_have_stable_codes_and_roll_back() -> None:
    ledger = ledger_with(API)
    assert failure(ledger, "undeclared").code == "CONTRACT_FAULT"
    reverted = failure(ledger, "revert_after_write")
    assert reverted.code == "CONTRACT_REVERTED" and reverted.message == "no, thanks"
    assert ledger.value("C", "r") is None
    assert failure(ledger, "float_out").code == "CONTRACT_FAULT"
    assert failure(ledger, "nope").code == "CONTRACT_FAULT"
    assert failure(ledger, "put", ["k"]).code == "CONTRACT_FAULT"
    assert failure(ledger, "put", ["k", 5]).code == "CONTRACT_FAULT"


def test_try_call_rolls_back_the_callee_and_call_propagates() -> None:
    ledger = ledger_with(API)
    ledger.deploy("D", CALLEE)
    result = ledger.invoke("C", "nested", ["D", True]).return_value.to_python()
    assert result["ok"] is False and result["error"] == "CONTRACT_REVERTED"
    assert ledger.value("D", "touched") is None
    assert ledger.invoke("C", "nested", ["D", False]).return_value.to_python()["value"] == "fine"
    assert ledger.value("D", "touched") == "yes"
    assert failure(ledger, "nested_hard", ["D"]).code == "CONTRACT_REVERTED"


EXHAUST = '''
from jadechain import contract, callable

@contract
class Exhaust:
    @callable
    def spin(self) -> int:
        while True:
            pass

    @callable
    def recurse(self) -> int:
        def f(n):
            return f(n + 1) + 1
        return f(0)

    @callable
    def hog(self) -> int:
        keep = []
        while True:
            keep.append("x" * 4096)

    @callable
    def huge_int(self) -> int:
        n = 200000
        return len(str(10 ** n))

    @callable
    def huge_return(self) -> str:
        return "y" * 100000

    @callable
    def no_files(self) -> str:
        try:
            open("/etc/passwd")
        except OSError as exc:
            return "denied"
        return "opened"

    @callable
    def clock(self) -> int:
        import time
        return int(time.time())

    @callable
    def chatty(self) -> int:
        for i in range(100):
            print("noise", i)
        return 1

    @callable
    def raw_abi(self) -> int:
        import host
        host.call("set", "[[[not json")
        return 1

    @callable
    def ask_twice(self) -> int:
        import host
        host.call("next", "")
        return 1
'''


def test_exhaustion_and_traps_end_with_a_code_and_the_gas_spent() -> None:
    ledger = ledger_with(EXHAUST)
    spun = failure(ledger, "spin", gas_limit=300_000)
    assert spun.code == "OUT_OF_GAS" and spun.details["gas_used"] == 300_000
    recursed = failure(ledger, "recurse")
    assert recursed.code == "CONTRACT_LIMIT_EXCEEDED" and recursed.details["limit"] == "recursion"
    hog = failure(ledger, "hog")
    # MicroPython's heap runs out: a MemoryError, or (when it runs out inside the runtime) a wasm trap
    assert (hog.code, hog.details.get("limit") or hog.details.get("reason")) in (
        ("CONTRACT_LIMIT_EXCEEDED", "memory"), ("CONTRACT_FAULT", "trap"))
    assert failure(ledger, "huge_int", gas_limit=500_000).code in ("OUT_OF_GAS", "CONTRACT_LIMIT_EXCEEDED")
    huge = failure(ledger, "huge_return", gas_limit=5_000_000)
    assert huge.code == "CONTRACT_LIMIT_EXCEEDED" and huge.details["limit"] == "max_return_bytes"
    abi = failure(ledger, "raw_abi")
    assert abi.code == "CONTRACT_FAULT" and abi.details.get("reason") == "abi"
    assert failure(ledger, "ask_twice").code == "CONTRACT_FAULT"


def test_no_capability_beyond_the_host_module() -> None:
    ledger = ledger_with(EXHAUST)
    assert ledger.invoke("C", "no_files").return_value.to_python() == "denied"
    assert ledger.invoke("C", "clock").return_value.to_python() == 0
    assert ledger.invoke("C", "chatty").return_value.to_python() == 1


def test_gas_is_deterministic_across_runtimes() -> None:
    first = ledger_with(API)
    second = FakeLedger(WasmRuntime(cache_size=1))
    second.deploy("C", API)
    for ledger in (first, second):
        ledger.invoke("C", "put", ["warm", "x"])
    gas = [ledger.invoke("C", "put", ["k", "v" * 100]).gas_used for ledger in (first, second)]
    assert gas[0] == gas[1] > 0


def test_deploy_refuses_what_micropython_cannot_load() -> None:
    rt = runtime()
    with pytest.raises(ContractRejected):
        rt.validate("x = 1\n")  # no contract class
    with pytest.raises(ContractRejected) as info:
        rt.validate(API.replace("EVENTS = [", "while True:\n    pass\nEVENTS = ["))
    assert info.value.details["rule"] == "load-budget"
    with pytest.raises(ContractRejected) as info:  # MicroPython folds constants while compiling: work, charged
        rt.validate(API + "\nBIG = len(str(10 ** 300000))\n")
    assert info.value.details["rule"] == "load-budget"
    with pytest.raises(ContractRejected) as info:
        rt.validate(API + "\nmatch = 1\nmatch match:\n    case 1:\n        pass\n")
    assert info.value.details["rule"] == "load"


def test_the_compiled_module_is_serialized_once_per_node(tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    WasmRuntime(module_cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".cwasm"
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    vm._ENGINES.pop(str(cache))
    reloaded = WasmRuntime(module_cache_dir=cache)  # deserialized, not compiled
    ledger = FakeLedger(reloaded)
    ledger.deploy("C", API)
    assert ledger.invoke("C", "put", ["k", "v"]).return_value.to_python() == 0


def test_the_watchdog_stops_a_run_without_making_it_an_outcome() -> None:
    rt = WasmRuntime(watchdog_seconds=1)
    ledger = FakeLedger(rt)
    ledger.deploy("C", EXHAUST)
    with pytest.raises(EngineWatchdog):
        ledger.invoke("C", "spin", [], gas_limit=10_000_000_000)


def test_a_host_error_is_a_failed_invocation_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import fake_context

    def broken(self: object, account: str, key: str, committed: bool = False) -> None:
        raise AttributeError("a bug on the host side")

    ledger = ledger_with(API)
    monkeypatch.setattr(fake_context.FakeContext, "get_entry", broken)
    error = failure(ledger, "entry", ["k"])
    assert error.code == "CONTRACT_FAULT" and error.details["reason"] == "host"
    monkeypatch.undo()
    assert ledger.invoke("C", "put", ["k", "v"]).return_value.to_python() == 0  # the engine is fine afterwards


NAN = '''
from jadechain import contract, callable
import struct

@contract
class Nan:
    @callable
    def bits(self) -> bytes:
        inf = float("inf")
        return struct.pack("<d", inf * 0.0) + struct.pack("<d", inf - inf)
'''


def test_nan_bits_are_canonical_whatever_the_cpu_produces() -> None:
    # x86 produces the "default NaN" with the sign bit set (0xfff8...); the engine canonicalises
    # every NaN to 0x7ff8000000000000, so a contract that hashes or stores float bits agrees everywhere
    ledger = ledger_with(NAN)
    assert ledger.invoke("C", "bits").return_value.to_python() == bytes.fromhex("000000000000f87f") * 2


def test_identity_names_the_exact_module_and_wasmtime() -> None:
    import hashlib
    import importlib.metadata

    identity = runtime().identity
    assert f"micropython-wasi=sha256:{hashlib.sha256(vm.module_path().read_bytes()).hexdigest()}" in identity
    assert f"wasmtime={importlib.metadata.version('wasmtime')}" in identity


@pytest.mark.parametrize("source", [
    "x = " + "a+" * 30000 + "a\n", "x = " + "-" * 60000 + "1\n", "x = a" + ".b" * 30000 + "\n",
    "x = f" + "()" * 30000 + "\n", "x = " + "lambda: " * 8000 + "1\n", "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "x = 1\n" + "\n".join(" " * 4 * depth + "if x:" for depth in range(40)) + "\n" + " " * 160 + "pass\n",
], ids=["binop", "unary", "attr", "call", "lambda", "brackets", "indent"])
def test_the_host_only_reads_declarations_and_its_parser_is_bounded(source: str) -> None:
    with pytest.raises(ContractRejected):
        runtime().validate(source)


def test_guests_on_several_threads_get_their_own_outcomes() -> None:
    import threading

    def outcomes() -> list[tuple[str, int]]:
        ledger = ledger_with(API)
        ledger.deploy("D", CALLEE)
        seen: list[tuple[str, int]] = []
        for i in range(6):
            for method, args in (("revert_after_write", []), ("nested", ["D", i % 2 == 0]), ("float_out", [])):
                try:
                    seen.append(("SUCCESS", ledger.invoke("C", method, args).gas_used))
                except JadechainError as exc:
                    seen.append((exc.code, int(exc.details["gas_used"])))  # type: ignore[call-overload]
        return seen

    reference = outcomes()
    results: list[list[tuple[str, int]]] = []
    threads = [threading.Thread(target=lambda: results.append(outcomes())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert results == [reference] * 3


BIG = '''
from jadechain import contract, callable

@contract
class Big:
    @callable
    def read(self, key: str) -> int:
        value = self.ctx.get(self.ctx.address, key)
        return len(value)

    @callable
    def write(self, size: int) -> int:
        return self.ctx.set(self.ctx.address, "w", "x" * size, -1)
'''


def test_values_too_big_to_cross_are_refused_before_they_are_encoded() -> None:
    from ledger.values import TypedValue

    ledger = ledger_with(BIG)
    ledger.entries[("C", "small")] = [TypedValue.text("é" * 30000)]  # 60 KB of UTF-8: readable
    ledger.entries[("C", "large")] = [TypedValue.bytes_(b"\x00" * 200_000)]  # written by a KV operation
    assert ledger.invoke("C", "read", ["small"]).return_value.to_python() == 30000
    large = failure(ledger, "read", ["large"])
    assert large.code == "CONTRACT_LIMIT_EXCEEDED" and large.details["limit"] == "max_read_bytes"
    assert ledger.invoke("C", "write", [60000]).return_value.to_python() == 0
    written = failure(ledger, "write", [70000], gas_limit=5_000_000)
    assert written.code == "CONTRACT_LIMIT_EXCEEDED" and written.details["limit"] == "max_value_bytes"
