"""Key custody (SM4-GCM under a master key, never in clear in the database; signing and export only
for the owning organisation's admins) and the append-only, hash-chained audit log."""

from __future__ import annotations

import os

import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, drop_audit_update_trigger, ok, running_baas, stored_bytes, token_client
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from baas.audit import verify_chain
from baas.custody import Custody, load_master_key
from baas.models import CustodyKey
from ledger.crypto import PublicKey, decrypt_private_key, from_base58, generate_keypair, to_base58, verify
from ledger.errors import CryptoError


def test_master_key_file_is_private_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("JADECHAIN_MASTER_KEY", raising=False)
    path = tmp_path / "master.key"
    key = load_master_key(path)
    assert len(key) == 16 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_master_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError):
        load_master_key(path)
    monkeypatch.setenv("JADECHAIN_MASTER_KEY", "11" * 16)
    assert load_master_key(path) == bytes.fromhex("11" * 16)


def test_sealed_keys_open_only_with_the_master_key_and_their_own_row():
    custody = Custody(b"k" * 16)
    sealed = custody.seal(b"secret", b"row-1")
    assert b"secret" not in sealed
    assert custody.unseal(sealed, b"row-1") == b"secret"
    with pytest.raises(CryptoError):
        custody.unseal(sealed, b"row-2")
    with pytest.raises(CryptoError):
        Custody(b"x" * 16).unseal(sealed, b"row-1")


@pytest.fixture(scope="module")
def baas(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-custody")
    with running_baas(data_dir) as server:
        server.data_dir = data_dir
        admin = token_client(server.url, "admin", admin_password(data_dir))
        server.orgs = {name: ok(admin.post("/api/v1/organizations", json={
            "name": name, "algorithm": algorithm, "admin": {"username": f"{name}-admin", "password": PASSWORD}}), 201)
            for name, algorithm in (("sino", "SM2"), ("west", "ED25519"))}
        server.admin = admin
        yield server


def test_private_keys_never_reach_the_database_in_clear(baas):
    imported = generate_keypair()
    sino = token_client(baas.url, "sino-admin", PASSWORD)
    key = ok(sino.post(f"/api/v1/organizations/{baas.orgs['sino']['id']}/keys", json={
        "label": "imported", "import_private_key": to_base58(imported.private.encoded)}), 201)
    assert key["imported"] and key["public_key"] == imported.public.base58
    database = stored_bytes(baas)
    assert imported.private.raw not in database and imported.private.encoded not in database
    with baas.state.sessions() as session:
        for row in session.scalars(select(CustodyKey)):
            pair = baas.state.custody.keypair(row)
            assert pair.private.raw not in row.sealed_private_key
            assert pair.public.base58 == row.public_key


def test_signing_and_export_stay_with_the_owning_organisation(baas):
    sino = token_client(baas.url, "sino-admin", PASSWORD)
    west = token_client(baas.url, "west-admin", PASSWORD)
    sino_id = baas.orgs["sino"]["id"]
    keys = ok(sino.get(f"/api/v1/organizations/{sino_id}/keys"))
    primary = next(k for k in keys if k["primary"])
    assert primary["algorithm"] == "SM2"
    # Custody signs intents, not bytes: an invitation decision statement decodes and is signed as such.
    statement = (b'{"consortium":"c","decision":"approve","domain":"jadechain-baas/invitation/v1",'
                 b'"expires_at":"2030-01-01T00:00:00","invitation":1,"organization":"o","organization_public_key":"k"}')
    signed = ok(sino.post(f"/api/v1/organizations/{sino_id}/keys/{primary['id']}/sign",
                          json={"message_hex": statement.hex(), "intent": "invitation"}))
    assert verify(PublicKey.from_base58(primary["public_key"]), statement, from_base58(signed["signature"]))
    exported = ok(sino.post(f"/api/v1/organizations/{sino_id}/keys/{primary['id']}/export", json={"password": PASSWORD}))
    private = decrypt_private_key(exported["keystore"], PASSWORD)
    assert private.public_key().base58 == primary["public_key"]
    assert west.get(f"/api/v1/organizations/{sino_id}/keys").status_code == 403
    assert baas.admin.post(f"/api/v1/organizations/{sino_id}/keys/{primary['id']}/export", json={"password": PASSWORD}).status_code == 403
    actions = [e["action"] for e in ok(sino.get("/api/v1/audit"))]
    assert "key.signed" in actions and "key.exported" in actions and "key.imported" in actions


def test_the_database_refuses_to_change_or_delete_audit_entries(baas):
    for statement in ("UPDATE audit_log SET actor = 'nobody' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1"):
        with pytest.raises(DBAPIError, match="append-only"), baas.state.engine.begin() as connection:
            connection.execute(text(statement))
    assert ok(baas.admin.get("/api/v1/audit/verify"))["valid"] is True


def test_tampering_behind_the_databases_back_is_detected(baas):
    report = ok(baas.admin.get("/api/v1/audit/verify"))
    assert report["valid"] and report["entries"] >= 5
    with baas.state.engine.begin() as connection:  # someone with the file drops the trigger and edits history
        drop_audit_update_trigger(connection)
        connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    broken = ok(baas.admin.get("/api/v1/audit/verify"))
    assert broken == {"valid": False, "entries": 2, "first_bad_id": 2,
                      "reason": "entry content does not match its hash (it was modified)"}
    with baas.state.sessions() as session:
        assert verify_chain(session).first_bad_id == 2
