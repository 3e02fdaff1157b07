"""Online backup of a running node and restore (4 real validator processes on 127.0.0.1).

node2 is backed up with ``jadechain node backup`` while the network commits under load; later its
ledger is lost (the directory removed, as on a replaced disk) and ``jadechain node restore`` puts the
backup back. Started again it must sync the blocks after the backup, vote, and show the same hashes
and roots as every other node at every height, with every committed transaction present.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.store.directory import open_ledger
from network_fault_kit import Load, assert_consistent, caught_up, height_of, running_network, wait_until, wait_voting
from jadechain.cli.net import _cli
from jadechain.devnet.net import start_node, stop_node

VICTIM = "node2"
TOKEN = "backup-test-admin-token"


@pytest.fixture
def network(tmp_path, monkeypatch):
    monkeypatch.setenv("JADECHAIN_ADMIN_TOKEN", TOKEN)  # the nodes' admin token (children inherit it)
    with running_network(tmp_path / "net") as layout:
        yield layout


def test_a_node_backed_up_while_running_is_restored_and_rejoins_with_equal_roots(network, monkeypatch) -> None:
    layout = network
    node = layout.node(VICTIM)
    runner = CliRunner()
    load = Load(layout).start()
    try:
        wait_until(lambda: height_of(layout, VICTIM) >= 10, 90, "10 blocks", layout)
        # without the admin token the endpoint refuses
        monkeypatch.delenv("JADECHAIN_ADMIN_TOKEN")
        refused = runner.invoke(_cli, ["node", "backup", "--config", node.config])
        assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.output
        monkeypatch.setenv("JADECHAIN_ADMIN_TOKEN", TOKEN)
        made = runner.invoke(_cli, ["node", "backup", "--config", node.config])
        assert made.exit_code == 0, made.output
        result = json.loads(made.output)
        backup = Path(result["backup"])
        backed_up_height = result["ledgers"][layout.ledger_hash]["height"]
        assert backed_up_height >= 10
        assert oct(backup.stat().st_mode & 0o777) == "0o700"
        # the network goes on committing after the backup
        wait_until(lambda: height_of(layout, VICTIM) >= backed_up_height + 10, 90, "10 more blocks", layout)
        load.skip.add(VICTIM)
        stop_node(layout, VICTIM)
        kept = Path(node.data_dir).parent / "kept-backup"
        shutil.move(str(backup), str(kept))  # the backup lives off the lost disk
        shutil.rmtree(Path(node.data_dir) / "ledgers")
        restored = runner.invoke(_cli, ["node", "restore", "--config", node.config, "--from", str(kept)])
        assert restored.exit_code == 0, restored.output
        assert json.loads(restored.output)["ledgers"][layout.ledger_hash]["height"] == backed_up_height
        ledger = open_ledger(node.data_dir, layout.ledger_hash)
        try:
            assert ledger.height == backed_up_height  # the restored database, not the lost one
        finally:
            ledger.close()
        start_node(layout, VICTIM)
        wait_until(lambda: caught_up(layout, VICTIM, slack=2), 90, f"{VICTIM} to catch up after restore", layout)
        wait_voting(layout, VICTIM, 3, 60)
        load.skip.discard(VICTIM)
    finally:
        load.stop()
    assert_consistent(layout, load.committed, check_on=VICTIM)
