"""The escape corpus: every hostile contract is rejected at deploy or stopped at run time.

Each ``hostile_*.py`` file starts with ``# expect: reject <rule>`` or
``# expect: runtime <ErrorClass> [<limit>]`` and a line saying which known
sandbox escape it tries. The test deploys it on the in-memory ledger, invokes
``attack()``, checks the outcome is exactly the expected one, and then checks
the host: a sentinel global and a sentinel file are untouched, the builtins
module is intact, the ledger holds no writes, and a benign contract still runs.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
from tests.support.fake_context import FakeLedger  # noqa: E402

import ledger.errors as errors  # noqa: E402
from contracts import SandboxRuntime  # noqa: E402

CORPUS = sorted(HERE.glob("hostile_*.py"))
GAS_LIMIT = 3_000_000
SENTINEL = {"untouched": True}
BUILTINS_BEFORE = {name: getattr(builtins, name) for name in ("len", "open", "eval", "exec", "getattr", "type", "print")}

BENIGN = (
    "from jadechain import contract, callable\n@contract\nclass Ok:\n"
    "    @callable\n    def ping(self) -> str:\n        return 'pong'\n"
)

RUNTIME = SandboxRuntime()


def expectation(path: Path) -> tuple[str, str, str | None]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith("# expect: "), f"{path.name} lacks an expectation header"
    parts = first[len("# expect: "):].split()
    return parts[0], parts[1], parts[2] if len(parts) > 2 else None


def test_corpus_is_large_enough() -> None:
    kinds = [expectation(path)[0] for path in CORPUS]
    assert len(CORPUS) >= 50
    assert kinds.count("reject") >= 20 and kinds.count("runtime") >= 20


@pytest.fixture(scope="module")
def sentinel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("host") / "sentinel.txt"
    path.write_text("host data")
    return path


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem.removeprefix("hostile_") for p in CORPUS])
def test_hostile_contract_is_contained(path: Path, sentinel_file: Path) -> None:
    kind, outcome, limit = expectation(path)
    source = path.read_text(encoding="utf-8")
    ledger = FakeLedger(RUNTIME)
    if kind == "reject":
        with pytest.raises(errors.ContractRejected) as rejected:
            ledger.deploy("H", source)
        assert rejected.value.details["rule"] == outcome, rejected.value.message
        assert rejected.value.code == "CONTRACT_REJECTED"
    else:
        assert kind == "runtime"
        ledger.deploy("H", source)
        expected = getattr(errors, outcome)
        with pytest.raises(errors.ContractError) as stopped:
            ledger.invoke("H", "attack", [], gas_limit=GAS_LIMIT)
        assert type(stopped.value) is expected, f"{type(stopped.value).__name__}: {stopped.value.message}"
        assert 0 < int(stopped.value.details["gas_used"]) <= GAS_LIMIT  # type: ignore[call-overload]
        if limit is not None:
            assert stopped.value.details["limit"] == limit
        assert ledger.entries == {} and all(not stream for stream in ledger.events.values())
    assert SENTINEL == {"untouched": True}
    assert sentinel_file.read_text() == "host data"
    assert {name: getattr(builtins, name) for name in BUILTINS_BEFORE} == BUILTINS_BEFORE
    ledger.deploy("OK", BENIGN)
    assert ledger.invoke("OK", "ping", []).return_value.to_python() == "pong"
