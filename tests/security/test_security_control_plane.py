"""Findings of the control plane's penetration test, one regression test each (issue: security hardening).

* High 1 — app settings are an allow-list per app kind; nothing a user sends names a server path; a TSA
  CA certificate is uploaded content, parsed and validated.
* High 2 — the first admin's password is in no log; the password file holds only the password; files in
  the data directory are not world-readable.
* Medium 4 — the control plane issues the evidence app's write credential, per app and organisation.
* Medium 5 — a password change or reset ends the user's sessions and API tokens; password policy; a
  maximum API-token lifetime.
* Low 7/8 — X-Forwarded-For only from configured proxies; throttling per client and account without
  locking the account for everyone; framing refused, CSP; request-body limit.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest


from tests.support.baas_testkit import admin_password, ok, running_baas, token_client  # noqa: E402

from baas.apps.evidence.tsa import TimestampAuthority  # noqa: E402

STRONG = "violet-harbour-engine-41"


@pytest.fixture(scope="module")
def baas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("baas-security")
    with running_baas(data_dir, login_max_failures=3, external_tsa_urls=["https://tsa.example.org/tsr"]) as server:
        server.data_dir = data_dir
        yield server


@pytest.fixture(scope="module")
def admin(baas: Any) -> httpx.Client:
    return token_client(baas.url, "admin", admin_password(baas.data_dir))


@pytest.fixture(scope="module")
def org_operator(baas: Any, admin: httpx.Client) -> dict[str, Any]:
    org = ok(admin.post("/api/v1/organizations", json={"name": "security-org"}), 201)
    ok(admin.post("/api/v1/users", json={"username": "sec-operator", "password": STRONG, "role": "operator",
                                         "organization_id": org["id"]}), 201)
    return {"org": org, "client": token_client(baas.url, "sec-operator", STRONG)}


# --- High 1: app settings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    {"external_tsa_ca_file": "/etc/passwd"},
    {"data_dir": "/"},
    {"network_name": "x", "public_url": "http://evil.example"},
    {"account": "LdeSomeoneElse"},
])
def test_an_evidence_app_refuses_settings_outside_its_allow_list(org_operator: dict[str, Any], settings: dict[str, Any]) -> None:
    response = org_operator["client"].post("/api/v1/apps", json={"kind": "evidence", "ledger_id": 1,
                                                                 "organization_id": org_operator["org"]["id"],
                                                                 "settings": settings})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "APP_SETTING_NOT_ALLOWED"


def test_traceability_takes_no_evidence_settings(org_operator: dict[str, Any]) -> None:
    response = org_operator["client"].post("/api/v1/apps", json={"kind": "traceability", "ledger_id": 1,
                                                                 "settings": {"external_tsa_url": "https://tsa.example.org/tsr"}})
    assert response.status_code == 422 and response.json()["code"] == "APP_SETTING_NOT_ALLOWED"


@pytest.mark.parametrize("pem", [
    "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    "root:x:0:0:root:/root:/bin/bash\n",
    "",
])
def test_a_tsa_ca_certificate_must_parse_as_a_certificate(org_operator: dict[str, Any], pem: str) -> None:
    response = org_operator["client"].post("/api/v1/apps", json={"kind": "evidence", "ledger_id": 1,
                                                                 "settings": {"external_tsa_ca_pem": pem}})
    assert response.status_code == 422 and response.json()["code"] == "INVALID_CERTIFICATE", response.text


def test_a_tsa_ca_certificate_that_is_not_a_ca_is_refused(org_operator: dict[str, Any], tmp_path: Path) -> None:
    authority = TimestampAuthority.load_or_create(tmp_path / "tsa", "leaf-test")
    response = org_operator["client"].post("/api/v1/apps", json={
        "kind": "evidence", "ledger_id": 1, "settings": {"external_tsa_ca_pem": authority.certificate_pem.decode()}})
    assert response.status_code == 422 and response.json()["code"] == "INVALID_CERTIFICATE", response.text


def test_a_valid_tsa_ca_certificate_passes_the_settings_check(org_operator: dict[str, Any], tmp_path: Path) -> None:
    authority = TimestampAuthority.load_or_create(tmp_path / "tsa", "ca-test")
    response = org_operator["client"].post("/api/v1/apps", json={
        "kind": "evidence", "ledger_id": 10**6, "settings": {"external_tsa_ca_pem": authority.ca_pem.decode()}})
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"  # settings fine; no such ledger


# --- Medium 3: external TSA URLs only from the platform admin's allow-list -------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:22/", "http://169.254.169.254/latest", "file:///etc/passwd",
                                 "https://tsa.example.org/tsr/../admin"])
def test_an_external_tsa_url_must_be_on_the_platform_allow_list(org_operator: dict[str, Any], url: str) -> None:
    response = org_operator["client"].post("/api/v1/apps", json={"kind": "evidence", "ledger_id": 1,
                                                                 "settings": {"external_tsa_url": url}})
    assert response.status_code == 422 and response.json()["code"] == "TSA_URL_NOT_ALLOWED", response.text


def test_an_allowed_external_tsa_url_passes_the_settings_check(org_operator: dict[str, Any]) -> None:
    response = org_operator["client"].post("/api/v1/apps", json={
        "kind": "evidence", "ledger_id": 10**6, "settings": {"external_tsa_url": "https://tsa.example.org/tsr"}})
    assert response.status_code == 404, response.text


# --- High 2: the first admin's password ------------------------------------------------------------------

def test_the_first_admin_password_is_in_no_log_and_alone_in_its_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from baas.app import create_app
    from baas.settings import BaasSettings

    data_dir = tmp_path / "fresh"
    create_app(BaasSettings(data_dir=data_dir, supervise=False))
    captured = capfd.readouterr()
    path = data_dir / "initial-admin-password"
    content = path.read_text()
    password = content.strip()
    assert content == password + "\n" and len(password) >= 20 and "\n" not in password and "admin" not in password
    assert password not in captured.err and password not in captured.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_file_in_the_data_directory_is_readable_by_others(baas: Any, admin: httpx.Client) -> None:
    ok(admin.get("/api/v1/auth/me"))  # the database and its WAL exist and were written
    offenders = []
    for root, directories, files in os.walk(baas.data_dir):
        for name in directories + files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            if mode & 0o077:
                offenders.append(f"{os.path.join(root, name)}: {oct(mode)}")
    assert stat.S_IMODE(os.stat(baas.data_dir).st_mode) & 0o077 == 0 or not offenders
    assert offenders == []


# --- Medium 5: sessions, tokens and passwords ---------------------------------------------------------------

def _login(url: str, username: str, password: str) -> tuple[httpx.Client, str]:
    web = httpx.Client(base_url=url, timeout=60)
    response = web.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return web, response.json()["csrf_token"]


def test_a_password_change_ends_the_other_sessions_and_tokens(baas: Any, admin: httpx.Client, org_operator: dict[str, Any]) -> None:
    org_id = org_operator["org"]["id"]
    ok(admin.post("/api/v1/users", json={"username": "changer", "password": STRONG, "role": "viewer",
                                         "organization_id": org_id}), 201)
    stolen_session, _ = _login(baas.url, "changer", STRONG)
    stolen_token = token_client(baas.url, "changer", STRONG)
    mine, csrf = _login(baas.url, "changer", STRONG)
    assert stolen_session.get("/api/v1/auth/me").status_code == 200
    changed = mine.post("/api/v1/auth/password", json={"current_password": STRONG,
                                                       "new_password": "quiet-lantern-river-77"},
                        headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 204, changed.text
    assert stolen_session.get("/api/v1/auth/me").status_code == 401
    assert stolen_token.get("/api/v1/auth/me").status_code == 401
    assert mine.get("/api/v1/auth/me").status_code == 200  # the session that changed it stays
    for client in (stolen_session, mine):
        client.close()


def test_a_password_reset_by_an_admin_ends_every_session_and_token(baas: Any, admin: httpx.Client, org_operator: dict[str, Any]) -> None:
    created = ok(admin.post("/api/v1/users", json={"username": "resettee", "password": STRONG, "role": "viewer",
                                                   "organization_id": org_operator["org"]["id"]}), 201)
    session, _ = _login(baas.url, "resettee", STRONG)
    token = token_client(baas.url, "resettee", STRONG)
    ok(admin.patch(f"/api/v1/users/{created['id']}", json={"password": "amber-meadow-signal-93"}))
    assert session.get("/api/v1/auth/me").status_code == 401
    assert token.get("/api/v1/auth/me").status_code == 401
    session.close()


@pytest.mark.parametrize("password", ["password123", "1234567890", "qwertyuiop", "aaaaaaaaaaaa", "short"])
def test_weak_passwords_are_refused(admin: httpx.Client, org_operator: dict[str, Any], password: str) -> None:
    response = admin.post("/api/v1/users", json={"username": "weakling", "password": password, "role": "viewer",
                                                 "organization_id": org_operator["org"]["id"]})
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("WEAK_PASSWORD", "INVALID_REQUEST")
    assert response.json()["code"] == "WEAK_PASSWORD" or len(password) < 12


@pytest.mark.parametrize("ttl", [None, 366, 3650])
def test_api_tokens_have_a_maximum_lifetime(admin: httpx.Client, ttl: Any) -> None:
    response = admin.post("/api/v1/tokens", json={"name": "forever", "ttl_days": ttl})
    assert response.status_code == 422, response.text


# --- Low 7: X-Forwarded-For and throttling -------------------------------------------------------------------

def test_x_forwarded_for_from_an_unconfigured_proxy_is_ignored(baas: Any, admin: httpx.Client) -> None:
    ok(admin.get("/api/v1/auth/me", headers={"X-Forwarded-For": "203.0.113.77"}))
    with httpx.Client(base_url=baas.url) as web:
        for _ in range(2):
            web.post("/api/v1/auth/login", json={"username": "nobody-xff", "password": "wrong-password-1"},
                     headers={"X-Forwarded-For": "198.51.100.9"})
    events = ok(admin.get("/api/v1/audit", params={"limit": 200}))
    items = events["items"] if isinstance(events, dict) else events
    clients = {item.get("client") for item in items}
    assert "198.51.100.9" not in clients and "203.0.113.77" not in clients


def test_failed_logins_from_one_client_do_not_lock_the_account_for_others(baas: Any) -> None:
    from baas.security import check_login_allowed  # noqa: F401  (the rule lives there)

    with baas.state.sessions() as session:
        from baas.models import LoginAttempt

        for _ in range(10):  # an attacker at 192.0.2.66 hammers the admin account
            session.add(LoginAttempt(username="admin", client="192.0.2.66", succeeded=False))
        session.commit()
    # The admin, from another address, still signs in.
    web, _ = _login(baas.url, "admin", admin_password(baas.data_dir))
    web.close()
    with baas.state.sessions() as session:
        from baas.errors import TooManyAttempts
        from baas.security import check_login_allowed as check

        settings = baas.state.settings
        with pytest.raises(TooManyAttempts):
            check(session, "admin", "192.0.2.66", settings.login_max_failures, settings.login_window_seconds)


# --- Low 8: web hardening --------------------------------------------------------------------------------------

def test_the_console_cannot_be_framed_and_sends_a_csp(baas: Any) -> None:
    for path in ("/ui/", "/ui/login", "/api/v1/auth/me"):
        response = httpx.get(baas.url + path)
        assert response.headers.get("x-frame-options") == "DENY", path
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
        assert response.headers.get("x-content-type-options") == "nosniff"


def test_an_oversized_request_body_is_refused_with_413(baas: Any, admin: httpx.Client) -> None:
    response = admin.post("/api/v1/organizations", content=b"{" + b" " * (3 << 20) + b"}",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "REQUEST_TOO_LARGE"


@contextlib.contextmanager
def _own_baas(data_dir: Path, **settings: Any) -> Iterator[Any]:
    """A second control plane that leaves the module's clients open (``running_baas`` closes them)."""
    from baas.app import create_app
    from baas.settings import BaasSettings
    from tests.support.baas_testkit import BaasServer

    server = BaasServer(create_app(BaasSettings(data_dir=data_dir, supervise=False, **settings))).start()
    try:
        yield server
    finally:
        server.stop()


def test_session_cookies_are_secure_when_served_over_tls(tmp_path: Path) -> None:
    """Behind a configured TLS-terminating proxy (X-Forwarded-Proto: https) cookies carry Secure; the
    same header from anyone else changes nothing."""
    data_dir = tmp_path / "tls"
    with _own_baas(data_dir, trusted_proxies=["127.0.0.1/32"]) as server:
        password = admin_password(data_dir)
        response = httpx.post(server.url + "/api/v1/auth/login", json={"username": "admin", "password": password},
                              headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.10"})
        assert response.status_code == 200, response.text
        cookies = response.headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("Secure" in cookie for cookie in cookies)
    with _own_baas(tmp_path / "plain") as server:
        password = admin_password(tmp_path / "plain")
        response = httpx.post(server.url + "/api/v1/auth/login", json={"username": "admin", "password": password},
                              headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == 200 and not any("Secure" in c for c in response.headers.get_list("set-cookie"))


# --- Medium 4: the control plane issues the evidence app's write credentials ----------------------------------

_ROWS = itertools.count()


def _app_row(baas: Any, org_id: int) -> int:
    """An evidence app record on a ledger of a consortium of ``org_id`` (rows only: no node is needed)."""
    from baas.models import AppInstance, Consortium, ConsortiumMember, LedgerRecord, Network

    unique = next(_ROWS)
    with baas.state.sessions() as session:
        consortium = Consortium(name=f"cred-{unique}", created_by_org_id=org_id)
        session.add(consortium)
        session.flush()
        session.add(ConsortiumMember(consortium_id=consortium.id, organization_id=org_id))
        network = Network(name=f"cred-net-{unique}", consortium_id=consortium.id)
        session.add(network)
        session.flush()
        ledger = LedgerRecord(network_id=network.id, name="l", ledger_hash=f"cred-ledger-{unique}",
                              hash_algorithm="SHA256", genesis_hex="")
        session.add(ledger)
        session.flush()
        instance = AppInstance(kind="evidence", ledger_id=ledger.id, organization_id=org_id, status="pending",
                               mount_path="/apps/evidence/x", settings={})
        session.add(instance)
        session.commit()
        return int(instance.id)


def test_write_credentials_are_issued_per_app_and_organisation(baas: Any, admin: httpx.Client,
                                                               org_operator: dict[str, Any]) -> None:
    from baas.routers.apps import credential_authorizer

    app_id = _app_row(baas, org_operator["org"]["id"])
    authorize = credential_authorizer(baas.state.sessions, app_id)
    issued = ok(org_operator["client"].post(f"/api/v1/apps/{app_id}/credentials", json={"name": "scanner"}), 201)
    assert authorize(issued["token"]) == "security-org"
    assert authorize(issued["token"] + "x") is None and authorize("jdapp_guess") is None
    listed = ok(org_operator["client"].get(f"/api/v1/apps/{app_id}/credentials"))
    assert [c["id"] for c in listed] == [issued["id"]] and "token" not in listed[0] and "hash" not in listed[0]

    other = ok(admin.post("/api/v1/organizations", json={"name": "outsider-org"}), 201)
    ok(admin.post("/api/v1/users", json={"username": "outsider-op", "password": STRONG, "role": "operator",
                                         "organization_id": other["id"]}), 201)
    outsider = token_client(baas.url, "outsider-op", STRONG)
    refused = outsider.post(f"/api/v1/apps/{app_id}/credentials", json={"name": "mine"})
    assert refused.status_code == 403
    # A platform admin cannot issue one for an organisation outside the app's consortium either.
    foreign = admin.post(f"/api/v1/apps/{app_id}/credentials", json={"name": "x", "organization_id": other["id"]})
    assert foreign.status_code == 400

    assert org_operator["client"].delete(f"/api/v1/apps/{app_id}/credentials/{issued['id']}").status_code == 204
    assert authorize(issued["token"]) is None


# --- Low 9 / 10: key re-import, contract drafts -------------------------------------------------------------

def test_importing_a_key_another_organisation_holds_is_a_409(admin: httpx.Client) -> None:
    from ledger.crypto import ED25519, generate_keypair, to_base58

    private = to_base58(generate_keypair(ED25519).private.encoded)
    ok(admin.post("/api/v1/organizations", json={"name": "key-holder", "import_private_key": private}), 201)
    again = admin.post("/api/v1/organizations", json={"name": "key-thief", "import_private_key": private})
    assert again.status_code == 409 and again.json()["code"] == "KEY_ALREADY_HELD", again.text


def test_an_undeployed_contract_source_stays_with_its_organisation(baas: Any, admin: httpx.Client,
                                                                   org_operator: dict[str, Any]) -> None:
    from baas.models import AppInstance, ConsortiumMember, Contract, LedgerRecord

    app_id = _app_row(baas, org_operator["org"]["id"])
    member = ok(admin.post("/api/v1/organizations", json={"name": "fellow-member"}), 201)
    ok(admin.post("/api/v1/users", json={"username": "fellow-op", "password": STRONG, "role": "operator",
                                         "organization_id": member["id"]}), 201)
    with baas.state.sessions() as session:
        ledger_id = session.get(AppInstance, app_id).ledger_id
        consortium_id = session.get(LedgerRecord, ledger_id).network.consortium_id
        session.add(ConsortiumMember(consortium_id=consortium_id, organization_id=member["id"]))
        draft = Contract(ledger_id=ledger_id, organization_id=org_operator["org"]["id"], name="secret-draft",
                         source="def secret(): pass  # pricing logic", version=1, status="uploaded")
        session.add(draft)
        session.commit()
        draft_id = draft.id
    fellow = token_client(baas.url, "fellow-op", STRONG)
    seen = ok(fellow.get(f"/api/v1/contracts/{draft_id}"))
    assert seen["source"] is None and seen["name"] == "secret-draft"
    assert ok(org_operator["client"].get(f"/api/v1/contracts/{draft_id}"))["source"].startswith("def secret")
    with baas.state.sessions() as session:
        session.get(Contract, draft_id).status = "deployed"
        session.commit()
    assert ok(fellow.get(f"/api/v1/contracts/{draft_id}"))["source"].startswith("def secret")


def test_the_control_plane_serves_over_tls_with_secure_cookies(tmp_path: Path) -> None:
    """``jadechain baas serve`` with a certificate and key: HTTPS only, and its cookies carry Secure."""
    import socket
    import ssl
    import subprocess
    import time

    from node.tls import create_consortium_ca, issue_certificate

    create_consortium_ca(tmp_path / "pki", "console")
    files = issue_certificate(tmp_path / "pki", "baas", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, JADECHAIN_BAAS_TLS_CERTIFICATE_FILE=files.cert_file, JADECHAIN_BAAS_TLS_KEY_FILE=files.key_file,
               JADECHAIN_BAAS_SUPERVISE="false")
    data_dir = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "baas", "serve", "--data-dir", str(data_dir), "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=str(Path(__file__).resolve().parents[2]))
    try:
        url = f"https://127.0.0.1:{port}"
        trust = ssl.create_default_context(cafile=files.ca_file)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz", verify=trust, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the control plane did not come up"
            time.sleep(0.3)
        login = httpx.post(url + "/api/v1/auth/login", verify=trust, timeout=60,
                           json={"username": "admin", "password": admin_password(data_dir)})
        assert login.status_code == 200
        assert all("Secure" in cookie for cookie in login.headers.get_list("set-cookie"))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # no plaintext on the TLS port
    finally:
        process.terminate()
        process.wait(30)


# --- API timestamps carry their time zone ---------------------------------------------------------------------

def test_api_timestamps_carry_their_offset(baas: Any, admin: httpx.Client, org_operator: dict[str, Any]) -> None:
    import datetime as dt

    created = ok(admin.post("/api/v1/tokens", json={"name": "tz", "ttl_days": 1}), 201)
    me_token = [t for t in ok(admin.get("/api/v1/tokens")) if t["id"] == created["id"]][0]
    org = ok(admin.get(f"/api/v1/organizations/{org_operator['org']['id']}"))
    users = ok(admin.get("/api/v1/users"))
    for value in (created["created_at"], created["expires_at"], me_token["created_at"], org["created_at"],
                  users[0]["created_at"]):
        parsed = dt.datetime.fromisoformat(value)
        assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0), value
