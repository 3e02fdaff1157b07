"""Process fault scenarios on 4 real validator processes (127.0.0.1).

One network (Ed25519), its peers wired through a TCP proxy mesh, goes through, in order:
(a) kill -9 of one node under load, then restart: it catches up;
(b) SIGSTOP of the current leader: the other three keep committing; SIGCONT: it rejoins;
(c) a partition of one node (all its proxies cut) under load, then heal: it catches up;
(e) a node whose disk was wiped (genesis only) syncs certified blocks and votes again.
After each: no transaction reported committed is lost, every node has the same block hashes
and roots. (d) an SM2/SM3 network commits.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from ledger import codec
from ledger.crypto import PublicKey, address_from_public_key, generate_keypair
from ledger.store.directory import create_ledger, open_ledger
from ledger.types import Block as LedgerBlock
from network_fault_kit import (
    Load,
    assert_consistent,
    caught_up,
    get,
    height_of,
    make_network,
    wait_progress,
    wait_voting,
    wait_until,
)
from jadechain.devnet.net import kill_node, net_down, start_node, stop_node, wait_for_height
from jadechain.sdk import JadechainClient
from node.solo import load_key


@pytest.fixture(scope="module")
def proxied_network(tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults") / "net"
    # Consensus blocks are pruned early (8 ledger blocks below a certified height), so every fault
    # here also runs against pruned consensus stores.
    layout, mesh = make_network(directory, proxies=True, consensus={
        "round_timeout_ms": 500, "max_round_timeout_ms": 2000, "fast_forward_rounds": 20,
        "prune_keep_blocks": 8, "prune_every": 4,
    })
    try:
        for node in layout.nodes:
            start_node(layout, node.name)
        wait_for_height(layout, 1, 60)
        yield layout, mesh
    finally:
        net_down(layout.directory, timeout=20)
        if mesh is not None:
            mesh.close()


def others(layout, name: str) -> list[str]:
    return [n.name for n in layout.nodes if n.name != name]


def test_a_kill_9_under_load_then_restart_catches_up(proxied_network) -> None:
    layout, _ = proxied_network
    load = Load(layout).start()
    try:
        wait_progress(layout, [n.name for n in layout.nodes], 3, 30)
        kill_node(layout, "node2", signal.SIGKILL)
        load.skip.add("node2")
        committed_while_down = len(load.committed)
        wait_progress(layout, others(layout, "node2"), 4, 40)
        assert len(load.committed) > committed_while_down
        start_node(layout, "node2")
        wait_until(lambda: caught_up(layout, "node2"), 60, "node2 to catch up after restart", layout)
        load.skip.discard("node2")
        wait_progress(layout, ["node2"], 2, 30)
        wait_voting(layout, "node2", 3, 60)
    finally:
        load.stop()
    assert load.committed
    assert_consistent(layout, load.committed, check_on="node2")


def _leader_name(layout) -> str:
    status = get(layout.nodes[0].url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]
    by_key = {PublicKey.from_base58(n.public_key).encoded: n.name for n in layout.nodes}
    authors = sorted(by_key)
    return by_key[authors[status["round"] % len(authors)]]


def test_b_sigstop_the_leader_others_keep_committing_then_it_rejoins(proxied_network) -> None:
    layout, _ = proxied_network
    load = Load(layout).start()
    try:
        wait_progress(layout, [n.name for n in layout.nodes], 2, 30)
        leader = _leader_name(layout)
        kill_node(layout, leader, signal.SIGSTOP)
        load.skip.add(leader)
        try:
            before = len(load.committed)
            wait_progress(layout, others(layout, leader), 4, 60)
            assert len(load.committed) > before
        finally:
            kill_node(layout, leader, signal.SIGCONT)
        load.skip.discard(leader)
        wait_until(lambda: caught_up(layout, leader), 60, f"{leader} to rejoin after SIGCONT", layout)
        wait_progress(layout, [leader], 2, 30)
        wait_voting(layout, leader, 3, 60)
    finally:
        load.stop()
    assert_consistent(layout, load.committed, check_on=leader)


def test_c_partition_one_node_then_heal(proxied_network) -> None:
    layout, mesh = proxied_network
    assert mesh is not None
    victim = "node3"
    load = Load(layout).start()
    try:
        wait_progress(layout, [n.name for n in layout.nodes], 2, 30)
        mesh.isolate(victim)
        load.skip.add(victim)
        cut_height = height_of(layout, victim)
        wait_progress(layout, others(layout, victim), 4, 60)
        # Cut off, it cannot commit beyond what was already certified around it.
        assert height_of(layout, victim) <= cut_height + 3
        mesh.heal(victim)
        load.skip.discard(victim)
        wait_until(lambda: caught_up(layout, victim), 60, f"{victim} to catch up after the partition heals", layout)
        wait_progress(layout, [victim], 2, 30)
        # Votes sent after the heal (the counter is cumulative: votes from before the cut prove nothing).
        wait_voting(layout, victim, 3, 60)
    finally:
        load.stop()
    assert_consistent(layout, load.committed, check_on=victim)
    # The partitioned node kept serving reads and never diverged.
    status = get(layout.node(victim).url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]
    assert status["halted"] is False


def test_e_a_node_with_a_wiped_disk_syncs_and_rejoins_consensus(proxied_network) -> None:
    """Only genesis left: the node fetches certified ledger blocks, fast-forwards its consensus
    root (the network is further ahead than ``fast_forward_rounds``) and votes again."""
    layout, _ = proxied_network
    victim = "node1"
    assert stop_node(layout, victim)
    node = layout.node(victim)
    shutil.rmtree(node.data_dir)
    genesis = json.loads((Path(layout.directory) / "genesis.json").read_text())
    create_ledger(node.data_dir, codec.decode(LedgerBlock, bytes.fromhex(genesis["block"]))).close()
    load = Load(layout)
    load.skip.add(victim)
    load.start()
    try:
        wait_progress(layout, others(layout, victim), 2, 30)
        ahead = get(layout.nodes[0].url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]["committed_round"]
        start_node(layout, victim)
        wait_until(lambda: caught_up(layout, victim), 60, f"{victim} to catch up from an empty disk", layout)
        load.skip.discard(victim)

        def voting() -> bool:
            status = get(node.url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]
            return status["consensus"].get("votes_sent", 0) >= 3
        wait_until(voting, 60, f"{victim} to vote again", layout)
        status = get(node.url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]
        assert status["replica"].get("synced_blocks", 0) > 0
        # fast_forward_rounds is 20 in this network: a longer gap is jumped, once.
        assert status["replica"].get("fast_forwards", 0) == (1 if ahead > 40 else status["replica"].get("fast_forwards", 0))
        assert status["replica"].get("fast_forwards", 0) <= 1
    finally:
        load.stop()
    assert_consistent(layout, load.committed, check_on=victim)
    # Consensus blocks far below the certified tip were pruned on the nodes that ran throughout
    # (the wiped node rejoined by ledger sync and a fast-forward, not by fetching them).
    pruned = [get(n.url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]["replica"].get("consensus_blocks_pruned", 0)
              for n in layout.nodes if n.name != victim]
    assert all(count > 0 for count in pruned), pruned


def test_d_sm2_network_commits(tmp_path) -> None:
    layout, _ = make_network(tmp_path / "sm", crypto="sm")
    try:
        for node in layout.nodes:
            start_node(layout, node.name)
        wait_for_height(layout, 1, 60)
        password = Path(layout.password_file).read_text().strip()
        admin = load_key(layout.nodes[0].key_file, password)
        assert admin.public.algorithm.name == "SM2"
        pair = generate_keypair(admin.public.algorithm)
        account = address_from_public_key(pair.public)
        committed = {}
        with JadechainClient([layout.nodes[1].url], retry_timeout=30) as client:
            ledger = client.ledger()
            ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(admin))
            for index in range(3):
                result = ledger.submit(ledger.builder().kv_set(account, f"k{index}", index).sign(admin))
                assert result.status == "SUCCESS"
                committed[result.tx_hash] = result.height
        tip = assert_consistent(layout, committed)
        wait_until(lambda: get(layout.nodes[0].url, f"/api/v1/ledgers/{layout.ledger_hash}/blocks/{tip}")["certified"],
                   20, "the tip to be certified")
    finally:
        net_down(layout.directory, timeout=20)
    # After a graceful stop the node's own database holds the certified chain.
    ledger = open_ledger(layout.nodes[0].data_dir, layout.ledger_hash)
    try:
        assert ledger.height >= tip
        assert ledger.get_certificate(tip) is not None
    finally:
        ledger.close()
