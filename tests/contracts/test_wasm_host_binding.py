"""The cheaper host path of the WebAssembly engine gives the same outcomes it replaced.

* ``ctx.get_many`` reads several keys in one host call, priced per key exactly as that many
  ``get`` calls' reads, with its sizes checked before the reply is built; the legacy sandbox and
  the local ``Context`` answer the same values;
* the invocation request crosses in one ``next`` call when it fits, in marked pieces otherwise,
  whole at every length around the piece boundary (multi-byte characters included);
* ``_parse`` skips ``check_plain`` only where the payload's size proves it would pass;
* raw guest-memory access refuses every range outside the memory;
* a traceability capture makes the host calls the docs say it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

import contracts.vm as vm
from contracts import SandboxRuntime
from contracts.host_functions import GuestMemory, store_context
from contracts.limits import DEFAULT_GAS, DEFAULT_LIMITS, SandboxLimits
from contracts.values import check_plain
from ledger.errors import ContractFault, ContractLimitExceeded, JadechainError
from ledger.values import TypedValue

from tests.contracts.wasm_kit import capture_item, deploy, shared_runtime, traceability_brand, wasm_chain
from tests.support.fake_context import FakeLedger

MANY = '''
from jadechain import contract, callable

@contract
class Many:
    @callable
    def put(self, key: str, value: str) -> int:
        return self.ctx.set(self.ctx.address, key, value, self.ctx.get_version(self.ctx.address, key))

    @callable
    def many(self, keys: list) -> list:
        return self.ctx.get_many(self.ctx.address, keys)

    @callable
    def one_by_one(self, keys: list) -> list:
        return [self.ctx.get(self.ctx.address, k) for k in keys]

    @callable
    def bad(self, keys: str) -> list:
        return self.ctx.get_many(self.ctx.address, keys)
'''


@pytest.mark.parametrize("runtime", ["wasm", "legacy"])
def test_get_many_answers_what_get_answers_key_by_key(runtime: str) -> None:
    ledger = FakeLedger(shared_runtime() if runtime == "wasm" else SandboxRuntime())
    ledger.deploy("C", MANY)
    ledger.invoke("C", "put", ["a", "alpha"])
    ledger.invoke("C", "put", ["b", "é€" * 50])
    keys = ["a", "missing", "b", "a"]
    many = ledger.invoke("C", "many", [keys]).return_value.to_python()
    assert many == ledger.invoke("C", "one_by_one", [keys]).return_value.to_python()
    assert many == ["alpha", None, "é€" * 50, "alpha"]


@dataclass
class _RecordingRun:
    """Stands in for ``vm._Run`` in ``_get_many``: records every charge."""

    runtime: object
    charges: list[int] = field(default_factory=list)

    def charge(self, gas: int) -> None:
        self.charges.append(gas)


class _Entries:
    def __init__(self, values: dict[str, TypedValue]) -> None:
        self.values = values

    def get_entry(self, account: str, key: str, committed: bool = False) -> object:
        value = self.values.get(key)
        return None if value is None else type("E", (), {"value": value, "version": 0})()


def test_get_many_charges_each_key_as_a_get_would() -> None:
    run = _RecordingRun(runtime=type("R", (), {"gas": DEFAULT_GAS, "limits": DEFAULT_LIMITS})())
    values = {"a": TypedValue.text("x" * 10), "b": TypedValue.json_({"k": [1, 2]})}
    reply = vm._get_many(run, _Entries(values), ["acct", ["a", "none", "b"], False])  # type: ignore[arg-type]
    base, byte = DEFAULT_GAS.storage_read_base, DEFAULT_GAS.storage_read_byte
    assert run.charges == [base, byte * len(values["a"].data), base, base, byte * len(values["b"].data)]
    assert json.loads(reply) == [["j", "x" * 10], None, ["j", {"k": [1, 2]}]]


def test_get_many_refuses_before_building_a_reply_over_one_read() -> None:
    run = _RecordingRun(runtime=type("R", (), {"gas": DEFAULT_GAS, "limits": DEFAULT_LIMITS})())
    half = TypedValue.text("y" * (vm.READ_LIMIT // 2 + 1))
    with pytest.raises(ContractLimitExceeded) as caught:
        vm._get_many(run, _Entries({"a": half, "b": half}), ["acct", ["a", "b"], False])  # type: ignore[arg-type]
    assert caught.value.details["limit"] == "max_read_bytes"
    with pytest.raises(ContractFault):
        vm._get_many(run, _Entries({}), ["acct", ["k"] * (vm.MAX_MANY_KEYS + 1), False])  # type: ignore[arg-type]
    with pytest.raises(ContractFault):
        vm._get_many(run, _Entries({}), ["acct", [], False])  # type: ignore[arg-type]


def test_a_bad_get_many_is_a_failed_transaction_with_its_gas_recorded() -> None:
    chain = wasm_chain()
    address, status = deploy(chain, "get-many-bad", MANY)
    assert status == "SUCCESS"
    result = chain.commit(chain.tx(lambda b: b.invoke(address, "bad", "not a list", gas_limit=100_000)
                                   .invoke(address, "many", [str(i) for i in range(vm.MAX_MANY_KEYS + 1)],
                                           gas_limit=100_000)))
    info = result.tx_infos[0]
    assert info.status == "CONTRACT_FAULT" and info.gas_used > 0, info


SIZE = '''
from jadechain import contract, callable

@contract
class Size:
    @callable
    def size(self, text: str) -> int:
        return len(text)
'''


def _spy_on_requests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes of the request still to send at each ``next`` call, recorded as they are served."""
    lengths: list[int] = []
    original = vm._dispatch

    def spy(run: vm._Run, name: str, payload: bytes) -> bytes:
        if name == "next":
            lengths.append(len(run.request))
        return original(run, name, payload)

    monkeypatch.setattr(vm, "_dispatch", spy)
    return lengths


def test_requests_at_every_length_around_the_piece_boundary_arrive_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths = _spy_on_requests(monkeypatch)
    ledger = FakeLedger(shared_runtime())
    ledger.deploy("C", SIZE)
    ledger.invoke("C", "size", ["probe"])
    assert len(lengths) == 1
    overhead = lengths[0] - len(b"probe")
    piece = vm.HOST_RESULT_BYTES
    # one-byte and three-byte characters across the cut, and "}" (a first piece may not end with one)
    for filler in ("a", "€", "}"):
        width = len(filler.encode())
        for target in range(piece - 4, piece + 5):
            count = (target - overhead) // width
            text = "b" * ((target - overhead) - count * width) + filler * count
            lengths.clear()
            result = ledger.invoke("C", "size", [text], gas_limit=2_000_000)
            assert result.return_value.to_python() == len(text)
            assert (len(lengths) == 1) == (lengths[0] <= piece), (filler, target, lengths)
            if len(lengths) > 1:
                assert len(lengths) == 3 and lengths[-1] == 0  # two pieces, then the empty reply


def test_a_request_that_fits_crosses_in_one_host_call() -> None:
    runtime = shared_runtime()
    ledger = FakeLedger(runtime)
    ledger.deploy("C", SIZE)
    ledger.invoke("C", "size", ["warm"])
    before = runtime.host_calls
    ledger.invoke("C", "size", ["x" * 1000])
    assert runtime.host_calls - before == 2  # next, return


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner, max_size=6),
    max_leaves=40,
)
TIGHT = st.builds(SandboxLimits, max_items=st.integers(1, 60), max_bytes=st.integers(1, 60),
                  max_int_bits=st.integers(1, 200), max_value_depth=st.integers(0, 6))


@given(JSON_VALUES, TIGHT)
@settings(max_examples=400)
def test_the_size_shortcut_only_skips_checks_that_would_pass(value: object, limits: SandboxLimits) -> None:
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    openers = payload.count(b"[") + payload.count(b"{")
    try:
        check_plain(json.loads(payload), limits, allow_bytes=False)
        expected: str | None = None
    except JadechainError as exc:
        expected = exc.code
    if vm._within_limits_by_size(payload, openers, limits):
        assert expected is None
    try:
        vm._parse(payload, limits)
        got: str | None = None
    except JadechainError as exc:
        got = exc.code
    if openers <= vm.MAX_JSON_DEPTH:  # deeper, _parse refuses before parsing (its own bound)
        assert got == expected


def test_guest_memory_refuses_every_range_outside_the_memory() -> None:
    engine = vm._engine(None)
    store = wasmtime.Store(engine.engine)
    store.set_fuel(1 << 40)
    store.set_epoch_deadline(1 << 30)
    memory = engine.linker.instantiate(store, engine.module).exports(store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    size = memory.data_len(store)
    guest = GuestMemory(store_context(store), memory)
    assert guest.size == size
    guest.write(b"abc", size - 3)
    assert guest.read(size - 3, 3) == b"abc" == bytes(memory.read(store, size - 3, size))
    assert guest.read(0, 0) == b""
    for address, length in ((size - 2, 3), (-1, 1), (0, -1), (size, 1), (2**31, 4)):
        with pytest.raises(IndexError):
            guest.read(address, length)
    for address in (size - 2, -1, size):
        with pytest.raises(IndexError):
            guest.write(b"abc", address)


def test_a_traceability_capture_makes_six_host_calls() -> None:
    """next, get_many (the company-prefix walk), version, set, emit (the event), return: see docs/contracts.md."""
    from baas.apps.traceability.contract import capture_gas

    chain, runtime = wasm_chain(1), shared_runtime()
    contract, item = traceability_brand(chain, "host-calls"), capture_item(1)
    before = runtime.host_calls
    result = chain.commit(chain.tx(lambda b: b.invoke(contract, "capture", [item], gas_limit=capture_gas([item]))))
    assert [i.status for i in result.tx_infos] == ["SUCCESS"], result.tx_infos
    assert runtime.host_calls - before == 6
