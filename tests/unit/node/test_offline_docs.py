"""/docs and /redoc of every Jadechain web app load their scripts and styles from the app itself.

The browser test (tests/e2e/test_first_hour.py) renders them in Chromium with the internet cut off; these
checks are the fast half: the pages name only local assets, the assets are served, a mounted app's page
points under its mount, and each of the four app factories installs the one helper.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger.crypto import ED25519, SHA256, generate_keypair, hash_digest, to_base58
from node.gateway.offline_docs import ASSETS_PATH, serve_docs_offline

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]|spec-url=["']([^"']+)["']""")


def page_urls(html: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in ASSET.finditer(html)]


def check_pages(client: TestClient, prefix: str = "") -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(f"{prefix}{page}")
        assert response.status_code == 200, (page, response.text[:200])
        urls = page_urls(response.text)
        assert urls, response.text
        assert all(url.startswith(f"{prefix}/") for url in urls), urls  # nothing from another host
        assert "cdn." not in response.text and "fonts.googleapis" not in response.text
        assert "Content-Security-Policy" in response.text and "default-src 'self'" in response.text
        for url in urls:
            if ASSETS_PATH in url:
                asset = client.get(url)
                assert asset.status_code == 200 and len(asset.content) > 1000, url
            if url.endswith("openapi.json"):
                assert client.get(url).json()["info"]["title"]


def test_pages_name_only_local_assets_and_serve_them() -> None:
    app = FastAPI(title="sample")

    @app.get("/hello")
    def hello() -> str:
        return "hi"

    serve_docs_offline(app)
    check_pages(TestClient(app))
    assert [getattr(route, "path", None) for route in app.routes].count("/docs") == 1


def test_a_mounted_app_points_under_its_mount() -> None:
    inner = FastAPI(title="inner")
    serve_docs_offline(inner)
    outer = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    outer.mount("/apps/evidence/1", inner)
    check_pages(TestClient(outer), "/apps/evidence/1")


def test_an_app_without_openapi_gets_no_docs() -> None:
    app = FastAPI(openapi_url=None)
    serve_docs_offline(app)
    assert TestClient(app).get("/docs").status_code == 404


def _uses_helper(app: FastAPI) -> bool:
    endpoints = {getattr(route, "path", None): getattr(route, "endpoint", None) for route in app.routes}
    return all(getattr(endpoints.get(path), "__module__", "") == "node.gateway.offline_docs"
               for path in ("/docs", "/redoc")) and ASSETS_PATH in endpoints


def test_every_app_factory_serves_docs_offline(tmp_path: Path) -> None:
    from baas.app import create_app as control_plane
    from baas.apps.evidence import EvidenceSettings, create_app as evidence
    from baas.apps.traceability.app import create_app as traceability
    from baas.apps.traceability.service import TraceabilitySettings
    from baas.settings import BaasSettings
    from node.gateway.app import create_app as gateway

    key = generate_keypair(ED25519)
    ledger = to_base58(hash_digest(SHA256, b"a ledger no node serves"))
    apps: dict[str, Any] = {
        "gateway": gateway({}),
        "control plane": control_plane(BaasSettings(data_dir=tmp_path / "cp", supervise=False)),
        "evidence": evidence(EvidenceSettings(gateways=["http://127.0.0.1:9"], ledger_hash=ledger, key=key,
                                              data_dir=str(tmp_path / "ev"))),
        "traceability": traceability(TraceabilitySettings(["http://127.0.0.1:9"], ledger, key, str(tmp_path / "t.db"))),
    }
    for name, app in apps.items():
        assert _uses_helper(app), name
    for name in ("gateway", "control plane", "evidence"):  # traceability answers only once its chain is reachable
        check_pages(TestClient(apps[name]))
