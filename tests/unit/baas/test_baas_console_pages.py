"""Every console page renders for every role (with only what the role may see), and sends the
anonymous visitor to the sign-in page."""

from __future__ import annotations

import httpx
import pytest
from tests.support.baas_testkit import PASSWORD, admin_password, ok, running_baas, token_client

PAGES = ("/ui/", "/ui/organizations", "/ui/consortia", "/ui/invitations", "/ui/networks", "/ui/apps", "/ui/audit")


@pytest.fixture(scope="module")
def baas(tmp_path_factory, baas_database):
    data_dir = tmp_path_factory.mktemp("baas-pages")
    with running_baas(data_dir) as server:
        admin = token_client(server.url, "admin", admin_password(data_dir))
        org = ok(admin.post("/api/v1/organizations", json={"name": "acme", "admin": {"username": "acme", "password": PASSWORD}}), 201)
        ok(admin.post("/api/v1/organizations", json={"name": "other", "admin": {"username": "other", "password": PASSWORD}}), 201)
        for role in ("operator", "viewer"):
            ok(admin.post("/api/v1/users", json={"username": f"acme-{role}", "password": PASSWORD, "role": role,
                                                 "organization_id": org["id"]}), 201)
        acme = token_client(server.url, "acme", PASSWORD)
        ok(acme.post("/api/v1/consortia", json={"name": "secret-club", "description": "<script>alert(1)</script>"}), 201)
        server.admin_password = admin_password(data_dir)
        yield server


def session_for(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url)
    client.__enter__()
    ok(client.post("/api/v1/auth/login", json={"username": username, "password": password}))
    return client


@pytest.mark.parametrize("who", ["admin", "acme", "acme-operator", "acme-viewer", "other"])
def test_pages_render_for_each_role(baas, who):
    password = baas.admin_password if who == "admin" else PASSWORD
    web = session_for(baas.url, who, password)
    try:
        for page in PAGES:
            response = web.get(page)
            assert response.status_code == 200, (who, page)
            assert f"{who} ·" in response.text
            assert "<script>alert(1)</script>" not in response.text  # escaped everywhere
        overview = web.get("/ui/consortia").text
        assert ("secret-club" in overview) == (who in ("admin", "acme", "acme-operator", "acme-viewer"))
        assert ('id="create-organization"' in web.get("/ui/organizations").text) == (who == "admin")
        audit = web.get("/ui/audit").text
        assert ("the audit log is for administrators" in audit) == (who in ("acme-operator", "acme-viewer"))
    finally:
        web.close()


def test_anonymous_visitors_are_sent_to_sign_in(baas):
    with httpx.Client(base_url=baas.url) as anonymous:
        for page in PAGES:
            response = anonymous.get(page)
            assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next=")
        assert anonymous.get("/ui/login").status_code == 200
        assert anonymous.get("/", follow_redirects=True).url.path == "/ui/login"
        assert "console.js" in anonymous.get("/ui/login").text
        assert anonymous.get("/ui/static/console.js").status_code == 200
