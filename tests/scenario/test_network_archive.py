"""A validator that archived its old blocks keeps running in a real 4-node network (127.0.0.1).

Under a steady load: node0 is stopped, archives its old blocks with `jadechain ledger archive`, and
restarts; it catches up, votes and commits as before, and answers ARCHIVED for the archived blocks
(other nodes serve them). Then node3 is wiped and rebuilt from genesis (`jadechain node repair --replay`):
it replays the chain from its peers; node0 answers its requests for archived blocks with an empty
batch (no error, no traceback), so node3 takes them from the others, catches up and votes again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.network_fault_kit import running_network, Load, get, height_of, wait_progress, wait_until, wait_voting
from jadechain.devnet.net import load_layout, start_node, stop_node

ROOT = Path(__file__).resolve().parents[2]


def jadechain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jadechain.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=180)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    with running_network(tmp_path_factory.mktemp("archive-net") / "net") as layout:
        yield layout.directory


def test_an_archived_validator_keeps_voting_and_a_wiped_peer_syncs_around_it(network) -> None:
    layout = load_layout(network)
    names = [n.name for n in layout.nodes]
    base = f"/api/v1/ledgers/{layout.ledger_hash}"
    node0 = layout.node("node0")
    load = Load(layout).start()
    try:
        wait_progress(layout, names, 12, 90)
        tip = height_of(layout, "node0")
        below = next(h for h in range(tip - 2, 1, -1) if get(node0.url, f"{base}/blocks/{h}")["certified"])
        assert below > 5
        stop_node(layout, "node0")
        archived = jadechain("ledger", "archive", "--data-dir", node0.data_dir, "--below", str(below),
                             "--out", str(Path(network) / "archive-node0"), "--json")
        assert archived.returncode == 0, archived.stdout + archived.stderr
        start_node(layout, "node0")
        wait_until(lambda: height_of(layout, "node0") > tip, 60, "node0 to commit after archiving", layout)
        wait_voting(layout, "node0", 3, 60)
        with httpx.Client(timeout=10) as http:
            answer = http.get(f"{node0.url}{base}/blocks/2")
            assert answer.status_code == 410 and answer.json()["code"] == "ARCHIVED"
            assert http.get(f"{layout.node('node1').url}{base}/blocks/2").status_code == 200
            assert http.get(f"{node0.url}{base}/blocks/{below}").status_code == 200

        # node3 loses its database and replays from genesis: node0 cannot serve the old blocks
        node3 = layout.node("node3")
        stop_node(layout, "node3")
        load.skip.add("node3")
        repaired = jadechain("node", "repair", "--config", node3.config, "--genesis",
                             str(Path(network) / "genesis.json"), "--force", "--replay")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        start_node(layout, "node3")
        wait_until(lambda: height_of(layout, "node3") >= height_of(layout, "node1") - 1 > below, 120,
                   "node3 to replay the chain from its peers", layout)
        load.skip.discard("node3")
        wait_voting(layout, "node3", 3, 60)
        wait_progress(layout, names, 3, 60)
    finally:
        load.stop()
    assert len(load.committed) > 20
    # every node agrees on every block node0 still holds, and node3 rebuilt the archived ones identically
    tip = min(height_of(layout, name) for name in names)
    with httpx.Client(timeout=10) as http:
        for height in range(1, tip + 1):
            holders = names[1:] if height < below else names
            views = {tuple(http.get(f"{layout.node(n).url}{base}/blocks/{height}").json()[k]
                           for k in ("hash", "state_root", "accumulator_root")) for n in holders}
            assert len(views) == 1, f"nodes disagree at height {height}: {views}"
    assert "Traceback" not in Path(node0.log).read_text()
