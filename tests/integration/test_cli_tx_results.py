"""What `jadechain tx` reports must be what happened: a failed write claims no version, a user no path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from jadechain.devnet.solo import DevSolo, SoloNode, create_dev_solo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevSolo:
    return create_dev_solo(str(tmp_path_factory.mktemp("cli-tx-results")))


@pytest.fixture(scope="module")
def env(dev: DevSolo) -> Iterator[dict[str, str]]:
    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10).start()
    try:
        values = {**os.environ, "JADECHAIN_GATEWAY": node.url, "JADECHAIN_KEY_PASSWORD": dev.password,
                  "JADECHAIN_KEY_DIR": str(Path(dev.key_file).parent), "COLUMNS": "200"}
        values.pop("JADECHAIN_LEDGER", None)
        yield values
    finally:
        node.stop()


def run(env: dict[str, str], module: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def tx_json(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = run(env, "jadechain.cli.tx", "tx", *args, "--json")
    assert result.returncode == code, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_a_failed_kv_set_reports_the_version_it_expected_not_one_it_wrote(env: dict[str, str]) -> None:
    account = tx_json(env, "account-register", "--key", "node0")["address"]
    written = tx_json(env, "kv-set", account, "lot/L7", "passed", "-k", "node0")
    assert written["status"] == "SUCCESS" and written["version"] == 0

    conflict = tx_json(env, "kv-set", account, "lot/L7", "again", "--expected-version", "-1", "-k", "node0", code=1)
    assert conflict["status"] == "VERSION_CONFLICT" and conflict["committed"]
    assert "version" not in conflict and conflict["expected_version"] == -1

    updated = tx_json(env, "kv-set", account, "lot/L7", "re-tested", "--expected-version", "0", "-k", "node0")
    assert updated["status"] == "SUCCESS" and updated["version"] == 1


def test_user_register_names_the_user_after_the_key_not_its_path(env: dict[str, str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    created = run(env, "jadechain.cli", "keys", "new", "alice", "--dir", str(keys), "--json")
    assert created.returncode == 0, created.stderr
    registered = tx_json(env, "user-register", "--key-name", str(keys / "alice.json"), "-k", "node0")
    assert registered["status"] == "SUCCESS" and registered["name"] == "alice"
    named = tx_json(env, "user-register", "--key-name", str(keys / "alice.json"), "--name", "Alice Chen", "-k", "node0",
                    code=1)
    assert named["status"] != "SUCCESS"  # the same key twice is refused on chain, whatever its name
