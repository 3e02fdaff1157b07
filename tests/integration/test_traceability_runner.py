"""The standalone runner: ``python -m baas.apps.traceability`` against a solo node, driven over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.crypto import ED25519, address_from_public_key, encrypt_private_key, generate_keypair, save_keystore
from jadechain.devnet.solo import SoloNode, create_dev_solo

pytest.importorskip("contracts")
EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_runner_serves_capture_query_and_portal(tmp_path: Path) -> None:
    dev = create_dev_solo(str(tmp_path / "chain"))
    (tmp_path / "password").write_text(dev.password)
    (tmp_path / "admin-token").write_text("s3cret-admin")
    brand = generate_keypair(ED25519)
    save_keystore(tmp_path / "brand.json", encrypt_private_key(brand.private, dev.password, kdf="pbkdf2-sha256",
                                                               pbkdf2_iterations=1000))
    port = free_port()
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key]) as node:
        process = subprocess.Popen(
            [sys.executable, "-m", "baas.apps.traceability", "--gateway", node.url, "--ledger", dev.ledger_hash,
             "--key", dev.key_file, "--password-file", str(tmp_path / "password"), "--port", str(port),
             "--db", str(tmp_path / "index.sqlite3"), "--org", f"brand-token={tmp_path / 'brand.json'}",
             "--admin-token-file", str(tmp_path / "admin-token")],
            stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/traceability/brands", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, "runner did not start"
                    time.sleep(0.2)
            with httpx.Client(base_url=url, timeout=60) as http:
                admin = {"Authorization": "Bearer s3cret-admin"}
                assert http.post("/traceability/admin/brands", json={"prefix": "9521234"}).status_code == 401
                assert http.post("/traceability/admin/organisations", headers=admin,
                                 json={"publicKey": brand.public.base58, "name": "Jade Tea"}).status_code == 201
                assert http.post("/traceability/admin/brands", headers=admin, json={
                    "prefix": "9521234", "brand": address_from_public_key(brand.public),
                    "name": "Jade Tea Co"}).status_code == 201
                document = json.loads((EXAMPLES / "01_brand_production.jsonld").read_text())
                captured = http.post("/traceability/capture", json=document,
                                     headers={"Authorization": "Bearer brand-token"})
                assert captured.status_code == 201, captured.text
                status = http.get(f"/traceability/capture/{captured.json()['captureID']}").json()
                assert status["success"] is True
                assert len(http.get("/traceability/events").json()["epcisBody"]["queryResults"]["resultsBody"][
                    "eventList"]) == 4
                page = http.get("/t/01/09521234123453/21/1001")
                assert page.status_code == 200 and "Verified on chain" in page.text
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=30)
        for line in errors.splitlines():  # logs are one JSON object per line
            json.loads(line)
