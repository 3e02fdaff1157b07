"""The authoring API outside the VM and ``jadechain contract test``: same names, same file, clear failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jadechain
from contracts.guest import PRELUDE
from contracts.testkit import LocalContracts
from jadechain.cli.contract import contract_app
from jadechain.contract import LocalContract
from ledger.errors import ContractFault, ContractReverted, VersionConflict

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "contracts" / "counter.py"
runner = CliRunner()

LEDGER = '''
from jadechain import Context, callable, contract, event

EVENTS = ["moved"]


@contract
class Ledger:
    ctx: Context

    @event
    def moved(self, to: str, amount: int) -> None: ...

    @callable
    def credit(self, to: str, amount: int) -> int:
        me = self.ctx.address
        balance: int = (self.ctx.get(me, to) or 0) + amount
        self.ctx.set(me, to, balance, self.ctx.get_version(me, to))
        self.moved(to=to, amount=amount)
        if balance > 100:
            self.ctx.revert("over the limit")
        return balance
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_package_gives_every_name_the_guest_module_gives() -> None:
    guest_names = {"contract", "callable", "event", "reentrant", "Context"}
    for name in guest_names:
        assert f"_jcm.{name}=" in PRELUDE  # inside the VM
        assert name in jadechain.__all__ and hasattr(jadechain, name)  # outside it


def test_a_contract_file_type_checks_with_mypy_strict() -> None:
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(EXAMPLE)], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = subprocess.run([sys.executable, "-m", "mypy", "--strict", "-c",
                             EXAMPLE.read_text().replace('self.ctx.get_version(me, "total")', 'self.ctx.get_version(me)')],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 1 and "get_version" in broken.stdout  # the Context protocol is really checked


def test_local_contract_runs_in_cpython_with_the_ledger_rules(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec(compile(LEDGER, "ledger_contract.py", "exec"), namespace)
    local = LocalContract(namespace["Ledger"])  # type: ignore[arg-type]
    assert local.invoke("credit", "alice", 60) == 60
    with pytest.raises(ContractReverted):
        local.invoke("credit", "alice", 50)  # rolled back: the write and the event
    assert local.context.get("contract", "alice") == 60 and local.context.get_version("contract", "alice") == 0
    assert local.kit.event_log("contract", "moved") == [{"to": "alice", "amount": 60}]
    with pytest.raises(VersionConflict):
        local.context.set("contract", "alice", 1, 5)
    assert local.context.get_entry("contract", "alice") == {"value": 60, "version": 0}


def test_the_same_source_gives_the_same_answers_on_the_vm() -> None:
    kit = LocalContracts()
    kit.deploy("contract", LEDGER)
    assert kit.invoke("contract", "credit", ["alice", 60]).value == 60
    with pytest.raises(ContractReverted):
        kit.invoke("contract", "credit", ["alice", 50])
    assert kit.value("contract", "alice") == 60 and kit.event_log("contract", "moved") == [{"to": "alice", "amount": 60}]


def test_contract_test_passes_and_reports_gas(tmp_path: Path) -> None:
    result = runner.invoke(contract_app, ["test", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.output and "gas)" in result.output


def test_a_failing_test_exits_1_with_the_failing_line_and_the_chain_code(tmp_path: Path) -> None:
    contract = write(tmp_path, "ledger.py", LEDGER)
    write(tmp_path, "test_ledger.py", '''
def test_ok(contract):
    assert contract.credit("bob", 5) == 5

def test_wrong(contract):
    assert contract.credit("bob", 5) == 6

def test_reverts(contract):
    contract.credit("bob", 500)

def test_unknown_fixture(database):
    pass

def test_fails_but_succeeded(contract):
    contract.fails("credit", "bob", 1)
''')
    result = runner.invoke(contract_app, ["test", str(contract)])
    assert result.exit_code == 1
    assert "PASS test_ledger.py::test_ok" in result.output
    assert "FAIL test_ledger.py::test_wrong" in result.output and 'assert contract.credit("bob", 5) == 6' in result.output
    assert "FAIL test_ledger.py::test_reverts" in result.output and "CONTRACT_REVERTED: over the limit" in result.output
    assert "asks for 'database'" in result.output
    assert "FAIL test_ledger.py::test_fails_but_succeeded" in result.output
    assert "credit('bob', 1) returned 1 instead of failing" in result.output
    assert "testkit.py" not in result.output and "contract.py" not in result.output  # the test's lines only
    assert "1 passed, 4 failed" in result.output
    only = runner.invoke(contract_app, ["test", str(contract), "--test", "test_ok"])
    assert only.exit_code == 0 and "1 passed, 0 failed" in only.output
    named = runner.invoke(contract_app, ["test", str(contract), str(tmp_path / "test_ledger.py"), "test_ok", "test_wrong"])
    assert named.exit_code == 1 and "1 passed, 1 failed" in named.output


def test_no_tests_a_rejected_contract_and_a_broken_test_file_are_errors(tmp_path: Path) -> None:
    contract = write(tmp_path, "ledger.py", LEDGER)
    missing = runner.invoke(contract_app, ["test", str(contract)])
    assert missing.exit_code == 1 and "CONTRACT_TEST_ERROR" in missing.output and "test_ledger.py" in missing.output
    empty = write(tmp_path, "test_ledger.py", "x = 1\n")
    none = runner.invoke(contract_app, ["test", str(contract), str(empty)])
    assert none.exit_code == 1 and "no test_* function" in none.output
    broken = write(tmp_path, "test_broken.py", "import no_such_module\n")
    bad = runner.invoke(contract_app, ["test", str(contract), str(broken)])
    assert bad.exit_code == 1 and "does not import: ModuleNotFoundError" in bad.output
    rejected = write(tmp_path, "rejected.py", LEDGER.replace("@contract\n", ""))
    write(tmp_path, "test_rejected.py", "def test_any(contract):\n    pass\n")
    refused = runner.invoke(contract_app, ["test", str(rejected)])
    assert refused.exit_code == 1 and "CONTRACT_REJECTED" in refused.output


def test_what_the_vm_refuses_by_keyword_mypy_refuses_too() -> None:
    keyword = LEDGER.replace("self.ctx.set(me, to, balance, self.ctx.get_version(me, to))",
                             "self.ctx.set(me, to, balance, expected_version=self.ctx.get_version(me, to))")
    assert keyword != LEDGER
    kit = LocalContracts()
    kit.deploy("contract", keyword)
    with pytest.raises(ContractFault) as refused:
        kit.invoke("contract", "credit", ["alice", 1])
    assert refused.value.details["error"] == "TypeError"
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "-c", keyword], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 1 and "expected_version" in checked.stdout, checked.stdout


def test_the_context_protocol_has_every_method_and_attribute_of_the_guest_ctx() -> None:
    import re

    from jadechain.contract import Context, LocalContext

    guest_class = PRELUDE.split("class _JcCtx:")[1].split("\ndef ")[0]
    properties = set(re.findall(r"^ @property\n def (\w+)\(s", guest_class, flags=re.M))  # fetched when read
    methods = set(re.findall(r"^ def (\w+)\(s", guest_class, flags=re.M)) - {"__init__"} - properties
    attributes = set(re.findall(r"s\.(\w+)=", guest_class)) | properties
    declared = {name for name in dir(Context) if not name.startswith("_")} | set(Context.__annotations__)
    assert methods <= declared and attributes <= declared, (methods | attributes) - declared
    assert methods <= {name for name in dir(LocalContext) if not name.startswith("_")}
