"""The engine end to end on the in-memory context: values, arguments, storage, events, calls, limits."""

from __future__ import annotations

import pytest
from contract_sources import CALLER, KV
from tests.support.fake_context import FakeLedger

from contracts import SandboxRuntime
from contracts.limits import SandboxLimits
from ledger.errors import (
    ContractFault,
    ContractLimitExceeded,
    ContractNotFound,
    ContractReverted,
    OutOfGas,
    VersionConflict,
)
from ledger.values import TypedValue, ValueType

GAS = 5_000_000


def contract_with(body: str, params: str = "", extra: str = "") -> str:
    lines = "".join("        " + line + "\n" for line in body.split("\n"))
    return (
        "from jadechain import contract, callable, event\n" + extra + "\n@contract\nclass T:\n"
        f"    @callable\n    def run(self{params}):\n" + lines
    )


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger(SandboxRuntime())


def run(ledger: FakeLedger, body: str, args: list[object] | None = None, params: str = "", extra: str = "", gas: int = GAS) -> object:
    ledger.deploy("T", contract_with(body, params, extra))
    return ledger.invoke("T", "run", args or [], gas_limit=gas).return_value.to_python()


def test_kv_round_trip_with_versions_and_history(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    assert ledger.invoke("KV", "put", ["acct", "k", "v1"]).return_value == TypedValue.int64(0)
    assert ledger.invoke("KV", "put", ["acct", "k", "v2"]).return_value == TypedValue.int64(1)
    assert ledger.invoke("KV", "fetch", ["acct", "k"]).return_value == TypedValue.text("v2")
    assert ledger.invoke("KV", "history", ["acct", "k"]).return_value.to_python() == ["v1", "v2"]
    assert ledger.version("acct", "k") == 1


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'text'", TypedValue.text("text")),
        ("-42", TypedValue.int64(-42)),
        ("True", TypedValue.boolean(True)),
        ("b'\\x00\\x01'", TypedValue.bytes_(b"\x00\x01")),
        ("None", TypedValue.nil()),
        ("{'b': [1, 2], 'a': None}", TypedValue(ValueType.JSON, b'{"a":null,"b":[1,2]}')),
        ("(1, 'x')", TypedValue(ValueType.JSON, b'[1,"x"]')),
    ],
)
def test_return_values_become_typed_values(ledger: FakeLedger, expression: str, expected: TypedValue) -> None:
    ledger.deploy("T", contract_with(f"return {expression}"))
    assert ledger.invoke("T", "run", []).return_value == expected


def test_return_value_out_of_int64_is_a_fault(ledger: FakeLedger) -> None:
    with pytest.raises(ContractFault, match="int64"):
        run(ledger, "return 2 ** 70")


def test_arguments_are_checked_and_copied(ledger: FakeLedger) -> None:
    source = contract_with("items.append(n)\nreturn len(items)", params=", n: int, items: list")
    ledger.deploy("T", source)
    mine = [1, 2]
    assert ledger.invoke("T", "run", [3, mine]).return_value == TypedValue.int64(3)
    assert mine == [1, 2]
    with pytest.raises(ContractFault, match="takes 2 arguments"):
        ledger.invoke("T", "run", [3])
    with pytest.raises(ContractFault, match="must be int, got bool") as caught:
        ledger.invoke("T", "run", [True, []])
    assert caught.value.details["parameter"] == "n"
    with pytest.raises(ContractFault, match="must be list, got str"):
        ledger.invoke("T", "run", [1, "x"])
    with pytest.raises(ContractFault, match="not a plain value"):
        ledger.invoke("T", "run", [1, [1.5]])
    with pytest.raises(ContractFault, match="no callable method"):
        ledger.invoke("T", "helper", [])


def test_context_properties(ledger: FakeLedger) -> None:
    body = "c = self.ctx\nreturn [c.caller, c.signers, c.tx_hash.hex(), c.block_height, c.block_time, c.address, c.call_depth]"
    assert run(ledger, body) == ["user-1", ["user-1"], "22" * 32, 7, 1_700_000_000_000, "T", 0]


def test_committed_and_uncommitted_views(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    ledger.invoke("KV", "put", ["acct", "k", "old"])
    ledger.commit()
    ledger.invoke("KV", "put", ["acct", "k", "new"])
    assert ledger.invoke("KV", "fetch", ["acct", "k"]).return_value.to_python() == "new"
    assert ledger.invoke("KV", "fetch_committed", ["acct", "k"]).return_value.to_python() == "old"


def test_events_with_sequence_numbers_and_declared_topics(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    ledger.invoke("KV", "put", ["acct", "a", "1"])
    ledger.invoke("KV", "put", ["acct", "a", "2"])
    stream = ledger.events[("KV", "stored")]
    assert [e.to_python() for e in stream] == [{"key": "a", "version": 0}, {"key": "a", "version": 1}]
    extra = "EVENTS = ['shipped']\n"
    assert run(ledger, "self.ctx.emit('shipped', {'lot': 'L1'})\nreturn self.ctx.emit('shipped', 'x')", extra=extra) == 1
    with pytest.raises(ContractFault, match="not declared"):
        run(ledger, "return self.ctx.emit('other', 1)", extra=extra)


def test_version_conflict_surfaces_and_discards_writes(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    ledger.invoke("KV", "put", ["acct", "k", "v1"])
    with pytest.raises(VersionConflict) as caught:
        ledger.invoke("KV", "put_at", ["acct", "k", "v2", -1])
    assert caught.value.details["gas_used"] > 0
    assert ledger.value("acct", "k") == "v1"


def test_revert_discards_the_invocations_writes(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    with pytest.raises(ContractReverted, match="changed my mind") as caught:
        ledger.invoke("KV", "put_then_revert", ["acct", "k"])
    assert caught.value.details["gas_used"] > 0
    assert ledger.entries == {}


def test_cross_contract_call_rollback_and_caller_continues(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    ledger.deploy("C", CALLER)
    assert ledger.invoke("C", "forward", ["KV", "acct", "k", "v"]).return_value == TypedValue.int64(0)
    assert ledger.value("acct", "k") == "v"
    result = ledger.invoke("C", "attempt", ["KV", "acct"]).return_value.to_python()
    assert isinstance(result, dict)
    assert result["first"]["ok"] is False and result["first"]["error"] == "CONTRACT_REVERTED"
    assert result["second"]["ok"] is False and result["second"]["error"] == "OUT_OF_GAS"
    assert result["after"] == "kept"
    assert ledger.value("acct", "caller-key") == "kept"
    assert ledger.value("acct", "callee-key") is None
    assert ledger.value("acct", "before") is None
    assert ("KV", "stored") not in ledger.events or len(ledger.events[("KV", "stored")]) == 1


def test_failing_call_aborts_the_caller_and_its_writes(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    ledger.deploy("C", CALLER)
    with pytest.raises(ContractReverted):
        ledger.invoke("C", "must", ["KV", "acct"])
    assert ledger.entries == {}


def test_call_to_missing_contract(ledger: FakeLedger) -> None:
    ledger.deploy("C", CALLER)
    with pytest.raises(ContractNotFound):
        ledger.invoke("C", "forward", ["nowhere", "acct", "k", "v"])


def test_call_depth_is_bounded(ledger: FakeLedger) -> None:
    ledger.deploy("C", CALLER)
    with pytest.raises(ContractLimitExceeded) as caught:
        ledger.invoke("C", "recurse", ["C", 0], gas_limit=50_000_000)
    assert caught.value.details["limit"] == "max_call_depth"
    deepest = ledger.invoke("C", "recurse_soft", ["C", 0], gas_limit=50_000_000).return_value.to_python()
    assert deepest == SandboxLimits().max_call_depth


def test_python_recursion_is_bounded_by_the_frame_budget(ledger: FakeLedger) -> None:
    source = (
        "from jadechain import contract, callable\n@contract\nclass T:\n"
        "    @callable\n    def run(self, n: int) -> int:\n        return self.down(n)\n"
        "    def down(self, n):\n        if n == 0:\n            return 0\n        return self.down(n - 1) + 1\n"
    )
    ledger.deploy("T", source)
    assert ledger.invoke("T", "run", [50]).return_value == TypedValue.int64(50)
    with pytest.raises(ContractLimitExceeded) as caught:
        ledger.invoke("T", "run", [100_000])
    assert caught.value.details["limit"] == "max_frames"


def test_frame_budget_is_shared_across_nested_calls(ledger: FakeLedger) -> None:
    source = (
        "from jadechain import contract, callable\n@contract\nclass T:\n"
        "    @callable\n    def run(self, n: int, depth: int) -> int:\n        return self.down(n, depth)\n"
        "    def down(self, n, depth):\n        if n > 0:\n            return self.down(n - 1, depth)\n"
        "        if depth == 0:\n            return self.ctx.call(self.ctx.address, 'run', [self.n_again(), 1])\n"
        "        return depth\n"
        "    def n_again(self):\n        return 55\n"
    )
    ledger.deploy("T", source)
    with pytest.raises(ContractLimitExceeded) as caught:
        ledger.invoke("T", "run", [55, 0])
    assert caught.value.details["limit"] == "max_frames"
    assert ledger.invoke("T", "run", [30, 0]).return_value == TypedValue.int64(1)


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        ("x = 'ab' * 600000", "max_bytes"),
        ("x = b'a'.ljust(2000000)", "max_bytes"),
        ("x = '-'.join(['abcdef'] * 90000)\nx = x + x", "max_bytes"),
        ("x = [0] * 100001", "max_items"),
        ("x = [i for i in range(100001)]", "max_items"),
        ("x = {}\nfor i in range(100001):\n    x[i] = 1", "max_items"),
        ("x = []\nfor i in range(100001):\n    x.append(i)", "max_items"),
        ("x = 7 ** 5000", "max_int_bits"),
        ("x = 1 << 5000", "max_int_bits"),
        ("x = (2 ** 4000) * (2 ** 4000)", "max_int_bits"),
        ("x = 'y' * 1000000\nk = []\nfor i in range(100):\n    k.append(x[1:])", "max_memory"),
        ("return 'z' * 70000", "max_return_bytes"),
        ("self.ctx.emit('e', 'z' * 70000)", "max_event_bytes"),
        ("self.ctx.set('a', 'k' * 2000, 1, -1)", "max_key_bytes"),
        ("x = []\nfor i in range(40):\n    x = [x]\nreturn x", "max_value_depth"),
    ],
)
def test_every_limit_stops_the_contract(ledger: FakeLedger, body: str, limit: str) -> None:
    with pytest.raises(ContractLimitExceeded) as caught:
        run(ledger, body, gas=50_000_000)
    assert caught.value.details["limit"] == limit
    assert caught.value.details["gas_used"] > 0


def test_stored_value_size_limit() -> None:
    ledger = FakeLedger(SandboxRuntime(limits=SandboxLimits(max_value_bytes=100)))
    with pytest.raises(ContractLimitExceeded) as caught:
        run(ledger, "self.ctx.set('a', 'k', 'v' * 101, -1)")
    assert caught.value.details["limit"] == "max_value_bytes"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("return 1 // 0", "division by zero"),
        ("return {}['missing']", "KeyError"),
        ("return [][3]", "IndexError"),
        ("return 'a' + 1", "TypeError"),
        ("assert 1 == 2, 'broken'", "AssertionError: broken"),
        ("return undefined_name", "NameError"),
        ("return '%s' % 1", "%-formatting"),
        ("return 2 ** -1", "float"),
        ("return str([1])", "cannot format"),
        ("return 'x'.encode('rot13')", "errors='strict'"),
        ("return {}[self.ctx]", "^KeyError: <contracts.handle.ContractHandle object>$"),
    ],
)
def test_python_errors_become_contract_faults(ledger: FakeLedger, body: str, error: str) -> None:
    with pytest.raises(ContractFault, match=error):
        run(ledger, body)


def test_builtins_and_methods_work(ledger: FakeLedger) -> None:
    body = (
        "words = 'b a c'.split()\n"
        "ranked = sorted(words, reverse=True)\n"
        "pairs = dict(zip(words, range(3)))\n"
        "total = sum([v for v in pairs.values()]) + max(4, 9) + min([7, 3]) + abs(-2)\n"
        "flags = [any([False, True]), all([]), isinstance(total, int), isinstance('x', (bytes, list))]\n"
        "pieces = [f'{w}:{i}' for i, w in enumerate(reversed(words))]\n"
        "raw = bytes([104, 105]).decode() + str(12) + chr(ord('a') + 1)\n"
        "d = {}\nd.setdefault('k', []).append(1)\nd.update({'j': 2})\nd['k'] += [2]\n"
        "n = int('ff', 16) + (255).bit_length() + len((1).to_bytes(4, 'big'))\n"
        "return [ranked, pairs, total, flags, pieces, raw, d, n, 'abc'[::-1], [1, 2, 3][1:]]"
    )
    assert run(ledger, body) == [
        ["c", "b", "a"], {"b": 0, "a": 1, "c": 2}, 3 + 9 + 3 + 2, [True, True, True, False],
        ["c:0", "a:1", "b:2"], "hi12b", {"k": [1, 2], "j": 2}, 255 + 8 + 4, "cba", [2, 3],
    ]


def test_module_level_state_does_not_survive_between_invocations(ledger: FakeLedger) -> None:
    extra = "SEEN = []\n"
    ledger.deploy("T", contract_with("SEEN.append(1)\nreturn len(SEEN)", extra=extra))
    assert [ledger.invoke("T", "run", []).return_value.to_python() for _ in range(3)] == [1, 1, 1]


def test_compile_cache_avoids_reparsing(ledger: FakeLedger) -> None:
    runtime = ledger.runtime
    assert isinstance(runtime, SandboxRuntime)
    ledger.deploy("KV", KV)
    for i in range(5):
        ledger.invoke("KV", "put", ["acct", f"k{i}", "v"])
    assert runtime.compile_count == 1
    ledger.deploy("C", CALLER)
    ledger.invoke("C", "forward", ["KV", "acct", "z", "v"])
    assert runtime.compile_count == 2


def test_out_of_gas_discards_writes_and_events(ledger: FakeLedger) -> None:
    ledger.deploy("KV", KV)
    with pytest.raises(OutOfGas) as caught:
        ledger.invoke("KV", "spin", ["acct", 10**9], gas_limit=20_000)
    assert caught.value.details["gas_used"] == 20_000
    assert ledger.entries == {}
    assert ledger.events.get(("KV", "stored"), []) == []


def test_compiler_warnings_do_not_depend_on_host_filters(ledger: FakeLedger) -> None:
    # pytest turns warnings into errors here; a node may not: the outcome must be the same
    assert run(ledger, "x = 1\nreturn x is 1 and len('\\d') == 2") is True


def test_item_deletion_insertion_and_comparisons(ledger: FakeLedger) -> None:
    body = (
        "l = [1, 2, 3, 4]\ndel l[0]\nl.insert(0, 9)\nl.pop(1)\nl.pop()\ndel l[-1:]\n"
        "d = {'a': 1, 'b': 2}\ndel d['a']\nrows = [{'k': 1}, {'k': 2}]\n"
        "return [l, d, {'k': 2} in rows, 'b' in d, 1 < 2 <= 2, [1, 2] == [1, 2], rows.index({'k': 2}), d.get('zz', 5)]"
    )
    assert run(ledger, body) == [[9], {"b": 2}, True, True, True, True, 1, 5]


@pytest.mark.parametrize("body", ["d = {(1, 2): 3}", "d = {}\nd[[1][0], ] = 1", "d = {k: 1 for k in [(1, 2)]}", "return {}.get((1,))"])
def test_dict_keys_must_be_scalars(ledger: FakeLedger, body: str) -> None:
    with pytest.raises(ContractFault, match="dict keys must be"):
        run(ledger, body)
