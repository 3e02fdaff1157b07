"""Governed invitations: the policy's quorum of member signatures (custody or uploaded) plus the
invitee's own signature admit a member; rejections, declines and expiry end an invitation."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, ok, running_baas, token_client
from sqlalchemy import update

from baas.models import Invitation
from ledger.crypto import PublicKey, from_base58, generate_keypair, sign, to_base58, verify


@pytest.fixture(scope="module")
def world(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-governance")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        outside = generate_keypair()  # org "delta" brings its own key (imported), and also signs outside
        orgs = {}
        for name in ("alpha", "beta", "gamma", "delta", "omega"):
            body = {"name": name, "admin": {"username": f"{name}-admin", "password": PASSWORD}}
            if name == "delta":
                body["import_private_key"] = to_base58(outside.private.encoded)
            orgs[name] = ok(admin.post("/api/v1/organizations", json=body), 201)
        clients = {name: token_client(server.url, f"{name}-admin", PASSWORD) for name in orgs}
        yield server, admin, orgs, clients, outside


def _consortium(world, name, members, policy="majority"):
    """A consortium founded by the first member, the others admitted one by one."""
    server, admin, orgs, clients, _ = world
    founder = members[0]
    consortium = ok(clients[founder].post("/api/v1/consortia", json={"name": name, "policy": policy}), 201)
    for joining in members[1:]:
        invitation = ok(clients[founder].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                              json={"organization_id": orgs[joining]["id"]}), 201)
        current = ok(clients[founder].get(f"/api/v1/consortia/{consortium['id']}"))["members"]
        for member in current:
            member_name = member["organization"]
            if ok(clients[member_name].get(f"/api/v1/invitations/{invitation['id']}"))["status"] != "SIGNING":
                break
            if ok(clients[member_name].get(f"/api/v1/invitations/{invitation['id']}"))["approvals"] < invitation["required_signatures"]:
                ok(clients[member_name].post(f"/api/v1/invitations/{invitation['id']}/signatures", json={"decision": "approve"}))
        assert ok(clients[joining].post(f"/api/v1/invitations/{invitation['id']}/accept", json={}))["status"] == "ACCEPTED"
    return consortium


def test_majority_needs_two_of_three_and_the_invitees_signature(world):
    server, admin, orgs, clients, _ = world
    consortium = _consortium(world, "majority-club", ["alpha", "beta", "gamma"])
    assert len(ok(clients["alpha"].get(f"/api/v1/consortia/{consortium['id']}"))["members"]) == 3
    invitation = ok(clients["beta"].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                         json={"organization_id": orgs["omega"]["id"]}), 201)
    assert invitation["status"] == "SIGNING" and invitation["required_signatures"] == 2
    url = f"/api/v1/invitations/{invitation['id']}"
    after_accept = ok(clients["omega"].post(url + "/accept", json={}))
    assert after_accept["status"] == "SIGNING" and after_accept["accepted_by_invitee"]
    one = ok(clients["alpha"].post(url + "/signatures", json={"decision": "approve"}))
    assert one["status"] == "SIGNING" and one["approvals"] == 1
    again = clients["alpha"].post(url + "/signatures", json={"decision": "approve"})
    assert again.status_code == 409
    two = ok(clients["gamma"].post(url + "/signatures", json={"decision": "approve"}))
    assert two["status"] == "ACCEPTED"
    assert "omega" in [m["organization"] for m in ok(clients["alpha"].get(f"/api/v1/consortia/{consortium['id']}"))["members"]]
    # each signature is the member's own key over the published statement
    for signature in two["signatures"]:
        statement = bytes.fromhex(two["statements"][signature["decision"]])
        assert verify(PublicKey.from_base58(signature["public_key"]), statement, from_base58(signature["signature"]))
    late = clients["beta"].post(url + "/signatures", json={"decision": "approve"})
    assert late.status_code == 409


def test_uploaded_signature_is_verified_with_the_members_key(world):
    server, admin, orgs, clients, outside = world
    consortium = _consortium(world, "upload-club", ["delta"], policy="all")
    invitation = ok(clients["delta"].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                          json={"organization_id": orgs["alpha"]["id"]}), 201)
    url = f"/api/v1/invitations/{invitation['id']}"
    statement = bytes.fromhex(invitation["statements"]["approve"])
    forged = to_base58(sign(generate_keypair().private, statement))
    refused = clients["delta"].post(url + "/signatures", json={"decision": "approve", "signature": forged})
    assert refused.status_code == 400 and "does not verify" in refused.json()["message"]
    wrong_statement = to_base58(sign(outside.private, bytes.fromhex(invitation["statements"]["reject"])))
    assert clients["delta"].post(url + "/signatures", json={"decision": "approve", "signature": wrong_statement}).status_code == 400
    good = to_base58(sign(outside.private, statement))
    signed = ok(clients["delta"].post(url + "/signatures", json={"decision": "approve", "signature": good}))
    assert signed["approvals"] == 1 and signed["signatures"][0]["uploaded"]
    assert ok(clients["alpha"].post(url + "/accept", json={}))["status"] == "ACCEPTED"


def test_rejections_that_make_the_quorum_unreachable_reject(world):
    server, admin, orgs, clients, _ = world
    consortium = _consortium(world, "strict-club", ["alpha", "beta"], policy="all")
    invitation = ok(clients["alpha"].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                          json={"organization_id": orgs["gamma"]["id"]}), 201)
    url = f"/api/v1/invitations/{invitation['id']}"
    ok(clients["alpha"].post(url + "/signatures", json={"decision": "approve"}))
    rejected = ok(clients["beta"].post(url + "/signatures", json={"decision": "reject"}))
    assert rejected["status"] == "REJECTED" and "can no longer be reached" in rejected["reason"]
    assert clients["gamma"].post(url + "/accept", json={}).status_code == 409


def test_invitee_declines_and_invitations_expire(world):
    server, admin, orgs, clients, _ = world
    consortium = _consortium(world, "expiry-club", ["beta"])
    first = ok(clients["beta"].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                    json={"organization_id": orgs["gamma"]["id"]}), 201)
    assert ok(clients["gamma"].post(f"/api/v1/invitations/{first['id']}/decline"))["status"] == "REJECTED"
    draft = ok(clients["beta"].post(f"/api/v1/consortia/{consortium['id']}/invitations",
                                    json={"organization_id": orgs["gamma"]["id"], "open": False}), 201)
    assert draft["status"] == "DRAFT"
    assert clients["beta"].post(f"/api/v1/invitations/{draft['id']}/signatures", json={"decision": "approve"}).status_code == 403
    with server.state.sessions() as session:
        session.execute(update(Invitation).where(Invitation.id == draft["id"]).values(
            expires_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)))
        session.commit()
    assert ok(clients["beta"].get(f"/api/v1/invitations/{draft['id']}"))["status"] == "EXPIRED"
    assert clients["beta"].post(f"/api/v1/invitations/{draft['id']}/open").status_code == 409
    audit = [e["action"] for e in ok(admin.get("/api/v1/audit", params={"limit": 1000}))]
    for action in ("invitation.created", "invitation.approved", "invitation.rejected", "invitation.declined",
                   "consortium.member_admitted"):
        assert action in audit

