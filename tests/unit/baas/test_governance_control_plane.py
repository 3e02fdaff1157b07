"""No member stops the others: network-wide control-plane actions are proposals the affected members approve.

Before this, any member organisation's admin stopped a whole network, other members' nodes
included, and the audit entry was filed under the acting organisation only, so the victims
never saw it. Now: an action that reaches other members' nodes opens a proposal (202,
PROPOSAL_REQUIRED); every affected organisation's admin approves; the last approval runs it.
Every step is audited once per affected organisation. (Starting the shared network runs its nodes; the
module fixture kills them at the end.)
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, kill_node_processes, ok, running_baas, token_client

from baas.models import ConsortiumMember, Network, Node


@pytest.fixture(scope="module")
def world(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-control-proposals")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        ids: dict[str, Any] = {}
        for org in ("a", "b", "c"):
            ids[org] = ok(admin.post("/api/v1/organizations", json={
                "name": f"cp-{org}", "admin": {"username": f"cp_{org}_admin", "password": PASSWORD}}), 201)["id"]
        ok(admin.post("/api/v1/users", json={"username": "cp_b_operator", "password": PASSWORD, "role": "operator",
                                              "organization_id": ids["b"]}), 201)
        clients = {name: token_client(server.url, f"cp_{name}", PASSWORD)
                   for name in ("a_admin", "b_admin", "c_admin", "b_operator")}
        consortium = ok(clients["a_admin"].post("/api/v1/consortia", json={"name": "cp"}), 201)["id"]
        state = server.state
        with state.sessions() as session:
            session.add_all([ConsortiumMember(consortium_id=consortium, organization_id=ids[o]) for o in ("b", "c")])

            def network(name: str, owners: list[str]) -> int:
                row = Network(name=name, consortium_id=consortium, crypto="classic", consensus={}, provisioner="local",
                              status="running", keystore_password=state.custody.seal(b"pw", f"network:{name}".encode()))
                session.add(row)
                session.flush()
                for position, owner in enumerate(owners):
                    key = state.custody.new_key(session, ids[owner], "node", f"{name} node {position}", "ED25519")
                    session.add(Node(network_id=row.id, organization_id=ids[owner], name=f"{name}-{position}",
                                     key_id=key.id, grpc_port=40000 + position, gateway_port=41000 + position,
                                     desired_state="running", status="running"))
                return row.id

            ids["shared"] = network("shared", ["a", "a", "b"])
            ids["own"] = network("own", ["a"])
            session.commit()
        try:
            yield clients, ids
        finally:
            kill_node_processes(state)


def desired_states(clients, network_id: int) -> set[str]:
    return {n["desired_state"] for n in ok(clients["a_admin"].get(f"/api/v1/networks/{network_id}/nodes"))}


def test_stopping_a_shared_network_is_a_proposal_every_affected_member_approves(world) -> None:
    clients, ids = world
    response = clients["a_admin"].post(f"/api/v1/networks/{ids['shared']}/stop")
    assert response.status_code == 202 and response.json()["code"] == "PROPOSAL_REQUIRED"
    proposal = response.json()["proposal"]
    assert proposal["waiting_for"] == [ids["b"]] and proposal["approvals"] == [ids["a"]]
    assert desired_states(clients, ids["shared"]) == {"running"}  # nothing stopped yet
    approve = f"/api/v1/networks/{ids['shared']}/proposals/{proposal['id']}/approve"
    assert clients["a_admin"].post(approve).json()["code"] == "ALREADY_VOTED"
    assert clients["c_admin"].post(approve).status_code == 403  # a member whose nodes are not affected
    assert clients["b_operator"].post(approve).status_code == 403  # an operator does not approve
    assert clients["a_admin"].post(f"/api/v1/networks/{ids['shared']}/stop").status_code == 409  # one at a time
    executed = ok(clients["b_admin"].post(approve))
    assert executed["status"] == "executed" and sorted(executed["approvals"]) == sorted([ids["a"], ids["b"]])
    assert desired_states(clients, ids["shared"]) == {"stopped"}
    assert clients["b_admin"].post(approve).json()["code"] == "PROPOSAL_DECIDED"
    listed = ok(clients["b_admin"].get(f"/api/v1/networks/{ids['shared']}/proposals"))
    assert [p["status"] for p in listed] == ["executed"]


def test_every_affected_member_sees_the_action_in_its_own_audit_log(world) -> None:
    clients, ids = world
    actions = {name: [e["action"] for e in ok(clients[name].get("/api/v1/audit", params={"limit": 200}))]
               for name in ("a_admin", "b_admin", "c_admin")}
    for name in ("a_admin", "b_admin"):
        assert "network.proposal.opened" in actions[name] and "network.stopped" in actions[name]
        assert "network.proposal.approved" in actions[name]
    assert "network.stopped" not in actions["c_admin"]  # c has no node there
    stopped = next(e for e in ok(clients["b_admin"].get("/api/v1/audit", params={"action": "network.stopped"})))
    assert stopped["actor"] == "cp_b_admin" and sorted(stopped["details"]["approved_by"]) == sorted([ids["a"], ids["b"]])


def test_an_organisation_acts_alone_on_what_is_only_its_own(world) -> None:
    clients, ids = world
    stopped = ok(clients["a_admin"].post(f"/api/v1/networks/{ids['own']}/stop"))
    assert {n["desired_state"] for n in stopped["nodes"]} == {"stopped"}
    a_node = next(n for n in ok(clients["a_admin"].get(f"/api/v1/networks/{ids['shared']}/nodes"))
                  if n["organization_id"] == ids["a"])
    assert clients["b_admin"].post(f"/api/v1/nodes/{a_node['id']}/start").status_code == 403
    assert clients["b_admin"].post(f"/api/v1/nodes/{a_node['id']}/stop").status_code == 403


def test_the_console_lists_proposals_and_badges_the_ones_waiting_for_my_organisation(world) -> None:
    import httpx

    clients, ids = world
    proposal = clients["a_admin"].post(f"/api/v1/networks/{ids['shared']}/start").json()["proposal"]
    base = str(clients["a_admin"].base_url)

    def page(username: str) -> str:
        with httpx.Client(base_url=base) as web:
            ok(web.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}))
            response = web.get("/ui/proposals")
            assert response.status_code == 200
            return response.text

    b_page = page("cp_b_admin")
    assert 'id="proposals-badge"' in b_page and "waiting for your approval" in b_page
    assert f"/proposals/{proposal['id']}/approve" in b_page  # the approve button
    a_page = page("cp_a_admin")
    assert 'id="proposals-badge"' not in a_page and "approved" in a_page  # a proposed, so a approved
    c_page = page("cp_c_admin")
    assert "not affected" in c_page and f"/proposals/{proposal['id']}/approve" not in c_page
    ok(clients["b_admin"].post(f"/api/v1/networks/{ids['shared']}/proposals/{proposal['id']}/approve"))
    assert 'id="proposals-badge"' not in page("cp_b_admin")


def test_removing_another_members_node_needs_its_owners_approval(world) -> None:
    """(Runs after the console test, which started the shared network again.)"""
    clients, ids = world
    a_nodes = [n for n in ok(clients["a_admin"].get(f"/api/v1/networks/{ids['shared']}/nodes"))
               if n["organization_id"] == ids["a"]]
    victim = a_nodes[0]
    response = clients["b_admin"].delete(f"/api/v1/nodes/{victim['id']}")
    assert response.status_code == 202 and response.json()["code"] == "PROPOSAL_REQUIRED"
    proposal = response.json()["proposal"]
    assert proposal["action"] == "remove-node" and proposal["node_id"] == victim["id"]
    assert proposal["waiting_for"] == [ids["a"]]
    assert ok(clients["a_admin"].get(f"/api/v1/nodes/{victim['id']}"))["desired_state"] != "removed"
    assert clients["c_admin"].post(f"/api/v1/networks/{ids['shared']}/proposals/{proposal['id']}/approve").status_code == 403
    done = ok(clients["a_admin"].post(f"/api/v1/networks/{ids['shared']}/proposals/{proposal['id']}/approve"))
    assert done["status"] == "executed"
    assert ok(clients["a_admin"].get(f"/api/v1/nodes/{victim['id']}"))["desired_state"] == "removed"
    removed = [e for e in ok(clients["a_admin"].get("/api/v1/audit", params={"action": "node.removed"}))
               if e["target"] == f"node:{victim['id']}"]
    assert removed and sorted(removed[0]["details"]["approved_by"]) == sorted([ids["a"], ids["b"]])
    assert any(e["target"] == f"node:{victim['id']}"
               for e in ok(clients["b_admin"].get("/api/v1/audit", params={"action": "node.removed"})))
