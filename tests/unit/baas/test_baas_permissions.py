"""Every permission boundary, table-driven: each role against each endpoint it must not reach gets
403; nobody signed in gets 401. (Organisation A is the consortium member, B is invited, C is a
stranger; the network, ledger, node, contract and app records belong to A.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, ok, running_baas, token_client

from baas.models import AppInstance, Contract, LedgerRecord, Network, Node

ROLES = ("platform", "a_admin", "a_operator", "a_viewer", "b_admin", "b_operator", "b_viewer", "c_admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-permissions")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        ids: dict[str, Any] = {}
        for org in ("a", "b", "c"):
            ids[org] = ok(admin.post("/api/v1/organizations", json={
                "name": f"org-{org}", "admin": {"username": f"{org}_admin", "password": PASSWORD}}), 201)["id"]
        for org in ("a", "b"):
            for role in ("operator", "viewer"):
                ids[f"{org}_{role}_user"] = ok(admin.post("/api/v1/users", json={
                    "username": f"{org}_{role}", "password": PASSWORD, "role": role, "organization_id": ids[org]}), 201)["id"]
        clients = {"platform": admin}
        for role in ROLES[1:]:
            clients[role] = token_client(server.url, role, PASSWORD)
        ids["admin_token"] = ok(admin.get("/api/v1/tokens"))[0]["id"]
        ids["a_key"] = ok(clients["a_admin"].get(f"/api/v1/organizations/{ids['a']}/keys"))[0]["id"]
        ids["consortium"] = ok(clients["a_admin"].post("/api/v1/consortia", json={"name": "perm"}), 201)["id"]
        ids["invitation"] = ok(clients["a_admin"].post(f"/api/v1/consortia/{ids['consortium']}/invitations",
                                                       json={"organization_id": ids["b"]}), 201)["id"]
        state = server.state
        with state.sessions() as session:  # records only: no process is needed to test the checks
            network = Network(name="perm-net", consortium_id=ids["consortium"], crypto="classic", consensus={},
                              provisioner="local", status="stopped",
                              keystore_password=state.custody.seal(b"pw", b"network:perm-net"))
            session.add(network)
            session.flush()
            key = state.custody.new_key(session, ids["a"], "node", "perm node", "ED25519")
            node = Node(network_id=network.id, organization_id=ids["a"], name="org-a-0", key_id=key.id,
                        grpc_port=1, gateway_port=2, desired_state="stopped", status="stopped")
            ledger = LedgerRecord(network_id=network.id, name="main", ledger_hash="perm-ledger", hash_algorithm="SHA256",
                                  genesis_hex="{}")
            session.add_all([node, ledger])
            session.flush()
            contract = Contract(ledger_id=ledger.id, organization_id=ids["a"], name="c", source="", methods=[])
            app = AppInstance(kind="evidence", ledger_id=ledger.id, organization_id=ids["a"], status="pending",
                              mount_path="/apps/evidence/1", settings={})
            session.add_all([contract, app])
            session.commit()
            ids.update(network=network.id, node=node.id, ledger=ledger.id, contract=contract.id, app=app.id)
        yield server, clients, ids


def cases() -> list[tuple[str, str, Any, tuple[str, ...]]]:
    """(method, path template, JSON body, roles that must be refused)."""
    return [
        ("POST", "/api/v1/organizations", {"name": "intruder"}, ("a_admin", "a_operator", "a_viewer", "b_admin")),
        ("POST", "/api/v1/users", lambda i: {"username": "new-user", "password": PASSWORD, "role": "viewer",
                                             "organization_id": i["a"]}, ("a_operator", "a_viewer", "b_admin", "b_operator")),
        ("POST", "/api/v1/users", {"username": "root2", "password": PASSWORD, "role": "platform_admin"}, ("a_admin", "b_admin")),
        ("PATCH", "/api/v1/users/{a_viewer_user}", {"role": "org_admin"}, ("a_operator", "a_viewer", "b_admin")),
        ("PATCH", "/api/v1/users/{a_viewer_user}", {"role": "platform_admin"}, ("a_admin",)),
        ("DELETE", "/api/v1/users/{a_viewer_user}", None, ("a_operator", "a_viewer", "b_admin")),
        ("GET", "/api/v1/users/{a_viewer_user}", None, ("b_admin", "b_viewer", "c_admin")),
        ("GET", "/api/v1/organizations/{a}/keys", None, ("b_admin", "b_operator", "b_viewer", "c_admin")),
        ("POST", "/api/v1/organizations/{a}/keys", {"label": "k"}, ("platform", "a_operator", "a_viewer", "b_admin")),
        # Operators may ask custody for intents within their role's rules (tests/unit/baas/test_governance_custody.py).
        ("POST", "/api/v1/organizations/{a}/keys/{a_key}/sign", {"message_hex": "00"},
         ("platform", "a_viewer", "b_admin")),
        ("POST", "/api/v1/organizations/{a}/keys/{a_key}/export", {"password": PASSWORD},
         ("platform", "a_operator", "a_viewer", "b_admin", "c_admin")),
        ("POST", "/api/v1/organizations/{b}/keys/{a_key}/export", {"password": PASSWORD}, ("b_admin",)),
        ("POST", "/api/v1/organizations/{b}/keys/{a_key}/sign", {"message_hex": "00"}, ("b_admin",)),
        ("POST", "/api/v1/consortia", lambda i: {"name": "mine", "organization_id": i["a"]}, ("a_operator", "a_viewer", "b_admin")),
        ("GET", "/api/v1/consortia/{consortium}", None, ("b_admin", "b_viewer", "c_admin")),
        ("POST", "/api/v1/consortia/{consortium}/invitations", lambda i: {"organization_id": i["c"]},
         ("a_operator", "a_viewer", "b_admin", "c_admin")),
        ("GET", "/api/v1/invitations/{invitation}", None, ("c_admin",)),
        ("POST", "/api/v1/invitations/{invitation}/open", None, ("a_operator", "b_admin", "c_admin")),
        ("POST", "/api/v1/invitations/{invitation}/signatures", {"decision": "approve"},
         ("platform", "a_operator", "a_viewer", "b_admin", "c_admin")),
        ("POST", "/api/v1/invitations/{invitation}/accept", {}, ("platform", "a_admin", "b_operator", "b_viewer", "c_admin")),
        ("POST", "/api/v1/invitations/{invitation}/decline", None, ("a_admin", "b_viewer", "c_admin")),
        ("POST", "/api/v1/networks", lambda i: {"name": "n2", "consortium_id": i["consortium"],
                                                "nodes": [{"organization_id": i["a"], "count": 1}]},
         ("a_operator", "a_viewer", "b_admin", "c_admin")),
        ("GET", "/api/v1/networks/{network}", None, ("b_admin", "b_viewer", "c_admin")),
        ("GET", "/api/v1/networks/{network}/status", None, ("b_viewer", "c_admin")),
        ("POST", "/api/v1/networks/{network}/stop", None, ("a_operator", "a_viewer", "b_admin")),
        ("POST", "/api/v1/networks/{network}/start", None, ("a_operator", "a_viewer", "b_admin")),
        ("POST", "/api/v1/networks/{network}/nodes", lambda i: {"organization_id": i["a"]}, ("a_viewer", "b_admin", "b_operator")),
        ("GET", "/api/v1/nodes/{node}", None, ("b_admin", "c_admin")),
        ("POST", "/api/v1/nodes/{node}/restart", None, ("a_viewer", "b_admin", "b_operator")),
        ("POST", "/api/v1/nodes/{node}/stop", None, ("a_viewer", "b_admin")),
        ("DELETE", "/api/v1/nodes/{node}", None, ("a_operator", "a_viewer", "b_admin")),
        ("GET", "/api/v1/nodes/{node}/logs", None, ("a_viewer", "b_admin")),
        ("GET", "/api/v1/ledgers/{ledger}", None, ("b_viewer", "c_admin")),
        ("GET", "/api/v1/ledgers/{ledger}/genesis", None, ("b_admin",)),
        ("GET", "/api/v1/ledgers/{ledger}/explorer/summary", None, ("b_admin", "c_admin")),
        ("GET", "/api/v1/ledgers/{ledger}/explorer/search?q=1", None, ("b_viewer",)),
        ("POST", "/api/v1/ledgers/{ledger}/contracts", lambda i: {"name": "x", "source": "", "organization_id": i["a"]},
         ("a_viewer", "b_admin")),
        ("POST", "/api/v1/contracts/{contract}/deploy", None, ("a_viewer", "b_admin")),
        ("POST", "/api/v1/contracts/{contract}/upgrade", {"source": ""}, ("a_viewer", "b_operator")),
        ("POST", "/api/v1/contracts/{contract}/freeze", None, ("a_viewer", "b_operator")),
        ("POST", "/api/v1/contracts/{contract}/invoke", {"method": "m"}, ("a_viewer", "c_admin")),
        ("POST", "/api/v1/apps", lambda i: {"kind": "traceability", "ledger_id": i["ledger"], "organization_id": i["a"]},
         ("a_viewer", "b_admin")),
        ("GET", "/api/v1/apps/{app}", None, ("b_viewer",)),
        ("POST", "/api/v1/apps/{app}/stop", None, ("a_viewer", "b_admin")),
        ("GET", "/api/v1/audit", None, ("a_operator", "a_viewer", "b_viewer")),
        ("GET", "/api/v1/audit/verify", None, ("a_admin", "b_admin")),
        ("DELETE", "/api/v1/tokens/{admin_token}", None, ("a_admin", "b_admin")),
    ]


def _request(client: httpx.Client, method: str, path: str, body: Any, ids: dict[str, Any]) -> httpx.Response:
    payload = body(ids) if callable(body) else body
    return client.request(method, path.format(**ids), json=payload)


@pytest.mark.parametrize("method, path, body, refused", cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_role_is_refused(world, method, path, body, refused):
    server, clients, ids = world
    for role in refused:
        response = _request(clients[role], method, path, body, ids)
        assert response.status_code == 403, f"{role} {method} {path}: {response.status_code} {response.text}"
        assert response.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize("method, path, body, refused", cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_anonymous_is_unauthenticated(world, method, path, body, refused):
    server, clients, ids = world
    with httpx.Client(base_url=server.url) as anonymous:
        response = _request(anonymous, method, path, body, ids)
    assert response.status_code == 401, f"{method} {path}: {response.status_code}"


def test_listings_show_only_what_the_organisation_may_see(world):
    server, clients, ids = world
    assert [c["id"] for c in ok(clients["b_admin"].get("/api/v1/consortia"))] == []
    assert ok(clients["b_admin"].get("/api/v1/networks")) == []
    assert ok(clients["b_admin"].get("/api/v1/ledgers")) == []
    assert {u["organization_id"] for u in ok(clients["b_admin"].get("/api/v1/users"))} == {ids["b"]}
    assert [i["id"] for i in ok(clients["b_admin"].get("/api/v1/invitations"))] == [ids["invitation"]]
    assert ok(clients["c_admin"].get("/api/v1/invitations")) == []
    audit = ok(clients["a_admin"].get("/api/v1/audit"))
    assert audit and {e["organization_id"] for e in audit} == {ids["a"]}
    assert [n["id"] for n in ok(clients["a_viewer"].get("/api/v1/networks"))] == [ids["network"]]
