"""The control plane end to end on loopback: provision a 4-node network through the API, see it
commit, admit a member by governed invitation (on chain), deploy a contract, survive a node crash
(supervisor restart), add and remove nodes, and restart the control plane without losing state."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest


from tests.support.baas_testkit import (  # noqa: E402
    PASSWORD, admin_password, close_clients, kill_node_processes, ok, running_baas, token_client,
)

from baas.provisioners.local import node_server_available, process_start_time  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

CONTRACT = '''from jadechain import contract, callable


@contract
class Registry:
    @callable
    def put(self, account: str, key: str, value: str) -> int:
        version = self.ctx.get_version(account, key)
        return self.ctx.set(account, key, value, version)
'''

pytestmark = pytest.mark.slow


def heights(client: httpx.Client, network_id: int) -> dict[str, int | None]:
    status = ok(client.get(f"/api/v1/networks/{network_id}/status"))
    return {n["name"]: (n["monitor"] or {}).get("height") for n in status["nodes"]}


def membership_changes(acme, bolt, cargo, orgs, network, ledger, contract, data, data_dir) -> None:
    """Add a fifth validator (cargo's), see it catch up, remove one of bolt's; the network keeps
    committing through both epoch changes, and no replica halts."""
    fifth = ok(cargo.post(f"/api/v1/networks/{network['id']}/nodes", json={"organization_id": orgs["cargo"]["id"]}), 201)
    assert fifth["registration_tx"] and fifth["validator"] is True
    participants_url = f"{network['nodes'][0]['gateway_url']}/api/v1/ledgers/{ledger['ledger_hash']}/participants"
    wait_until(lambda: any(p["public_key"] == fifth["public_key"] and p["state"] == "CONSENSUS"
                         for p in httpx.get(participants_url).json()), 15, "the fifth validator on chain")

    def halted() -> str | None:
        for log in (data_dir / "networks" / "tea" / "logs").glob("*.log"):
            for line in log.read_text().splitlines():
                if "replica halted" in line:
                    return f"{log.stem}: " + line[line.find('"msg"'):][:220]
        return None

    top = ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/summary"))["height"]

    def caught_up() -> bool:
        assert halted() is None, halted()
        return (heights(acme, network["id"]).get(fifth["name"]) or 0) >= top

    wait_until(caught_up, 40, "the fifth node to catch up")
    removed = ok(bolt.delete(f"/api/v1/nodes/{network['nodes'][2]['id']}"))
    assert removed["status"] == "removed" and removed["pid"] is None and removed["validator"] is False
    put = ok(cargo.post(f"/api/v1/contracts/{contract['id']}/invoke",
                        json={"method": "put", "args": [data["address"], "after-removal", "ok"]}))
    assert put["status"] == "SUCCESS"
    assert halted() is None, halted()


@pytest.mark.skipif(not node_server_available(), reason="needs the networked node (node.server)")
def test_four_node_network_through_the_api(tmp_path):
    data_dir = tmp_path / "baas"
    settings = dict(monitor_interval_seconds=0.5, supervise=True, base_port=19100)
    with running_baas(data_dir, **settings) as server:
        try:
            admin = token_client(server.url, "admin", admin_password(data_dir))
            orgs = {name: ok(admin.post("/api/v1/organizations", json={
                "name": name, "algorithm": "SM2", "admin": {"username": name, "password": PASSWORD}}), 201)
                for name in ("acme", "bolt", "cargo")}
            acme, bolt, cargo = (token_client(server.url, n, PASSWORD) for n in ("acme", "bolt", "cargo"))
            consortium = ok(acme.post("/api/v1/consortia", json={"name": "tea-chain"}), 201)
            first = ok(acme.post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                 json={"organization_id": orgs["bolt"]["id"]}), 201)
            ok(acme.post(f"/api/v1/invitations/{first['id']}/signatures", json={"decision": "approve"}))
            assert ok(bolt.post(f"/api/v1/invitations/{first['id']}/accept", json={}))["status"] == "ACCEPTED"

            network = ok(acme.post("/api/v1/networks", json={
                "name": "tea", "consortium_id": consortium["id"], "crypto": "sm",
                "nodes": [{"organization_id": orgs["acme"]["id"], "count": 2},
                          {"organization_id": orgs["bolt"]["id"], "count": 2}]}), 201)
            assert network["status"] == "running", network["status_reason"]
            assert len(network["nodes"]) == 4 and len({n["gateway_port"] for n in network["nodes"]}) == 4
            ledger = network["ledgers"][0]
            assert ledger["hash_algorithm"] == "SM3"

            # a third organisation joins: majority of two members = both must sign; then it is on chain
            invitation = ok(bolt.post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                      json={"organization_id": orgs["cargo"]["id"]}), 201)
            assert invitation["required_signatures"] == 2
            ok(cargo.post(f"/api/v1/invitations/{invitation['id']}/accept", json={}))
            ok(acme.post(f"/api/v1/invitations/{invitation['id']}/signatures", json={"decision": "approve"}))
            admitted = ok(bolt.post(f"/api/v1/invitations/{invitation['id']}/signatures", json={"decision": "approve"}))
            assert admitted["status"] == "ACCEPTED"
            assert [tx["status"] for tx in admitted["onchain"]] == ["SUCCESS"]
            cargo_user = ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/search",
                                     params={"q": orgs["cargo"]["address"]}))
            assert cargo_user["kind"] == "account"

            # the new member deploys and uses a contract through the API
            contract = ok(cargo.post(f"/api/v1/ledgers/{ledger['id']}/contracts", json={"name": "registry", "source": CONTRACT}), 201)
            deployed = ok(cargo.post(f"/api/v1/contracts/{contract['id']}/deploy"))
            assert deployed["status"] == "deployed" and deployed["address"]
            block = ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/search", params={"q": deployed["last_tx"]}))
            assert block["kind"] == "tx" and block["result"]["status"] == "SUCCESS"

            # invoking does not lend the contract cargo's authority: cargo's own data account is refused to it
            data = ok(cargo.post(f"/api/v1/ledgers/{ledger['id']}/data-accounts", json={}), 201)
            denied = ok(cargo.post(f"/api/v1/contracts/{contract['id']}/invoke",
                                   json={"method": "put", "args": [data["address"], "lot-1", "picked"]}))
            assert denied["status"] == "PERMISSION_DENIED"
            data = {"address": deployed["address"]}  # from here on the contract writes its own storage
            put = ok(cargo.post(f"/api/v1/contracts/{contract['id']}/invoke",
                                json={"method": "put", "args": [data["address"], "lot-1", "picked"]}))
            assert put["status"] == "SUCCESS"
            entry = ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/search", params={"q": f"{data['address']}/lot-1"}))
            assert entry["kind"] == "entry" and entry["result"]["value"]["value"] == "picked"

            # every node reaches the same height; the network is healthy
            top = ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/summary"))["height"]
            wait_until(lambda: all((h or 0) >= top for h in heights(acme, network["id"]).values()), 30, "all nodes at the top")
            wait_until(lambda: ok(acme.get(f"/api/v1/networks/{network['id']}/status"))["health"] == "healthy", 20, "healthy")

            # a crashed node is restarted by the supervisor, and the network says why it was degraded meanwhile
            victim = network["nodes"][3]
            os.kill(victim["pid"], signal.SIGKILL)
            restarted = wait_until(lambda: (n := ok(acme.get(f"/api/v1/nodes/{victim['id']}")))["restarts"] >= 1 and n,
                                 30, "supervisor restart")
            assert restarted["pid"] != victim["pid"]
            wait_until(lambda: ok(acme.get(f"/api/v1/networks/{network['id']}/status"))["health"] == "healthy", 40,
                     "healthy after the restart")
            audit = [e["action"] for e in ok(admin.get("/api/v1/audit", params={"limit": 500}))]
            assert "node.restarted" in audit
            after_crash = ok(cargo.post(f"/api/v1/contracts/{contract['id']}/invoke",
                                        json={"method": "put", "args": [data["address"], "crash", "survived"]}))
            assert after_crash["status"] == "SUCCESS"

            pids = {n["id"]: n["pid"] for n in ok(acme.get(f"/api/v1/networks/{network['id']}/nodes")) if n["status"] != "stopped"}
        except BaseException:
            kill_node_processes(server.state)
            raise

    # the control plane restarts: same data dir, nodes re-adopted by pid, nothing lost
    with running_baas(data_dir, **settings) as server:
        try:
            acme, bolt, cargo = (token_client(server.url, n, PASSWORD) for n in ("acme", "bolt", "cargo"))
            again = ok(acme.get(f"/api/v1/networks/{network['id']}"))
            assert again["name"] == "tea" and len(again["nodes"]) == 4
            assert {n["id"]: n["pid"] for n in again["nodes"] if n["pid"]} == pids
            wait_until(lambda: ok(acme.get(f"/api/v1/networks/{network['id']}/status"))["health"] == "healthy", 30,
                     "healthy after the control-plane restart")
            assert ok(acme.get(f"/api/v1/invitations/{invitation['id']}"))["status"] == "ACCEPTED"
            assert ok(acme.get(f"/api/v1/contracts/{contract['id']}"))["status"] == "deployed"
            # a second ledger on the same nodes (nodes restarted one at a time with the new genesis)
            second = ok(acme.post(f"/api/v1/networks/{network['id']}/ledgers", json={"name": "audit"}), 201)
            assert second["ledger_hash"] != ledger["ledger_hash"]
            assert ok(acme.get(f"/api/v1/ledgers/{second['id']}/explorer/summary"))["height"] >= 1
            assert ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/explorer/summary"))["height"] > 1
            health = httpx.get(network["nodes"][0]["gateway_url"] + "/health").json()
            assert set(health["ledgers"]) == {ledger["ledger_hash"], second["ledger_hash"]}

            # membership changes, governed: a node of the admitted member joins, then a node leaves
            membership_changes(acme, bolt, cargo, orgs, network, ledger, contract, data, data_dir)
            # The network holds several members' nodes: stopping it is a proposal each of them approves.
            proposed = acme.post(f"/api/v1/networks/{network['id']}/stop")
            assert proposed.status_code == 202 and proposed.json()["code"] == "PROPOSAL_REQUIRED", proposed.text
            proposal = proposed.json()["proposal"]
            members = {orgs[name]["id"]: client for name, client in (("acme", acme), ("bolt", bolt), ("cargo", cargo))}
            for organization_id in proposal["waiting_for"]:
                decided = ok(members[organization_id].post(
                    f"/api/v1/networks/{network['id']}/proposals/{proposal['id']}/approve"))
            assert decided["status"] == "executed"
            stopped = ok(acme.get(f"/api/v1/networks/{network['id']}"))
            assert all(n["status"] in ("stopped", "removed") for n in stopped["nodes"]), \
                [(n["name"], n["status"]) for n in stopped["nodes"]]
            alive = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:300]
                     for pid in pids.values() if process_start_time(pid) is not None}
            assert not alive, alive
        finally:
            kill_node_processes(server.state)
            close_clients()


def test_single_validator_network_on_the_solo_backend(tmp_path):
    data_dir = tmp_path / "baas"
    with running_baas(data_dir, node_backend="solo", base_port=19300) as server:
        try:
            admin = token_client(server.url, "admin", admin_password(data_dir))
            org = ok(admin.post("/api/v1/organizations", json={"name": "solo-org", "admin": {"username": "sol", "password": PASSWORD}}), 201)
            sol = token_client(server.url, "sol", PASSWORD)
            consortium = ok(sol.post("/api/v1/consortia", json={"name": "solo"}), 201)
            refused = sol.post("/api/v1/networks", json={"name": "big", "consortium_id": consortium["id"],
                                                        "nodes": [{"organization_id": org["id"], "count": 4}]})
            assert refused.status_code == 400 and "node.server" in refused.json()["message"]
            network = ok(sol.post("/api/v1/networks", json={"name": "one", "consortium_id": consortium["id"],
                                                            "nodes": [{"organization_id": org["id"], "count": 1}]}), 201)
            assert network["status"] == "running", network["status_reason"]
            log = ok(sol.get(f"/api/v1/nodes/{network['nodes'][0]['id']}/logs"))["log"]
            assert "solo node" in log
            summary = ok(sol.get(f"/api/v1/ledgers/{network['ledgers'][0]['id']}/explorer/summary"))
            assert summary["height"] >= 1
            # an app started on the ledger is mounted under /apps/<kind>/<id> when its package is installed
            app = ok(sol.post("/api/v1/apps", json={"kind": "evidence", "ledger_id": network["ledgers"][0]["id"]}), 201)
            assert app["mount_path"] == f"/apps/evidence/{app['id']}"
            assert sol.post("/api/v1/apps", json={"kind": "evidence", "ledger_id": network["ledgers"][0]["id"]}).status_code == 409
            if app["status"] == "started":
                assert app["mounted"] and httpx.get(server.url + app["mount_path"] + "/openapi.json").status_code == 200
                # writes through the mounted app need a credential the control plane issued for it
                record = {"digests": {"sha256": "ef" * 32}, "title": "via the control plane", "type": "other",
                          "parties": [{"name": "Sol", "public_key": org["public_key"]}]}
                records = server.url + app["mount_path"] + "/evidence"
                assert httpx.post(records, json=record, timeout=60).status_code == 401
                credential = ok(sol.post(f"/api/v1/apps/{app['id']}/credentials", json={"name": "it"}), 201)
                written = httpx.post(records, json=record, timeout=60,
                                     headers={"Authorization": f"Bearer {credential['token']}"})
                assert written.status_code == 201, written.text
            else:
                assert app["status"] == "pending" and not app["mounted"]
            stopped_app = ok(sol.post(f"/api/v1/apps/{app['id']}/stop"))
            assert stopped_app["status"] == "stopped" and not stopped_app["mounted"]
            ok(sol.post(f"/api/v1/networks/{network['id']}/stop"))
        finally:
            kill_node_processes(server.state)
