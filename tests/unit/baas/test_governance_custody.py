"""Custody signs intents, not bytes: it decodes what it is asked to sign, checks it against the
requesting role's rules, audits it in words, and refuses what it cannot read.

Before this, ``/keys/{id}/sign`` signed any hex it was given: whoever held an organisation
admin's token could make the organisation sign anything, blind.
"""

from __future__ import annotations

import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, ok, running_baas, token_client

from baas.custody import RAW_SIGNING_ENV, decode_intent
from baas.errors import BaasError
from ledger import codec
from ledger.crypto import PublicKey, address_from_public_key, algorithm_by_name, from_base58, generate_keypair, verify
from ledger.transactions import TransactionBuilder, hash_transaction_content
from ledger.types import AccountState, ConfigureRole, UpdateAccountState

LEDGER_HASH = algorithm_by_name("SHA256").code.to_bytes(2, "big") + bytes(32)  # code ‖ digest


def content_of(builder: TransactionBuilder) -> bytes:
    return codec.encode(builder.content())


@pytest.fixture(scope="module")
def world(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-intents")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        org = ok(admin.post("/api/v1/organizations", json={
            "name": "acme", "admin": {"username": "acme-admin", "password": PASSWORD}}), 201)
        ok(admin.post("/api/v1/users", json={"username": "acme-op", "password": PASSWORD, "role": "operator",
                                              "organization_id": org["id"]}), 201)
        org_admin = token_client(server.url, "acme-admin", PASSWORD)
        operator = token_client(server.url, "acme-op", PASSWORD)
        key = next(k for k in ok(org_admin.get(f"/api/v1/organizations/{org['id']}/keys")) if k["primary"])
        yield {"org": org, "key": key, "admin": org_admin, "operator": operator,
               "sign": f"/api/v1/organizations/{org['id']}/keys/{key['id']}/sign"}


def test_undecodable_bytes_are_refused_and_audited(world, monkeypatch) -> None:
    monkeypatch.delenv(RAW_SIGNING_ENV, raising=False)
    for client in (world["admin"], world["operator"]):
        response = client.post(world["sign"], json={"message_hex": "c0ffee"})
        assert response.status_code == 400 and response.json()["code"] == "UNDECODABLE_INTENT"
    raw = world["admin"].post(world["sign"], json={"message_hex": "c0ffee", "intent": "raw"})
    assert raw.status_code == 403 and raw.json()["code"] == "RAW_SIGNING_DISABLED"
    not_invitation = world["admin"].post(world["sign"], json={"message_hex": b'{"a":1}'.hex(), "intent": "invitation"})
    assert not_invitation.json()["code"] == "UNDECODABLE_INTENT"
    refused = [e for e in ok(world["admin"].get("/api/v1/audit", params={"action": "key.sign_refused"}))]
    assert len(refused) >= 4
    assert {e["details"]["code"] for e in refused} >= {"UNDECODABLE_INTENT", "RAW_SIGNING_DISABLED"}


def test_a_transaction_is_signed_by_its_hash_and_audited_in_words(world) -> None:
    account = generate_keypair()
    builder = TransactionBuilder(LEDGER_HASH, time_ms=1).register_data_account(account.public.encoded)
    data = content_of(builder)
    signed = ok(world["operator"].post(world["sign"], json={"message_hex": data.hex()}))
    tx_hash = hash_transaction_content(builder.content(nonce=codec.decode(type(builder.content()), data).nonce))
    assert signed["signed"] == tx_hash.hex()
    assert verify(PublicKey.from_base58(world["key"]["public_key"]), tx_hash, from_base58(signed["signature"]))
    entry = ok(world["admin"].get("/api/v1/audit", params={"action": "key.signed"}))[0]
    assert entry["details"]["operations"] == ["RegisterDataAccount"]
    assert str(address_from_public_key(account.public)) in " ".join(entry["details"]["summary"])


def test_an_operator_may_not_have_the_organisation_sign_governance(world) -> None:
    freeze = TransactionBuilder(LEDGER_HASH, time_ms=1).add(UpdateAccountState("x", AccountState.FROZEN))
    response = world["operator"].post(world["sign"], json={"message_hex": content_of(freeze).hex()})
    assert response.status_code == 403 and response.json()["code"] == "INTENT_NOT_ALLOWED"
    proposal = TransactionBuilder(LEDGER_HASH, time_ms=1).propose([ConfigureRole("R", (), (), (), ())], "why")
    response = world["operator"].post(world["sign"], json={"message_hex": content_of(proposal).hex()})
    assert response.status_code == 403 and "Propose" in response.json()["message"]
    vote = TransactionBuilder(LEDGER_HASH, time_ms=1).vote(b"\x00" * 34)
    assert world["operator"].post(world["sign"], json={"message_hex": content_of(vote).hex(), "intent": "vote"}).status_code == 403
    # The organisation's admin may: the proposal is audited with what it proposes.
    signed = ok(world["admin"].post(world["sign"], json={"message_hex": content_of(proposal).hex()}))
    assert any("configure role 'R'" in line for line in signed["summary"])
    refusals = ok(world["admin"].get("/api/v1/audit", params={"action": "key.sign_refused"}))
    assert any(e["details"]["code"] == "INTENT_NOT_ALLOWED" for e in refusals)


def test_a_vote_intent_holds_only_votes_and_raw_needs_the_switch_and_the_admin(monkeypatch) -> None:
    kv = TransactionBuilder(LEDGER_HASH, time_ms=1).kv_set("acct", "k", 1)
    with pytest.raises(BaasError) as refused:
        decode_intent("vote", content_of(kv), "org_admin")
    assert refused.value.code == "INTENT_NOT_ALLOWED"
    monkeypatch.setenv(RAW_SIGNING_ENV, "1")
    assert decode_intent("raw", b"\x01", "org_admin").message == b"\x01"
    with pytest.raises(BaasError) as operator:
        decode_intent("raw", b"\x01", "operator")
    assert operator.value.code == "INTENT_NOT_ALLOWED"


def test_odd_content_is_shown_as_it_is_or_refused_never_a_crash() -> None:
    bogus_key = TransactionBuilder(LEDGER_HASH, time_ms=1).register_data_account(b"\x00\x01garbage")
    shown = decode_intent("transaction", content_of(bogus_key), "org_admin")
    assert "invalid key" in shown.summary[0]  # shown as what it is; the ledger refuses it
    wrong_hash = TransactionBuilder(b"\xff\xff" + bytes(32), time_ms=1).kv_set("acct", "k", 1)
    with pytest.raises(BaasError) as unknown:
        decode_intent("transaction", content_of(wrong_hash), "org_admin")
    assert unknown.value.code == "UNDECODABLE_INTENT"
