"""Accounts: first admin, argon2 hashes, API tokens (hash only, revocable, expiring), session + CSRF,
login throttling."""

from __future__ import annotations

import datetime as dt
import stat

import httpx
import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, database_rows, ok, running_baas, token_client
from sqlalchemy import update

from baas.models import ApiToken


@pytest.fixture(scope="module")
def baas(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-accounts")
    with running_baas(data_dir, login_max_failures=3) as server:
        server.data_dir = data_dir
        yield server


def test_first_admin_password_is_random_and_in_a_private_file(baas):
    path = baas.data_dir / "initial-admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert path.read_text() == password + "\n" and len(password) >= 20
    rows = database_rows(baas, "users", "password_hash")
    assert rows[0][0].startswith("$argon2id$") and password not in rows[0][0]


def test_session_cookie_needs_the_csrf_header_for_changes(baas):
    with httpx.Client(base_url=baas.url) as web:
        login = ok(web.post("/api/v1/auth/login", json={"username": "admin", "password": admin_password(baas.data_dir)}))
        assert web.cookies.get("jadechain_csrf") == login["csrf_token"]
        assert ok(web.get("/api/v1/auth/me"))["role"] == "platform_admin"
        refused = web.post("/api/v1/tokens", json={"name": "x"})
        assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
        wrong = web.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        ok(web.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": login["csrf_token"]}), 201)
        ok(web.post("/api/v1/auth/logout", headers={"X-CSRF-Token": login["csrf_token"]}), 204)
        assert web.get("/api/v1/auth/me").status_code == 401


def test_api_tokens_are_stored_as_hashes_revocable_and_expiring(baas):
    admin = token_client(baas.url, "admin", admin_password(baas.data_dir))
    created = ok(admin.post("/api/v1/tokens", json={"name": "ci", "ttl_days": 1}), 201)
    secret = created["token"]
    database = database_rows(baas, "api_tokens", "token_hash, prefix")
    assert all(secret != token_hash and secret not in token_hash for token_hash, _ in database)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(baas.url + "/api/v1/auth/me", headers=bearer).status_code == 200
    assert all(t.get("token") is None for t in ok(admin.get("/api/v1/tokens")))

    with baas.state.sessions() as session:  # the clock moves past the expiry
        session.execute(update(ApiToken).where(ApiToken.id == created["id"]).values(
            expires_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=1)))
        session.commit()
    assert httpx.get(baas.url + "/api/v1/auth/me", headers=bearer).status_code == 401

    second = ok(admin.post("/api/v1/tokens", json={"name": "ci2"}), 201)
    bearer = {"Authorization": f"Bearer {second['token']}"}
    assert httpx.get(baas.url + "/api/v1/auth/me", headers=bearer).status_code == 200
    ok(admin.delete(f"/api/v1/tokens/{second['id']}"), 204)
    assert httpx.get(baas.url + "/api/v1/auth/me", headers=bearer).status_code == 401
    assert httpx.get(baas.url + "/api/v1/auth/me", headers={"Authorization": "Bearer jdc_guess"}).status_code == 401


def test_login_is_throttled_after_repeated_failures(baas):
    admin = token_client(baas.url, "admin", admin_password(baas.data_dir))
    org = ok(admin.post("/api/v1/organizations", json={"name": "throttle", "admin": {"username": "tina", "password": PASSWORD}}), 201)
    assert org["public_key"]
    for _ in range(3):
        assert httpx.post(baas.url + "/api/v1/auth/login", json={"username": "tina", "password": "wrong password"}).status_code == 401
    blocked = httpx.post(baas.url + "/api/v1/auth/login", json={"username": "tina", "password": PASSWORD})
    assert blocked.status_code == 429 and blocked.json()["code"] == "TOO_MANY_ATTEMPTS"
    actions = [e["action"] for e in ok(admin.get("/api/v1/audit", params={"action": "auth.login_failed"}))]
    assert len(actions) >= 3


def test_deactivated_users_lose_their_tokens(baas):
    admin = token_client(baas.url, "admin", admin_password(baas.data_dir))
    org = ok(admin.post("/api/v1/organizations", json={"name": "leavers"}), 201)
    user = ok(admin.post("/api/v1/users", json={"username": "leo", "password": PASSWORD, "role": "viewer",
                                                "organization_id": org["id"]}), 201)
    leo = token_client(baas.url, "leo", PASSWORD)
    assert ok(leo.get("/api/v1/auth/me"))["username"] == "leo"
    ok(admin.delete(f"/api/v1/users/{user['id']}"), 204)
    assert leo.get("/api/v1/auth/me").status_code == 401


def test_errors_have_stable_codes_and_openapi_lists_every_resource(baas):
    spec = httpx.get(baas.url + "/openapi.json").json()
    paths = set(spec["paths"])
    for prefix in ("organizations", "consortia", "invitations", "networks", "ledgers", "nodes", "contracts", "apps",
                   "users", "tokens", "audit"):
        assert any(p.startswith(f"/api/v1/{prefix}") for p in paths), prefix
    assert httpx.get(baas.url + "/docs").status_code == 200
    body = httpx.get(baas.url + "/api/v1/networks").json()
    assert body["code"] == "UNAUTHENTICATED"
