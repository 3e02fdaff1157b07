"""The control plane mounts the evidence app from its AppMountSettings; nothing talks to a node
until the first request that needs the chain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from baas.apps.evidence import create_app
from baas.apps.evidence.service import settings_from_mount
from ledger.crypto import ED25519, SHA256, generate_keypair, hash_digest, to_base58


def _mount(tmp_path: Path) -> SimpleNamespace:
    pair = generate_keypair(ED25519)
    return SimpleNamespace(
        instance_id=3, kind="evidence", ledger_hash=to_base58(hash_digest(SHA256, b"genesis")),
        gateway_urls=["http://127.0.0.1:9"], organization="org0", public_key=pair.public.base58,
        mount_path="/apps/evidence/3", data_dir=str(tmp_path / "apps" / "3"), sign=None, keypair=lambda: pair,
        extra={"public_url": "https://baas.example.org/"},
        authorize=lambda secret: "org0" if secret == "jdapp_mount-test-credential" else None,
    )


def test_mount_settings_become_evidence_settings(tmp_path: Path) -> None:
    settings = settings_from_mount(_mount(tmp_path))
    assert settings.public_url == "https://baas.example.org/apps/evidence/3"
    assert settings.gateways == ["http://127.0.0.1:9"] and settings.data_dir.endswith("apps/3")


def test_mounted_app_serves_page_and_tsa_without_a_node(tmp_path: Path) -> None:
    parent = FastAPI()
    parent.mount("/apps/evidence/3", create_app(_mount(tmp_path)))

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=parent), base_url="http://baas") as client:
            page = await client.get("/apps/evidence/3/evidence/verify")
            assert page.status_code == 200 and "crypto.subtle.digest" in page.text
            ca = await client.get("/apps/evidence/3/evidence/tsa/ca.pem")
            assert ca.status_code == 200 and ca.text.startswith("-----BEGIN CERTIFICATE-----")
            anonymous = await client.post("/apps/evidence/3/evidence/tsa", content=b"x",
                                          headers={"content-type": "application/timestamp-query"})
            assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHENTICATED"
            refused = await client.post("/apps/evidence/3/evidence/tsa", content=b"x",
                                        headers={"content-type": "text/plain",
                                                 "authorization": "Bearer jdapp_mount-test-credential"})
            assert refused.status_code == 415 and refused.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"

    asyncio.run(scenario())
