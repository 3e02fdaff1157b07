"""Findings of the penetration test on the evidence app, one regression test each.

* High 1 — a bundle contains only what the app generated; a TSA CA is content, parsed and validated.
* Medium 3 — the external TSA fetch follows no redirect, reads a bounded reply and reports nothing
  about the internal network.
* Medium 4 — writes need a credential; per-organisation quotas; anonymous callers only verify and read.
* Low 9 — deeply nested JSON, lone surrogates, a list for ``digests``, CR/LF in a record id: 4xx.

One solo node and one evidence app on loopback; about 15 s.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from ledger.crypto import ED25519, generate_keypair
from jadechain.devnet.solo import SoloNode, create_dev_solo

from baas.apps.evidence import records
from baas.apps.evidence.client import EvidenceClient
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.server import EvidenceServer
from baas.apps.evidence.service import EvidenceService, EvidenceSettings, settings_from_mount, static_authorizer
from baas.apps.evidence.tsa import TimestampError, fetch_token

TOKEN_A = "jdapp_" + "a" * 43
TOKEN_B = "jdapp_" + "b" * 43
BOB = generate_keypair(ED25519)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("evidence-security")
    dev = create_dev_solo(str(root / "net"))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        settings = EvidenceSettings(
            gateways=[node.url], ledger_hash=dev.ledger_hash, key=dev.key, data_dir=str(root / "app"),
            authorize=static_authorizer({TOKEN_A: "org-a", TOKEN_B: "org-b"}),
            max_records_per_organization=4, max_kept_bytes_per_organization=4096,
        )
        with EvidenceServer(settings) as server:
            yield {"url": server.url, "settings": settings, "root": root, "dev": dev, "node": node}


def _digests(text: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(text).hexdigest()}


def _preserve(url: str, text: bytes, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + "/evidence", json={"digests": _digests(text), "title": "t", "type": "other",
                                               "parties": EvidenceClient.parties(("Bob", BOB))},
                      headers=headers, timeout=60)


# --- Medium 4: writes need a credential -----------------------------------------------------------------

def test_anonymous_writes_are_refused(app: dict[str, Any]) -> None:
    url = app["url"]
    assert _preserve(url, b"anonymous", None).status_code == 401
    assert _preserve(url, b"anonymous", "jdapp_" + "z" * 43).status_code == 401
    assert httpx.post(url + "/evidence/batch", json={"items": []}).status_code == 401
    assert httpx.post(url + f"/evidence/{'0' * 64}/signatures", json={"signatures": []}).status_code == 401
    assert httpx.post(url + "/evidence/tsa", content=b"x",
                      headers={"Content-Type": "application/timestamp-query"}).status_code == 401
    files = {"file": ("a.txt", b"kept without login")}
    response = httpx.post(url + "/evidence", params={"keep": "true"}, files=files, data={"title": "t", "type": "other"})
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHENTICATED"
    assert not (Path(app["settings"].data_dir) / "files").exists() or not any((Path(app["settings"].data_dir) / "files").iterdir())


def test_a_credential_writes_and_anonymous_users_still_verify_and_read(app: dict[str, Any]) -> None:
    url = app["url"]
    created = _preserve(url, b"with a credential", TOKEN_A)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    assert httpx.get(f"{url}/evidence/{record_id}").status_code == 200
    report = httpx.post(url + "/evidence/verify", json={"digests": _digests(b"with a credential")}, timeout=60)
    assert report.status_code == 200 and report.json()["on_chain"] is True
    app["record_id"] = record_id


def test_quotas_are_per_organisation(app: dict[str, Any]) -> None:
    url = app["url"]
    statuses = [_preserve(url, f"quota {i}".encode(), TOKEN_B).status_code for i in range(4)]
    assert statuses == [201] * 4
    refused = _preserve(url, b"quota 5", TOKEN_B)
    assert refused.status_code == 429 and refused.json()["code"] == "QUOTA_EXCEEDED"
    assert _preserve(url, b"org a goes on", TOKEN_A).status_code == 201  # another organisation is not affected


def test_kept_files_count_against_the_organisations_storage_quota(app: dict[str, Any]) -> None:
    url = app["url"]
    headers = {"Authorization": f"Bearer {TOKEN_A}"}
    big = httpx.post(url + "/evidence", params={"keep": "true"}, headers=headers, timeout=60,
                     files={"file": ("big.bin", b"x" * 5000)},
                     data={"title": "big", "type": "other", "parties": json.dumps(EvidenceClient.parties(("Bob", BOB)))})
    assert big.status_code == 413 and big.json()["code"] == "QUOTA_EXCEEDED", big.text
    kept = Path(app["settings"].data_dir) / "files"
    assert not kept.exists() or not any(kept.iterdir())
    assert not any((Path(app["settings"].data_dir) / "incoming").iterdir())


# --- High 1: the bundle and the TSA CA --------------------------------------------------------------------

def test_a_bundle_contains_only_what_the_app_generated(app: dict[str, Any]) -> None:
    zipped = httpx.get(f"{app['url']}/evidence/{app['record_id']}/bundle", timeout=60)
    assert zipped.status_code == 200
    names = set(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist())
    allowed = {"manifest.json", "record.json", "record-core.json", "proof/record.json", "proof/block-time.json",
               "validators.json", "tsa/ca.pem", "tsa/tsa.pem", "README.txt", "timestamps/1-network.tsr"}
    assert names <= allowed, names - allowed


class _Mount:
    """What the control plane hands an app, with a server path smuggled into ``extra``."""

    def __init__(self, app: dict[str, Any], secret: Path) -> None:
        self.gateway_urls = app["settings"].gateways
        self.ledger_hash = app["dev"].ledger_hash
        self.data_dir = str(app["root"] / "mounted")
        self.mount_path = "/apps/evidence/9"
        self.extra = {"external_tsa_ca_file": str(secret), "network_name": "n"}
        self.authorize = None
        self._key = app["dev"].key

    def keypair(self) -> Any:
        return self._key


def test_a_server_path_in_mount_settings_is_never_read(app: dict[str, Any], tmp_path: Path) -> None:
    secret = tmp_path / "baas.db-wal"
    secret.write_text("-----BEGIN CERTIFICATE-----\nsealed custody keys\n-----END CERTIFICATE-----\n")
    settings = settings_from_mount(_Mount(app, secret))
    service = EvidenceService(settings)
    assert service.external_ca_pem == b""
    assert not hasattr(settings, "external_tsa_ca_file") or settings.external_tsa_ca_file is None


@pytest.mark.parametrize("pem", [b"root:x:0:0:root:/root:/bin/bash\n", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_an_external_tsa_ca_must_be_a_certificate(app: dict[str, Any], pem: bytes) -> None:
    settings = EvidenceSettings(gateways=app["settings"].gateways, ledger_hash=app["dev"].ledger_hash,
                                key=app["dev"].key, data_dir=str(app["root"] / "bad-ca"), external_tsa_ca_pem=pem)
    with pytest.raises(EvidenceError) as refused:
        EvidenceService(settings)
    assert refused.value.code == "INVALID_CERTIFICATE"


# --- Medium 3: the external TSA fetch -------------------------------------------------------------------

class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            body = b"\x30" * (3 << 20)  # a 3 MiB "reply"
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def tsa_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    _Redirect.target = f"http://127.0.0.1:{server.server_address[1]}/internal-admin"
    _Redirect.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_external_tsa_fetch_follows_no_redirect(tsa_server: str) -> None:
    with pytest.raises(TimestampError) as refused:
        fetch_token(tsa_server + "/redirect", bytes(32))
    assert _Redirect.hits == ["/redirect"]
    assert "127.0.0.1" not in str(refused.value) and "307" not in str(refused.value)


def test_the_external_tsa_reply_is_size_limited(tsa_server: str) -> None:
    with pytest.raises(TimestampError) as refused:
        fetch_token(tsa_server + "/big", bytes(32))
    assert "127.0.0.1" not in str(refused.value)


def test_external_tsa_errors_reveal_nothing_about_the_network() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(TimestampError) as refused:
        fetch_token(f"http://127.0.0.1:{closed}/tsa", bytes(32), timeout=5)
    message = str(refused.value)
    assert str(closed) not in message and "refused" not in message.lower() and "127.0.0.1" not in message
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/"):
        with pytest.raises(TimestampError):
            fetch_token(url, bytes(32))


# --- Low 9: bad input is a 4xx ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"digests": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    b'{"digests": {"sha256": "' + b"ab" * 32 + b'"}, "title": "\\ud800", "type": "other"}',
    b'{"digests": ["' + b"ab" * 32 + b'"]}',
])
def test_malformed_json_is_a_4xx_with_a_code(app: dict[str, Any], body: bytes) -> None:
    for path in ("/evidence/prepare", "/evidence/verify"):
        response = httpx.post(app["url"] + path, content=body, headers={"Content-Type": "application/json"}, timeout=60)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
        assert response.json()["code"] != "INTERNAL_ERROR"


@pytest.mark.parametrize("suffix", ["", "/bundle", "/certificate.pdf"])
def test_cr_lf_in_a_record_id_is_a_404(app: dict[str, Any], suffix: str) -> None:
    record_id = "%0d%0a" + "ab" * 32
    response = httpx.get(f"{app['url']}/evidence/{record_id}{suffix}", timeout=60)
    assert response.status_code == 404 and response.json()["code"] == "RECORD_NOT_FOUND"


def test_the_evidence_app_refuses_framing(app: dict[str, Any]) -> None:
    response = httpx.get(app["url"] + "/evidence/verify")
    assert response.headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "")


def test_a_client_with_a_token_preserves(app: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "signed.txt"
    path.write_bytes(b"client with a token")
    with EvidenceClient(app["url"], token=TOKEN_A) as client:
        result = client.preserve_file(path, title="t", type="other", parties=EvidenceClient.parties(("Bob", BOB)),
                                      signer=BOB)
    assert result["status"] == "COMPLETE"
    assert records.digest_bytes(path.read_bytes())["sha256"]
