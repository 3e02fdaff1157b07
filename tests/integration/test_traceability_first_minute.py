"""The first minute: the control plane mounts the app, the runner hands out a working token, the
consumer page speaks the product's name and the event's own local time."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from baas.apps.traceability import create_app
from jadechain.devnet.solo import SoloNode, create_dev_solo

pytest.importorskip("contracts")
EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"
CREDENTIAL = "jdapp_first-minute-credential"
MASTER_DATA = {"vocabularyList": [
    {"type": "urn:epcglobal:epcis:vtype:EPCClass", "vocabularyElementList": [
        {"id": "urn:epc:idpat:sgtin:9521234.012345.*", "attributes": [
            {"id": "urn:epcglobal:cbv:mda#descriptionShort", "attribute": "Dragon Well green tea, 100 g"},
            {"id": "https://gs1.org/voc/image", "attribute": "https://img.example.org/dragon-well.png"}]}]},
    {"type": "urn:epcglobal:epcis:vtype:BusinessLocation", "vocabularyElementList": [
        {"id": "urn:epc:id:sgln:9521234.00002.0", "attributes": [
            {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Jade Tea Estate"},
            {"id": "urn:epcglobal:cbv:mda#city", "attribute": "Hangzhou"}]}]},
]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_control_plane_mounts_the_app_and_its_credential_captures(tmp_path: Path) -> None:
    dev = create_dev_solo(str(tmp_path / "chain"))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key]) as node:
        mount = SimpleNamespace(  # what baas.routers.apps.mount_instance passes (AppMountSettings)
            instance_id=7, kind="traceability", ledger_hash=dev.ledger_hash, gateway_urls=[node.url],
            organization="Jade Tea", public_key=dev.key.public.base58, mount_path="/apps/traceability/7",
            data_dir=str(tmp_path / "apps" / "7"), sign=None, keypair=lambda: dev.key,
            extra={"public_url": "http://127.0.0.1:8700"},
            authorize=lambda secret: "Jade Tea" if secret == CREDENTIAL else None)
        parent = FastAPI()
        parent.mount(mount.mount_path, create_app(mount))  # Starlette runs no lifespan for a mounted app

        async def scenario() -> None:
            transport = httpx.ASGITransport(app=parent)
            async with httpx.AsyncClient(transport=transport, base_url="http://baas", timeout=60) as client:
                base = mount.mount_path
                owner = {"Authorization": f"Bearer {CREDENTIAL}"}
                assert (await client.post(f"{base}/traceability/admin/brands",
                                          json={"prefix": "9521234"})).status_code == 401
                from ledger.crypto import address_from_public_key
                registered = await client.post(f"{base}/traceability/admin/brands", headers=owner, json={
                    "prefix": "9521234", "brand": address_from_public_key(dev.key.public), "name": "Jade Tea"})
                assert registered.status_code == 201, registered.text
                stored = await client.post(f"{base}/traceability/masterdata", headers=owner, json=MASTER_DATA)
                assert stored.status_code == 201 and stored.json()["elements"] == 2, stored.text
                assert stored.json()["txHash"] and stored.json()["height"] > 0  # recorded on chain
                document = json.loads((EXAMPLES / "01_brand_production.jsonld").read_text())
                assert (await client.post(f"{base}/traceability/capture", json=document)).status_code == 401
                captured = await client.post(f"{base}/traceability/capture", json=document, headers=owner)
                assert captured.status_code == 201, captured.text
                page = await client.get(f"{base}/t/01/09521234123453/21/1001")
                assert page.status_code == 200
                assert "data-testid='product-name'>Dragon Well green tea, 100 g<" in page.text
                assert "src='https://img.example.org/dragon-well.png'" in page.text
                assert "Jade Tea Estate, Hangzhou" in page.text
                assert "2026-03-02 09:00 (UTC+08:00)" in page.text
                assert "(UTC+00:00)" not in page.text
                mdata = await client.get(f"{base}/traceability/masterdata/urn:epc:idpat:sgtin:9521234.012345.*")
                assert mdata.json()["attributes"]["urn:epcglobal:cbv:mda#descriptionShort"].startswith("Dragon")
                foreign = {"vocabularyList": [{"type": "urn:epcglobal:epcis:vtype:EPCClass", "vocabularyElementList": [
                    {"id": "urn:epc:idpat:sgtin:0614141.107346.*", "attributes": []}]}]}
                refused = await client.post(f"{base}/traceability/masterdata", headers=owner, json=foreign)
                assert refused.status_code == 403 and refused.json()["code"] == "PREFIX_NOT_AUTHORISED"

        asyncio.run(scenario())
        parent.routes.clear()


def test_mounted_app_without_a_reachable_ledger_answers_503_not_500(tmp_path: Path) -> None:
    from ledger.crypto import ED25519, generate_keypair

    pair = generate_keypair(ED25519)
    mount = SimpleNamespace(
        instance_id=8, kind="traceability", ledger_hash="x", gateway_urls=["http://127.0.0.1:9"],
        organization="org0", public_key=pair.public.base58, mount_path="/apps/traceability/8",
        data_dir=str(tmp_path / "apps" / "8"), sign=None, keypair=lambda: pair, extra={}, authorize=lambda s: None)
    parent = FastAPI()
    parent.mount(mount.mount_path, create_app(mount))

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=parent), base_url="http://baas") as client:
            response = await client.get("/apps/traceability/8/traceability/events")
            assert response.status_code == 503 and response.json()["code"] == "CHAIN_UNAVAILABLE"

    asyncio.run(scenario())
    assert stat.S_IMODE(os.stat(tmp_path / "apps" / "8").st_mode) == 0o700


def test_runner_creates_a_working_token_and_logs_a_capture_command_that_works(tmp_path: Path) -> None:
    dev = create_dev_solo(str(tmp_path / "chain"))
    (tmp_path / "password").write_text(dev.password)
    port = free_port()
    token_file, keystore = tmp_path / "org.token", tmp_path / "org.keystore"
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key]) as node:
        process = subprocess.Popen(
            [sys.executable, "-m", "baas.apps.traceability", "--gateway", node.url, "--ledger", dev.ledger_hash,
             "--key", dev.key_file, "--password-file", str(tmp_path / "password"), "--port", str(port),
             "--db", str(tmp_path / "index.sqlite3"), "--org-token-file", str(token_file),
             "--org-keystore", str(keystore), "--org-name", "Jade Tea", "--brand-prefix", "9521234",
             "--admin-token-file", str(tmp_path / "admin.token"), "--example-document", str(tmp_path / "first.jsonld")],
            stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(url + "/traceability/brands", timeout=2).json():
                        break  # the prefix is registered: the organisation can capture
                except (httpx.TransportError, ValueError):
                    pass
                assert process.poll() is None and time.monotonic() < deadline, "runner did not get ready"
                time.sleep(0.2)
            for path in (token_file, keystore, tmp_path / "admin.token"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert httpx.get(url + "/traceability/brands").json()[0]["name"] == "Jade Tea"
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=30)
        logged = [json.loads(line) for line in errors.splitlines()]
        command = next(re.search(r"(curl .*)$", entry["message"]).group(1) for entry in logged
                       if "ready to capture" in entry["message"])
        assert str(token_file) in command and "$(cat" in command
        # the logged command, run as printed (with the example document), captures
        process = subprocess.Popen(
            [sys.executable, "-m", "baas.apps.traceability", "--gateway", node.url, "--ledger", dev.ledger_hash,
             "--key", dev.key_file, "--password-file", str(tmp_path / "password"), "--port", str(port),
             "--db", str(tmp_path / "index.sqlite3"), "--org-token-file", str(token_file),
             "--org-keystore", str(keystore), "--org-name", "Jade Tea", "--brand-prefix", "9521234"],
            stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    httpx.get(url + "/traceability/brands", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, "runner did not restart"
                    time.sleep(0.2)
            assert f"@{tmp_path / 'first.jsonld'}" in command
            result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
            body: dict[str, Any] = json.loads(result.stdout)
            assert body["eventCount"] == 1, result.stdout + result.stderr  # the command works as logged
            again = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
            assert json.loads(again.stdout)["code"] == "DUPLICATE_EVENT"
            document = EXAMPLES / "01_brand_production.jsonld"
            result = subprocess.run(["bash", "-c", command.replace(f"@{tmp_path / 'first.jsonld'}", f"@{document}")],
                                    capture_output=True, text=True, timeout=120)
            assert json.loads(result.stdout)["eventCount"] == 4, result.stdout + result.stderr
        finally:
            process.terminate()
            process.communicate(timeout=30)
