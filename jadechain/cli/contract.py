"""``jadechain contract ...``: test a contract on the chain's engine, call one read-only.

``jadechain contract test FILE [TESTS...]`` deploys FILE into a fresh in-memory kit
(:class:`contracts.testkit.LocalContracts`, the node's own WebAssembly engine) for every test
function ``test_*`` of the test files (``*.py`` among TESTS; default: ``test_<name>.py`` beside
FILE) and runs it; other TESTS (and ``-t NAME``) name the test functions to run.
A test asks for what it needs by parameter name:

* ``contract``: a :class:`contracts.testkit.DeployedContract` (``contract.add(2)`` invokes
  ``add``; ``contract.invoke("add", 2)`` also gives the gas; ``contract.value(key)``,
  ``contract.events(topic)``);
* ``kit``: the :class:`~contracts.testkit.LocalContracts` it is deployed in (deploy more);
* ``source``: the contract's source text.

It prints one line per test and a summary, and exits 1 if a test failed or none was found.

``jadechain contract call ADDRESS METHOD [ARGS...] --key K`` runs a method against the
ledger's committed state without a transaction (nothing is written) and prints its value.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Optional

import typer

from jadechain.cli.tx import (
    DEFAULT_KEY_DIR,
    PASSWORD_ENV,
    Connection,
    KeyRing,
    TransactionFailed,
    _command,
    _connection_parameters,
    _jsonable,
    _option,
    _print_json,
    _split_urls,
    console,
    parse_argument,
)
from ledger.errors import JadechainError

contract_app = typer.Typer(help="Test contracts locally on the chain's engine; call them read-only.",
                           no_args_is_help=True)

FIXTURES = ("contract", "kit", "source")
CONTRACT_ADDRESS = "contract"
"""The address the contract under test is deployed at in its kit."""


@contract_app.callback()
def _group() -> None:
    """Test contracts locally on the chain's engine; call them read-only."""


class ContractTestError(JadechainError):
    """The tests could not be run at all (no file, no test, a test file that does not import)."""

    code = "CONTRACT_TEST_ERROR"
    http_status = 400


@dataclass
class Outcome:
    name: str
    passed: bool
    invocations: int
    gas_used: int
    failure: str = ""


def default_test_files(contract_file: Path) -> list[Path]:
    """``test_<stem>.py`` beside the contract (the convention documented in docs/contracts.md)."""
    candidate = contract_file.with_name(f"test_{contract_file.stem}.py")
    if not candidate.exists():
        raise ContractTestError(f"no test file given and no {candidate} beside the contract")
    return [candidate]


def load_test_module(path: Path) -> ModuleType:
    """Import a test file by path (its directory on ``sys.path`` so it may import the contract module)."""
    if not path.is_file():
        raise ContractTestError(f"no test file {path}")
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(f"_jadechain_test_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise ContractTestError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's file: report it, never a traceback of ours
        raise ContractTestError(f"{path} does not import: {type(error).__name__}: {error}") from None
    return module


def collect(module: ModuleType, selected: list[str]) -> list[tuple[str, Callable[..., Any]]]:
    tests: list[tuple[str, Callable[..., Any]]] = [
        (name, value) for name, value in vars(module).items()
        if name.startswith("test_") and inspect.isfunction(value) and value.__module__ == module.__name__
    ]
    if selected:
        tests = [(name, value) for name, value in tests if name in selected]
    return tests


def run_test(name: str, function: Callable[..., Any], source: str, runtime: Any) -> Outcome:
    """Run one test against a fresh kit with the contract deployed (a rejected contract fails it)."""
    from contracts.testkit import DeployedContract, LocalContracts

    kit = LocalContracts(runtime=runtime)
    deployed = DeployedContract(kit, CONTRACT_ADDRESS)
    fixtures = {"contract": deployed, "kit": kit, "source": source}
    try:
        kit.deploy(CONTRACT_ADDRESS, source)
        arguments = {}
        for parameter in inspect.signature(function).parameters:
            if parameter not in fixtures:
                raise ContractTestError(f"{name} asks for '{parameter}'; a test may take {', '.join(FIXTURES)}")
            arguments[parameter] = fixtures[parameter]
        function(**arguments)
    except Exception as error:
        return Outcome(name, False, deployed.invocations, deployed.gas_used, describe_failure(error))
    return Outcome(name, True, deployed.invocations, deployed.gas_used)


_ENGINE_FILES = tuple(
    str(Path(module.__file__).resolve().parent) + os.sep
    for module in (sys.modules["ledger"], sys.modules["jadechain"]) if module.__file__
) + (str(Path(__file__).resolve().parents[2] / "contracts") + os.sep,)


def describe_failure(error: BaseException) -> str:
    """``CODE: message`` for a chain error, else the exception and the test's own failing lines."""
    if isinstance(error, JadechainError):
        details = {k: v for k, v in error.details.items() if k != "gas_used"}
        return f"{error.code}: {error.message}" + (f" {details}" if details else "")
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith(_ENGINE_FILES)]  # the test's own lines, not the kit's
    where = "".join(f"\n    {Path(f.filename).name}:{f.lineno}: {f.line}" for f in frames[-3:] if f.line)
    return f"{type(error).__name__}: {error}{where}"


def run_contract_tests(contract_file: Path, test_files: list[Path], selected: list[str],
                       echo: Callable[[str], None]) -> list[Outcome]:
    """Run every (selected) test of ``test_files`` against ``contract_file``; print as it goes."""
    from contracts.vm import WasmRuntime

    if not contract_file.is_file():
        raise ContractTestError(f"no contract file {contract_file}")
    source = contract_file.read_text(encoding="utf-8")
    runtime = WasmRuntime()
    outcomes: list[Outcome] = []
    for path in test_files or default_test_files(contract_file):
        for name, function in collect(load_test_module(path), selected):
            outcome = run_test(name, function, source, runtime)
            outcomes.append(outcome)
            gas = f"{outcome.invocations} invocation{'' if outcome.invocations == 1 else 's'}, {outcome.gas_used:,} gas"
            echo(f"{'PASS' if outcome.passed else 'FAIL'} {path.name}::{name}  ({gas})")
            if not outcome.passed:
                echo("    " + outcome.failure.replace("\n", "\n    "))
    if not outcomes:
        wanted = f" named {', '.join(selected)}" if selected else ""
        raise ContractTestError(f"no test_* function{wanted} in {', '.join(map(str, test_files)) or 'the test file'}")
    return outcomes


@contract_app.command("test")
def contract_test(
    file: Path = typer.Argument(..., help="The contract (.py), exactly as it will be deployed."),
    tests: Optional[List[str]] = typer.Argument(
        None, help="Test files (*.py; default: test_<name>.py beside FILE) and/or test function names to run."),
    select: Optional[List[str]] = typer.Option(None, "--test", "-t", help="Run only this test function (repeat)."),
) -> None:
    """Run a contract's tests on the chain's own engine (WebAssembly VM, gas and limits as on chain)."""
    files = [Path(item) for item in tests or [] if item.endswith(".py")]
    names = [item for item in tests or [] if not item.endswith(".py")] + list(select or [])
    try:
        outcomes = run_contract_tests(file, files, names, typer.echo)
    except JadechainError as error:
        typer.echo(f"{error.code}: {error.message}", err=True)
        raise typer.Exit(1) from None
    failed = [o for o in outcomes if not o.passed]
    typer.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


# --- read-only calls --------------------------------------------------------------------------

@dataclass
class CallSession:
    connection: Connection
    keyring: KeyRing
    key: str
    as_json: bool


def _call_parameters() -> list[inspect.Parameter]:
    return _connection_parameters() + [
        _option("key", str, typer.Option(..., "--key", "-k", help="Who calls: key name in --key-dir or a keystore path "
                                                                 "(a user allowed to invoke contracts).")),
        _option("key_dir", str, typer.Option(DEFAULT_KEY_DIR, "--key-dir", envvar="JADECHAIN_KEY_DIR",
                                             help="Directory of key files (NAME.json).")),
        _option("password_env", str, typer.Option(PASSWORD_ENV, "--password-env",
                                                  help="Environment variable holding the key password (else a prompt).")),
        _option("as_json", bool, typer.Option(False, "--json", help="Print the result as JSON.")),
    ]


def _make_call_session(gateway: Optional[List[str]], ledger: Optional[str], key: str, key_dir: str,
                       password_env: str, as_json: bool) -> CallSession:
    return CallSession(Connection(_split_urls(gateway), ledger), KeyRing(key_dir, password_env), key, as_json)


def contract_call(
    session: CallSession,
    address: str = typer.Argument(..., help="Contract address."),
    method: str = typer.Argument(...),
    args: Optional[List[str]] = typer.Argument(None, help="Arguments as JSON (plain words are strings)."),
    gas: int = typer.Option(1_000_000, "--gas", min=1, help="Gas limit (at most the ledger's default_gas_limit)."),
) -> None:
    """Call a contract method read-only: against the committed state, without a transaction; print its value."""
    values = [parse_argument(arg) for arg in args or []]
    result = session.connection.ledger().call(address, method, values, signer=session.keyring.keypair(session.key),
                                              gas_limit=gas)
    shown = {"status": result.status, "value": _jsonable(result.value), "gas_used": result.gas_used,
             "height": result.height, "message": result.message, "events": [event.to_json() for event in result.events]}
    if session.as_json:
        _print_json(shown)
    else:
        console.print(f"{'status':10} {result.status}\n{'value':10} {json.dumps(shown['value'], ensure_ascii=False)}\n"
                      f"{'gas':10} {result.gas_used}\n{'height':10} {result.height} (committed state; nothing written)")
    if not result.ok:
        raise TransactionFailed(result.status, result.message or f"{method} failed")


_command(contract_app, "call", _call_parameters, _make_call_session)(contract_call)
