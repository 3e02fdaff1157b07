"""Ledger proposals through the control plane, on a real 2-node network it provisions (127.0.0.1).

Two member organisations (acme, bolt) run one node each, so the ledger's majority is both. acme
proposes a role (with its key in custody, through the SDK); the control plane shows bolt the
proposal as waiting for its vote (API and console); bolt votes through the API, signed in custody
with its organisation's key; the executor runs the proposal in that block. A second vote is
refused with the ledger's own code, and the vote is in bolt's audit log in words.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest


from tests.support.baas_testkit import (  # noqa: E402
    PASSWORD, admin_password, close_clients, kill_node_processes, ok, running_baas, token_client,
)

from baas.models import CustodyKey, Organization  # noqa: E402
from baas.provisioners.local import node_server_available  # noqa: E402
from ledger.types import AccountState, ConfigureRole, TransactionPermission, UpdateAccountState  # noqa: E402
from jadechain.sdk import JadechainClient  # noqa: E402

CONTRACT = '''from jadechain import contract, callable


@contract
class Registry:
    @callable
    def put(self, key: str, value: str) -> int:
        return self.ctx.set(self.ctx.address, key, value, self.ctx.get_version(self.ctx.address, key))
'''

pytestmark = pytest.mark.skipif(not node_server_available(), reason="needs the networked node (node.server)")


@pytest.mark.timeout(600)
def test_a_member_votes_a_ledger_proposal_through_the_control_plane(tmp_path: Path) -> None:
    data_dir = tmp_path / "baas"
    with running_baas(data_dir, base_port=19500) as server:
        try:
            admin = token_client(server.url, "admin", admin_password(data_dir))
            orgs = {name: ok(admin.post("/api/v1/organizations", json={
                "name": name, "admin": {"username": name, "password": PASSWORD}}), 201) for name in ("acme", "bolt")}
            acme, bolt = (token_client(server.url, n, PASSWORD) for n in ("acme", "bolt"))
            consortium = ok(acme.post("/api/v1/consortia", json={"name": "pair"}), 201)
            invitation = ok(acme.post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                      json={"organization_id": orgs["bolt"]["id"]}), 201)
            ok(acme.post(f"/api/v1/invitations/{invitation['id']}/signatures", json={"decision": "approve"}))
            assert ok(bolt.post(f"/api/v1/invitations/{invitation['id']}/accept", json={}))["status"] == "ACCEPTED"
            network = ok(acme.post("/api/v1/networks", json={
                "name": "pair-net", "consortium_id": consortium["id"],
                "nodes": [{"organization_id": orgs["acme"]["id"], "count": 1},
                          {"organization_id": orgs["bolt"]["id"], "count": 1}]}), 201)
            assert network["status"] == "running", network["status_reason"]
            ledger = network["ledgers"][0]

            # acme proposes with its organisation key (custody holds it; the test plays acme's client)
            with server.state.sessions() as session:
                org = session.get(Organization, orgs["acme"]["id"])
                acme_key = server.state.custody.keypair(session.get(CustodyKey, org.key_id))
            urls = [n["gateway_url"] for n in network["nodes"]]
            with JadechainClient(urls, retry_timeout=30) as client:
                chain = client.ledger(ledger["ledger_hash"])
                assert chain.info().settings.governance["organizations"] == {"acme": 1, "bolt": 1}
                role = ConfigureRole("AUDITOR", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
                proposed = chain.submit(chain.builder().propose([role], "auditors").sign(acme_key))
                assert proposed.status == "SUCCESS"

            listed = ok(bolt.get(f"/api/v1/ledgers/{ledger['id']}/proposals", params={"status": "open"}))
            assert len(listed) == 1 and listed[0]["waiting_for_me"] and listed[0]["organization"] == "acme"
            assert not ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/proposals"))[0]["waiting_for_me"]
            with httpx.Client(base_url=server.url) as web:
                ok(web.post("/api/v1/auth/login", json={"username": "bolt", "password": PASSWORD}))
                page = web.get("/ui/proposals").text
                assert "waiting for your vote" in page and f"/proposals/{listed[0]['id']}/vote" in page

            voted = ok(bolt.post(f"/api/v1/ledgers/{ledger['id']}/proposals/{listed[0]['id']}/vote", json={"approve": True}))
            assert voted["status"] == "SUCCESS"
            decided = ok(bolt.get(f"/api/v1/ledgers/{ledger['id']}/proposals"))[0]
            assert decided["status"] == "EXECUTED" and decided["my_vote"] == "for"
            roles = httpx.get(f"{urls[0]}/api/v1/ledgers/{ledger['ledger_hash']}/roles", timeout=30).json()
            assert "AUDITOR" in [r["role"] for r in roles]
            again = bolt.post(f"/api/v1/ledgers/{ledger['id']}/proposals/{listed[0]['id']}/vote", json={"approve": False})
            assert again.status_code == 409 and again.json()["code"] == "PROPOSAL_DECIDED"
            audit = ok(bolt.get("/api/v1/audit", params={"action": "ledger.proposal.voted"}))
            assert audit and any("vote FOR proposal" in line for line in audit[-1]["details"]["summary"])
            assert acme.post(f"/api/v1/ledgers/{ledger['id']}/proposals/not-hex!/vote", json={}).status_code == 400

            # acme's contract: bolt alone cannot freeze it; a proposal both approve does, and the control
            # plane shows what the ledger decided (it once kept saying "deployed")
            uploaded = ok(acme.post(f"/api/v1/ledgers/{ledger['id']}/contracts", json={"name": "registry",
                                                                                      "source": CONTRACT}), 201)
            contract = ok(acme.post(f"/api/v1/contracts/{uploaded['id']}/deploy"))
            assert contract["status"] == "deployed"
            with server.state.sessions() as session:
                org = session.get(Organization, orgs["bolt"]["id"])
                bolt_key = server.state.custody.keypair(session.get(CustodyKey, org.key_id))
            freeze = UpdateAccountState(contract["address"], AccountState.FROZEN)
            with JadechainClient(urls, retry_timeout=30) as client:
                chain = client.ledger(ledger["ledger_hash"])
                alone = chain.submit(chain.builder().add(freeze).sign(bolt_key))
                assert alone.status == "NOT_OWNER"
                assert ok(acme.get(f"/api/v1/contracts/{uploaded['id']}"))["status"] == "deployed"
                assert chain.submit(chain.builder().propose([freeze], "stop it").sign(bolt_key)).status == "SUCCESS"
            pending = [p for p in ok(acme.get(f"/api/v1/ledgers/{ledger['id']}/proposals", params={"status": "open"}))]
            assert len(pending) == 1 and pending[0]["waiting_for_me"]
            ok(acme.post(f"/api/v1/ledgers/{ledger['id']}/proposals/{pending[0]['id']}/vote", json={"approve": True}))
            assert ok(acme.get(f"/api/v1/contracts/{uploaded['id']}"))["status"] == "frozen"
            assert [c["status"] for c in ok(bolt.get(f"/api/v1/ledgers/{ledger['id']}/contracts"))] == ["frozen"]
        finally:
            kill_node_processes(server.state)
            close_clients()
