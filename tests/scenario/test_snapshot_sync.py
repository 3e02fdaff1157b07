"""Snapshot sync with 4 real validator processes on 127.0.0.1.

node3 is stopped and rebuilt by ``node repair`` (which asks its next start for a snapshot); node1
runs as a Byzantine build that corrupts one byte of every snapshot chunk it serves. node3 must:
take a verified offer, refuse node1's chunks and get them from another peer, import the ledger at a
certified height H, sync the remaining blocks and vote; its roots equal the others' at every height
it has, and it answers below H with HISTORY_NOT_AVAILABLE. Then an honest node is stopped, so no
quorum exists without node3: the next block's commit certificate must carry node3's signature.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ledger import codec
from ledger.store.directory import open_ledger
from ledger.types import Block as LedgerBlock
from tests.support.network_fault_kit import Load, caught_up, get, height_of, running_network, wait_until, wait_voting
from jadechain.devnet.net import net_down, start_node, stop_node
from node.repair import repair_node
from jadechain.sdk import JadechainClient
from node.solo import load_key
from tests.chaos.byzantine import start_byzantine_node

JOINER, BYZANTINE, HONEST = "node3", "node1", "node2"


def status_of(layout, name: str) -> dict:
    return get(layout.node(name).url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]


@pytest.fixture
def network(tmp_path):
    with running_network(tmp_path / "net", consensus={
        "round_timeout_ms": 500, "max_round_timeout_ms": 2000, "fast_forward_rounds": 20,
        "prune_keep_blocks": 8, "prune_every": 4,
    }) as layout:
        yield layout


def test_a_repaired_node_joins_from_a_snapshot_refuses_corrupted_chunks_and_votes(network) -> None:
    layout = network
    base = layout.ledger_hash
    load = Load(layout, batch=40).start()
    try:
        wait_until(lambda: min(height_of(layout, n.name) for n in layout.nodes) >= 30, 120, "30 blocks", layout)
        # node1 becomes the Byzantine snapshot server (same keys, data and ports)
        load.skip.add(BYZANTINE)
        stop_node(layout, BYZANTINE)
        start_byzantine_node(layout, BYZANTINE, {"corrupt_snapshot"})
        wait_until(lambda: caught_up(layout, BYZANTINE, slack=2), 60, f"{BYZANTINE} back", layout)
        load.skip.discard(BYZANTINE)
        # Freshly restarted, node1 is still catching up on the newest blocks and certificates; a peer serves
        # chunks of H only once it has block H + 1 (on a busy machine it once served nothing during the
        # whole join, so there was no corruption to catch): wait until it is level with node0.
        def holds_recent_certificates() -> bool:
            recent = height_of(layout, "node0") - 1
            answer = httpx.get(f"{layout.node(BYZANTINE).url}/api/v1/ledgers/{base}/blocks/{recent}", timeout=5)
            return answer.status_code == 200 and answer.json()["certified"]  # 404: it has not that block yet
        wait_until(holds_recent_certificates, 60, f"{BYZANTINE} to hold the recent certificates", layout)
        # node3 is rebuilt by repair (as for a database refused as corrupted) and started again
        load.skip.add(JOINER)
        stop_node(layout, JOINER)
        genesis = codec.decode(LedgerBlock, bytes.fromhex(json.loads((Path(layout.directory) / "genesis.json").read_text())["block"]))
        repaired = repair_node(layout.node(JOINER).config, genesis, force=True)["ledgers"][base]
        assert repaired["status"] == "repaired" and repaired["snapshot_sync"] is True
        start_node(layout, JOINER)
        wait_until(lambda: height_of(layout, JOINER) > 0 and caught_up(layout, JOINER, slack=2), 120,
                   f"{JOINER} to join from a snapshot and catch up", layout)
        wait_voting(layout, JOINER, 3, 60)
        load.skip.discard(JOINER)
    finally:
        load.stop()

    status = status_of(layout, JOINER)
    report = status["snapshot"]
    assert report is not None, status
    print("snapshot join:", json.dumps(report | {"refused": len(report["refused"])}))
    snapshot_height = report["height"]
    assert snapshot_height >= 16 and status["history_start"] == snapshot_height
    assert report["chunks"] == 256 and report["bytes"] > 0
    # every chunk node1 was asked first was refused and fetched again from an honest peer: refused as
    # corrupted, or unavailable while node1, lagging on a busy machine, lacked the certificate of H + 1
    assert report["refused"], report
    assert {item["peer"] for item in report["refused"]} == {BYZANTINE}, report["refused"]
    codes = {item["code"] for item in report["refused"]}
    assert codes & {"SNAPSHOT_REJECTED", "MALFORMED_ENCODING"}, report["refused"]  # its corruption was caught
    assert codes <= {"SNAPSHOT_REJECTED", "MALFORMED_ENCODING", "PEER_UNAVAILABLE"}, report["refused"]
    assert status["replica"]["snapshot_chunks_refused"] == len(report["refused"])
    assert status["replica"].get("synced_blocks", 0) > 0  # the blocks after H, by ordinary ledger sync

    with httpx.Client(timeout=10) as client:
        # below the snapshot: a stable 4xx with its code, not a fabricated block
        refused = client.get(f"{layout.node(JOINER).url}/api/v1/ledgers/{base}/blocks/1")
        assert refused.status_code == 410, refused.text
        assert refused.json()["code"] == "HISTORY_NOT_AVAILABLE"

        # same hashes and roots as every other node at every height the joiner has
        def same_tip() -> bool:
            tips = {client.get(f"{n.url}/api/v1/ledgers/{base}/blocks/latest").json()["hash"] for n in layout.nodes}
            return len(tips) == 1
        wait_until(same_tip, 60, "every node to reach the same tip", layout)
        tip = client.get(f"{layout.nodes[0].url}/api/v1/ledgers/{base}/blocks/latest").json()["height"]
        assert tip > snapshot_height
        for height in range(snapshot_height, tip + 1):
            views = {(b["hash"], b["state_root"], b["accumulator_root"], b["accumulator_size"])
                     for b in (client.get(f"{n.url}/api/v1/ledgers/{base}/blocks/{height}").json() for n in layout.nodes)}
            assert len(views) == 1, f"nodes disagree at height {height}: {views}"

    # Without node2, a quorum (3 of 4) needs node3: the next block's certificate must carry its signature.
    stop_node(layout, HONEST)
    password = Path(layout.password_file).read_text().strip()
    admin = load_key(layout.nodes[0].key_file, password)
    with JadechainClient([layout.nodes[0].url], retry_timeout=30) as client:
        ledger = client.ledger()
        result = ledger.submit(ledger.builder().kv_set(load.account, "after-snapshot", 1).sign(admin), timeout=60)
        assert result.status == "SUCCESS", result
    height = result.height
    wait_until(lambda: get(layout.nodes[0].url, f"/api/v1/ledgers/{base}/blocks/{height}")["certified"], 60,
               f"block {height} to be certified", layout)
    joiner_key = load_key(layout.node(JOINER).key_file, password).public.encoded
    net_down(layout.directory, timeout=20)
    stored = open_ledger(layout.nodes[0].data_dir, base)
    try:
        certificate = stored.get_certificate(height)
        assert certificate is not None
        assert joiner_key in {s.public_key for s in certificate.signatures}
    finally:
        stored.close()
