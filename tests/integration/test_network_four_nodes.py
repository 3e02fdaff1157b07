"""Four validator processes brought up with ``net up`` as a user would, used through the SDK.

Transactions go to different gateways; every node ends with the same block hashes and
roots; a certified proof bundle fetched over HTTP verifies offline, after the whole network
is down, against the validator set read from a node's own data directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ledger.certificate import ValidatorSet
from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.proofs import verify_bundle
from ledger.store.directory import open_ledger
from jadechain.sdk import JadechainClient
from node.solo import load_key
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jadechain.cli.net", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def latest(url: str, ledger_hash: str, height: int | str = "latest") -> dict:
    response = httpx.get(f"{url}/api/v1/ledgers/{ledger_hash}/blocks/{height}", timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def network(tmp_path):
    directory = tmp_path / "net"
    up = cli("net", "up", "--nodes", "4", "--dir", str(directory), "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    info = json.loads(up.stdout.strip().splitlines()[-1])
    try:
        yield directory, info
    finally:
        cli("net", "down", "--dir", str(directory), "--timeout", "20")


def test_four_nodes_agree_and_a_proof_verifies_after_the_network_is_down(network) -> None:
    directory, info = network
    ledger_hash = info["ledger_hash"]
    urls = [node["url"] for node in info["nodes"]]
    assert len(urls) == 4 and all(url.startswith("http://127.0.0.1:") for url in urls)
    # Every gateway already committed (net up waits for height >= 1).
    assert all(latest(url, ledger_hash)["height"] >= 1 for url in urls)

    status = cli("net", "status", "--dir", str(directory), "--json")
    assert status.returncode == 0, status.stderr
    nodes = json.loads(status.stdout)["nodes"]
    assert [n["alive"] for n in nodes] == [True] * 4
    wait_until(lambda: all(
        n["peers_connected"] == 3 for n in json.loads(cli("net", "status", "--dir", str(directory), "--json").stdout)["nodes"]
    ), 30, "every node to see its 3 peers")

    password = Path(info["password_file"]).read_text().strip()
    admin = load_key(str(Path(info["keys"]) / "node0.json"), password)
    account_pair = generate_keypair(ED25519)
    account = address_from_public_key(account_pair.public)

    # Writes through different gateways, each waiting for its commit.
    with JadechainClient([urls[1]], retry_timeout=30) as client:
        ledger = client.ledger()
        registered = ledger.submit(ledger.builder().register_data_account(account_pair.public.encoded).sign(admin))
        assert registered.status == "SUCCESS"
    for index, url in enumerate(urls):
        with JadechainClient([url], retry_timeout=30) as client:
            ledger = client.ledger()
            result = ledger.submit(ledger.builder().kv_set(account, f"key-{index}", f"via node{index}").sign(admin))
            assert result.committed and result.status == "SUCCESS", result
    with JadechainClient([urls[2]], retry_timeout=30) as client:
        ledger = client.ledger()
        # One key written 20 times, each naming the version it expects: they commit in order.
        batch = [ledger.builder().kv_set(account, "batch", f"v{i}", expected_version=i - 1).sign(admin) for i in range(20)]
        results = ledger.submit_many(batch, wait=True)
        assert [getattr(r, "status", r) for r in results] == ["SUCCESS"] * 20
        written_height = max(getattr(r, "height", 0) for r in results)

    # A contract's return value is in its result; a read-only call gives every node's same answer.
    counter_pair = generate_keypair(ED25519)
    counter = address_from_public_key(counter_pair.public)
    with JadechainClient([urls[1]], retry_timeout=30) as client:
        ledger = client.ledger()
        source = (ROOT / "examples" / "contracts" / "counter.py").read_text()
        assert ledger.submit(ledger.builder().deploy_contract(counter_pair.public.encoded, source).sign(admin)).status == "SUCCESS"
        added = ledger.submit(ledger.builder().invoke(counter, "add", 6).sign(admin))
        assert (added.status, added.return_value) == ("SUCCESS", 6)
        written_height = max(written_height, added.height or 0)
    for index, url in enumerate(urls):
        wait_until(lambda: latest(url, ledger_hash)["height"] >= written_height, 20, f"node{index} to apply")
        with JadechainClient([url], retry_timeout=30) as client:
            called = client.ledger().call(counter, "add", [1], signer=admin)
            assert (called.status, called.value) == ("SUCCESS", 7), (index, called)

    # Every node reads the same data from its own ledger.
    for index, url in enumerate(urls):
        with JadechainClient([url], retry_timeout=30) as client:
            ledger = client.ledger()
            wait_until(lambda: latest(url, ledger_hash)["height"] >= written_height, 20, f"node{index} to apply")
            for j in range(4):
                assert ledger.get_entry(account, f"key-{j}").value == f"via node{j}"
            assert ledger.get_entry(account, "batch").version == 19

    # Gossip was verified by f + 1 = 2 validators, not by all 4 (node.gossip): the origin and one
    # designated validator verified each chunk; the other two admitted it on their two vouchers.
    counters = [httpx.get(f"{url}/api/v1/node/status", timeout=5).json()["ledgers"][ledger_hash]["replica"] for url in urls]
    vouched = sum(c.get("gossip_txs_vouched", 0) for c in counters)
    verified = sum(c.get("gossip_txs_verified", 0) for c in counters)
    assert vouched > 0 and verified > 0, counters
    assert sum(c.get("peer_txs_rejected", 0) for c in counters) == 0, counters

    # The network seals the last block by itself; wait for its certificate everywhere.
    def all_certified_at_same_tip() -> bool:
        tips = [latest(url, ledger_hash) for url in urls]
        return len({t["height"] for t in tips}) == 1 and all(t["certified"] for t in tips) and tips[0]["height"] > written_height

    wait_until(all_certified_at_same_tip, 30, "a common certified tip")
    tip = latest(urls[0], ledger_hash)["height"]
    for height in range(1, tip + 1):
        blocks = [latest(url, ledger_hash, height) for url in urls]
        assert len({b["hash"] for b in blocks}) == 1, f"block hashes differ at height {height}"
        assert len({(b["state_root"], b["accumulator_root"], b["accumulator_size"]) for b in blocks}) == 1

    with JadechainClient([urls[3]], retry_timeout=30) as client:
        bundle = client.ledger().entry_proof(account, "key-0")
    assert bundle["header"]["height"] >= written_height

    down = cli("net", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "killed" not in down.stdout, down.stdout  # every node stopped gracefully on SIGTERM
    after = json.loads(cli("net", "status", "--dir", str(directory), "--json").stdout)
    assert not any(n["alive"] for n in after["nodes"])
    for url in urls:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=1)

    # Offline: trust the validator set read from node0's own data directory, not the bundle's.
    node0_data = next(n for n in info["nodes"] if n["name"] == "node0")
    data_dir = str(Path(node0_data["config"]).parent / "node0")
    ledger = open_ledger(data_dir, ledger_hash)
    try:
        trusted: ValidatorSet = ledger.validator_set()
    finally:
        ledger.close()
    report = verify_bundle(json.loads(json.dumps(bundle)), trusted_validators=trusted, require_certificate=True)
    assert report.certified and report.signers >= 3
    assert report.claim["value"]["value"] == "via node0"
