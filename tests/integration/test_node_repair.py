"""``jadechain node repair``: a node whose ledger database is refused as corrupted is set aside (kept
as a backup, its consensus safety files left in place) and rebuilt from the network's genesis; a
healthy ledger is left alone; a genesis of another ledger is refused and nothing is touched.
(That the repaired node then catches up and votes is exercised by the chaos suite's corrupt_db fault,
which repairs through the same function.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.errors import LedgerCorrupted
from ledger.store.directory import open_ledger
from jadechain.cli.net import _cli
from jadechain.devnet.net import create_network


def _corrupt_manifest(ledger_dir: Path) -> None:
    manifest = sorted(ledger_dir.glob("MANIFEST-*"))[-1]
    data = bytearray(manifest.read_bytes())
    for index in range(len(data) // 3, len(data)):
        data[index] ^= 0xA5
    manifest.write_bytes(bytes(data))


@pytest.fixture
def network(tmp_path):
    return create_network(tmp_path / "net", 1)


def _repair(layout, *extra: str) -> tuple[int, str]:
    node = layout.nodes[0]
    result = CliRunner().invoke(_cli, ["node", "repair", "--config", node.config,
                                       "--genesis", str(Path(layout.directory) / "genesis.json"), *extra])
    return result.exit_code, result.output


def test_a_healthy_ledger_is_left_alone(network):
    code, output = _repair(network, "--json")
    assert code == 0, output
    assert json.loads(output)["ledgers"] == {network.ledger_hash: {"status": "healthy"}}


def test_a_corrupted_ledger_is_set_aside_and_rebuilt_from_genesis(network):
    node = network.nodes[0]
    data_dir = Path(node.data_dir)
    ledger_dir = data_dir / "ledgers" / network.ledger_hash
    _corrupt_manifest(ledger_dir)
    with pytest.raises(LedgerCorrupted):
        open_ledger(str(data_dir), network.ledger_hash)
    # What a node that ran has beside its ledger: a consensus block store and its safety data.
    consensus = data_dir / "consensus" / network.ledger_hash
    (consensus / "blocks").mkdir(parents=True)
    (consensus / "blocks" / "CURRENT").write_text("MANIFEST-000001\n")
    (consensus / "safety.bin").write_bytes(b"last voted round")

    code, output = _repair(network, "--json")
    assert code == 0, output
    item = json.loads(output)["ledgers"][network.ledger_hash]
    assert item["status"] == "repaired" and item["reason"].startswith("LEDGER_CORRUPTED")
    backup = Path(item["backup"])
    assert (backup / "ledger").is_dir() and (backup / "consensus" / "blocks" / "CURRENT").exists()
    assert not (consensus / "blocks").exists()
    assert (consensus / "safety.bin").read_bytes() == b"last voted round"  # never forget past votes
    ledger = open_ledger(str(data_dir), network.ledger_hash)
    try:
        assert ledger.height == 0
    finally:
        ledger.close()
    assert oct((backup.parent).stat().st_mode & 0o777) == "0o700"


def test_a_genesis_of_another_ledger_is_refused_and_nothing_moves(network, tmp_path):
    other = create_network(tmp_path / "other", 1)
    node = network.nodes[0]
    ledger_dir = Path(node.data_dir) / "ledgers" / network.ledger_hash
    _corrupt_manifest(ledger_dir)
    result = CliRunner().invoke(_cli, ["node", "repair", "--config", node.config,
                                       "--genesis", str(Path(other.directory) / "genesis.json")])
    assert result.exit_code == 1
    assert "CONFIG_ERROR" in result.output and other.ledger_hash in result.output
    assert ledger_dir.is_dir() and not list(Path(node.data_dir).glob("repair-backup-*"))


def test_the_database_of_a_running_node_is_never_moved(network):
    node = network.nodes[0]
    held = open_ledger(node.data_dir, network.ledger_hash)  # as the running node holds it
    try:
        code, output = _repair(network, "--force")
    finally:
        held.close()
    assert code == 1 and "stop the node first" in output
    assert not list(Path(node.data_dir).glob("repair-backup-*"))


def test_the_command_of_docs_reliability_md_repairs_a_corrupted_node(network):
    """The runnable block of docs/reliability.md, as written, in the network's directory."""
    import os
    import re
    import subprocess
    import sys

    document = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
    blocks = re.findall(r"```sh\n(.*?)```", document.read_text(), flags=re.S)
    commands = [b for b in blocks if not b.startswith("# (fragment:") and "node repair" in b]
    assert commands == ["jadechain node repair --config node0.toml --genesis genesis.json\n"]
    _corrupt_manifest(Path(network.nodes[0].data_dir) / "ledgers" / network.ledger_hash)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-e", "-c", commands[0]], cwd=network.directory, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired (LEDGER_CORRUPTED" in done.stdout
    ledger = open_ledger(network.nodes[0].data_dir, network.ledger_hash)
    ledger.close()
