"""One contract file: unit-tested with ``jadechain contract test``, deployed unchanged to a real node,
invoked by transaction (its return value in the result) and called read-only (nothing written).

Everything a user types runs as a subprocess against a solo node over HTTP; the SDK's sync and
async clients call the same contract.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from ledger import codec
from ledger.crypto import generate_keypair
from jadechain.devnet.solo import DevSolo, SoloNode, create_dev_solo
from jadechain.sdk import AsyncJadechainClient, JadechainClient
from tests.integration.test_cli_tx_query import Cli

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "examples" / "contracts" / "counter.py"
CONTRACT_CLI = "jadechain.cli"
"""``python -m jadechain.cli`` is the ``jadechain`` command (``contract`` is one of its sub-commands)."""


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevSolo:
    return create_dev_solo(str(tmp_path_factory.mktemp("authoring")))


@pytest.fixture(scope="module")
def node(dev: DevSolo) -> Iterator[SoloNode]:
    running = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cli(node: SoloNode, dev: DevSolo) -> Cli:
    return Cli(node, dev, str(Path(dev.key_file).parent))


def test_the_same_file_is_unit_tested_deployed_invoked_and_called(cli: Cli, node: SoloNode, dev: DevSolo) -> None:
    tested = subprocess.run([sys.executable, "-m", CONTRACT_CLI, "contract", "test", str(CONTRACT)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed, 0 failed" in tested.stdout and "PASS test_counter.py::test_add_returns_the_total" in tested.stdout

    deployed = cli.json("tx", "contract-deploy", str(CONTRACT), "-k", "node0")
    assert deployed["status"] == "SUCCESS"
    address = deployed["address"]
    assert cli.json("query", "contract", address, "--source")["source"] == CONTRACT.read_text()  # unchanged

    invoked = cli.json("tx", "contract-invoke", address, "add", "2", "-k", "node0")
    assert (invoked["status"], invoked["results"]) == ("SUCCESS", [2])
    shown = cli.json("query", "tx", invoked["tx_hash"])
    assert shown["results"] == [{"type": "INT64", "value": 2}]
    assert "returned 2  (INT64)" in cli.run("query", "tx", invoked["tx_hash"]).stdout
    assert "returned     3" in cli.run("tx", "contract-invoke", address, "add", "1", "-k", "node0").stdout

    called = cli.json("contract", "call", address, "add", "5", "-k", "node0", module=CONTRACT_CLI)
    assert (called["status"], called["value"], called["height"]) == ("SUCCESS", 8, called["height"])
    assert called["gas_used"] > 0 and [e["content"]["value"] for e in called["events"]] == [{"amount": 5, "total": 8}]
    assert cli.json("contract", "call", address, "total", "-k", "node0", module=CONTRACT_CLI)["value"] == 3
    assert cli.json("query", "entry", address, "total")["value"] == {"type": "INT64", "value": 3}  # nothing written
    refused = cli.run("contract", "call", address, "add", "0", "-k", "node0", module=CONTRACT_CLI, ok=False)
    assert refused.returncode == 1 and "CONTRACT_REVERTED: amount must be positive" in refused.stderr
    human = cli.run("contract", "call", address, "total", "-k", "node0", module=CONTRACT_CLI).stdout
    assert "value      3" in human and "nothing written" in human

    with JadechainClient([node.url]) as client:
        ledger = client.ledger()
        result = ledger.call(address, "add", [10], signer=dev.key)
        assert (result.ok, result.value) == (True, 13)
        submitted = ledger.submit(ledger.builder().invoke(address, "add", 4).sign(dev.key))
        assert (submitted.status, submitted.results, submitted.return_value) == ("SUCCESS", (7,), 7)
        assert ledger.wait_tx(submitted.tx_hash).return_value == 7
        failed = ledger.call(address, "add", [-1], signer=dev.key)
        assert (failed.ok, failed.status, failed.value) == (False, "CONTRACT_REVERTED", None)

    async def call_async() -> object:
        async with AsyncJadechainClient([node.url]) as client:
            ledger = await client.ledger()
            return (await ledger.call(address, "total", signer=dev.key)).value

    assert asyncio.run(call_async()) == 7


def test_who_may_call_and_bad_requests_get_stable_codes(cli: Cli, node: SoloNode, dev: DevSolo) -> None:
    address = cli.json("tx", "contract-deploy", str(CONTRACT), "-k", "node0")["address"]
    url = f"{node.url}/api/v1/ledgers/{dev.ledger_hash}/call"
    with JadechainClient([node.url]) as client:
        ledger = client.ledger()
        stranger = ledger.builder().invoke(address, "total").sign(generate_keypair())
        answer = httpx.post(url, json={"tx": codec.encode(stranger).hex()})
        assert (answer.status_code, answer.json()["code"]) == (403, "PERMISSION_DENIED")
        two = ledger.builder().invoke(address, "total").invoke(address, "total").sign(dev.key)
        answer = httpx.post(url, json={"tx": codec.encode(two).hex()})
        assert answer.json()["code"] == "INVALID_TRANSACTION" and answer.status_code == 400
        greedy = ledger.builder().invoke(address, "total", gas_limit=1_000_001).sign(dev.key)
        answer = httpx.post(url, json={"tx": codec.encode(greedy).hex()})
        assert (answer.status_code, answer.json()["code"]) == (400, "CALL_GAS_TOO_HIGH"), answer.text
        huge = ledger.builder().invoke(address, "add", "x" * 2_000_000).sign(dev.key)
        answer = httpx.post(url, json={"tx": codec.encode(huge).hex()})
        assert (answer.status_code, answer.json()["code"]) == (413, "TRANSACTION_TOO_LARGE"), answer.text
        for body in ({"tx": "zz"}, {"txs": []}, {"nope": 1}, {"tx": "00"}):
            answer = httpx.post(url, json=body)
            assert answer.status_code == 400 and set(answer.json()) == {"code", "message"}, (body, answer.text)


DOC = REPO / "docs" / "contracts.md"


def documented_session() -> str:
    """The runnable shell block of docs/contracts.md that types, tests, deploys, invokes and calls counter.py."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (session,) = [block for block in blocks if "jadechain contract test" in block]
    return session


def test_the_documented_session_runs_against_a_node(cli: Cli, tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples" / "contracts", tmp_path / "examples" / "contracts")
    script = tmp_path / "session.sh"
    script.write_text(
        "set -e -o pipefail\n"
        f'jadechain() {{ "{sys.executable}" -m jadechain.cli "$@"; }}\n'
        f'mypy() {{ "{sys.executable}" -m mypy --cache-dir "{tmp_path / "mypy-cache"}" "$@"; }}\n'
        + documented_session() + "echo '>>> session done'\n"
    )
    env = {**cli.env, "PYTHONPATH": str(REPO), "MYPYPATH": str(REPO)}
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and ">>> session done" in done.stdout, output
    assert "Traceback" not in output, output
    assert "3 passed, 0 failed" in output and "returned     2" in output and "returned 5  (INT64)" in output
    assert "value      15" in output and "value      5" in output
    assert "CONTRACT_REVERTED: amount must be positive" in output and "reverted, exit 1" in output
