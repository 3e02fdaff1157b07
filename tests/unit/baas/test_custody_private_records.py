"""Private records read with a key in custody: only the owning organisation's users, every opening audited.

A record is sealed for an organisation's custody key (SM2 here) and a local key; a viewer of that
organisation reads it through the control plane (which returns the grade's data key, never the
private key); another organisation, a platform administrator, a node key and a tampered or
non-data-key envelope are refused; the audit log names each opening and refusal.
"""

from __future__ import annotations

import httpx
import pytest
from baas_testkit import PASSWORD, admin_password, ok, running_baas, token_client

from ledger.crypto import SM2, SM3, PublicKey, generate_keypair
from ledger.crypto.envelope import wrap_key
from ledger.private import GradeSpec, NotAReader, open_grade, seal_record
from jadechain.sdk.client import ApiError
from jadechain.sdk.private import CustodyReader

__all__ = ["running_baas"]  # the conftest runs this module on each database backend


def bearer(url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as web:
        response = web.post("/api/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        csrf = response.json()["csrf_token"]
        return str(web.post("/api/v1/tokens", json={"name": "reader"}, headers={"X-CSRF-Token": csrf}).json()["token"])


@pytest.fixture(scope="module")
def baas(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-private")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        server.admin_password = admin_password(data_dir)
        server.orgs = {name: ok(admin.post("/api/v1/organizations", json={
            "name": name, "algorithm": algorithm, "admin": {"username": f"{name}-admin", "password": PASSWORD}}), 201)
            for name, algorithm in (("clinic", "SM2"), ("insurer", "ED25519"))}
        clinic_admin = token_client(server.url, "clinic-admin", PASSWORD)
        ok(clinic_admin.post("/api/v1/users", json={"username": "clinic-viewer", "password": PASSWORD, "role": "viewer",
                                                    "organization_id": server.orgs["clinic"]["id"]}), 201)
        keys = ok(clinic_admin.get(f"/api/v1/organizations/{server.orgs['clinic']['id']}/keys"))
        server.clinic_key = next(k for k in keys if k["primary"])
        server.clinic_admin = clinic_admin
        yield server


def reader_for(baas, username: str, password: str = PASSWORD, *, key: dict | None = None, org: str = "clinic") -> CustodyReader:
    key = key or baas.clinic_key
    return CustodyReader(baas.url, bearer(baas.url, username, password), baas.orgs[org]["id"], key["id"],
                         PublicKey.from_base58(key["public_key"]), context="ledger L / account A / visit v0 / partner")


def sealed_for_clinic(baas):
    clinic = PublicKey.from_base58(baas.clinic_key["public_key"])
    assert clinic.algorithm == SM2
    return seal_record(account="A", key="visit", hash_algorithm=SM3, grades=[
        GradeSpec("partner", {"diagnosis": "J45.901"}, [clinic]),
        GradeSpec("owner", {"notes": "patient only"}, [generate_keypair(SM2).public]),
    ])


def audit_actions(baas) -> list[dict]:
    entries = ok(baas.clinic_admin.get("/api/v1/audit", params={"limit": 500}))
    items = entries["items"] if isinstance(entries, dict) else entries
    return sorted((e for e in items if str(e.get("action", "")).startswith("key.unwrap")), key=lambda e: e["id"])


def test_a_user_of_the_organisation_reads_through_custody_and_it_is_audited(baas) -> None:
    record = sealed_for_clinic(baas)
    before = len(audit_actions(baas))
    with reader_for(baas, "clinic-viewer") as reader:
        assert open_grade(record, "partner", reader, account="A", key="visit").values == {"diagnosis": "J45.901"}
        with pytest.raises(NotAReader):
            open_grade(record, "owner", reader, account="A", key="visit")
    opened = audit_actions(baas)[before:]
    assert [e["action"] for e in opened] == ["key.unwrapped"]
    assert opened[0]["actor"] == "clinic-viewer"
    assert opened[0]["details"]["context"] == "ledger L / account A / visit v0 / partner"


def test_other_organisations_and_the_platform_admin_are_refused(baas) -> None:
    record = sealed_for_clinic(baas)
    with reader_for(baas, "insurer-admin") as outsider:
        with pytest.raises(ApiError) as caught:
            open_grade(record, "partner", outsider, account="A", key="visit")
        assert caught.value.code == "FORBIDDEN"
    with reader_for(baas, "admin", baas.admin_password) as platform:
        with pytest.raises(ApiError) as caught:
            open_grade(record, "partner", platform, account="A", key="visit")
        assert caught.value.code == "FORBIDDEN"


def test_custody_opens_only_data_keys_and_audits_refusals(baas) -> None:
    clinic = PublicKey.from_base58(baas.clinic_key["public_key"])
    token = bearer(baas.url, "clinic-viewer", PASSWORD)
    path = f"/api/v1/organizations/{baas.orgs['clinic']['id']}/keys/{baas.clinic_key['id']}/unwrap"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=baas.url, timeout=60, headers=headers) as client:
        good = wrap_key(clinic, b"k" * 16)
        assert ok(client.post(path, json={"wrapped_key_hex": good.hex()}))["data_key_hex"] == (b"k" * 16).hex()
        before = len(audit_actions(baas))
        not_a_data_key = wrap_key(clinic, b"some other secret of 40 bytes..........")
        tampered = bytearray(good)
        tampered[-1] ^= 1
        for envelope in (not_a_data_key, bytes(tampered)):
            refused = client.post(path, json={"wrapped_key_hex": envelope.hex()})
            assert refused.status_code == 400 and refused.json()["code"] == "ENVELOPE_NOT_OPENED"
        assert client.post(path, json={"wrapped_key_hex": "zz"}).json()["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
        assert [e["action"] for e in audit_actions(baas)[before:]] == ["key.unwrap_refused"] * 2
        assert b"k" * 16 not in str(audit_actions(baas)).encode()
