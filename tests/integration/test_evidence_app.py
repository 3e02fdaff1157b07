"""The evidence app end to end against a real solo node over loopback HTTP.

One node, one evidence app (with a second, "external" RFC 3161 TSA served by a tiny HTTP server of
this test) for the whole module; the last test stops the network and checks bundles offline.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from baas.apps.evidence import records, verify_consistency_from, verify_evidence_zip
from baas.apps.evidence.client import EvidenceClient
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.server import EvidenceServer
from baas.apps.evidence.service import EvidenceSettings, static_authorizer
from baas.apps.evidence.tsa import TimestampAuthority, load_certificates, token_from_file, verify_token
from ledger.crypto import ED25519, SM2, generate_keypair
from ledger.proofs import verify_bundle
from jadechain.devnet.solo import SoloNode, create_dev_solo


class _TsaHandler(http.server.BaseHTTPRequestHandler):
    authority: TimestampAuthority

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = self.authority.respond(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


WRITE_TOKEN = "jdapp_integration-test-write-credential-0001"
WRITER = {"Authorization": f"Bearer {WRITE_TOKEN}"}


class Network:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dev = create_dev_solo(str(root / "net"))
        self.node = SoloNode(self.dev.data_dir, self.dev.ledger_hash, [self.dev.key]).start()
        external = TimestampAuthority.load_or_create(root / "external-tsa", "external")
        (root / "external-ca.pem").write_bytes(external.ca_pem)
        handler = type("Handler", (_TsaHandler,), {"authority": external})
        self.tsa_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.tsa_server.serve_forever, daemon=True).start()
        self.settings = EvidenceSettings(
            gateways=[self.node.url], ledger_hash=self.dev.ledger_hash, key=self.dev.key, data_dir=str(root / "app"),
            public_url="https://evidence.example.org",
            external_tsa_url=f"http://127.0.0.1:{self.tsa_server.server_address[1]}/tsa",
            external_tsa_ca_file=str(root / "external-ca.pem"),
            authorize=static_authorizer({WRITE_TOKEN: "tea-org"}),
        )
        self.app = EvidenceServer(self.settings).start()
        self.client = EvidenceClient(self.app.url, token=WRITE_TOKEN)

    def stop(self) -> None:
        self.client.close()
        self.app.stop()
        self.node.stop()
        self.tsa_server.shutdown()
        self.tsa_server.server_close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = Network(tmp_path_factory.mktemp("evidence"))
    yield network
    network.stop()


ALICE = generate_keypair(SM2)
BOB = generate_keypair(ED25519)
CAROL = generate_keypair(SM2)
SHARED: dict[str, Any] = {}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_preserve_then_verify_file_positive(net: Network, tmp_path: Path) -> None:
    contract = _write(tmp_path / "sale-contract.txt", b"Alice sells Bob 10 tons of tea.\n" * 5000)
    result = net.client.preserve_file(contract, title="Tea sale contract", type="contract",
                                      parties=EvidenceClient.parties(("Alice Co.", ALICE)), signer=ALICE)
    assert result["status"] == "COMPLETE" and result["signatures"] == 1
    assert [t["source"] for t in result["timestamps"]] == ["network", net.settings.external_tsa_url]
    SHARED["contract"], SHARED["contract_id"] = contract, result["id"]

    report = net.client.verify_file(contract)  # by upload, no id: the digest index finds it
    assert report["on_chain"] is True and report["differs"] == [] and report["id"] == result["id"]
    assert report["matched_by"] == "sha256"
    assert report["since"]["height"] == result["height"] and report["since"]["tx_hash"] == result["tx_hash"]
    assert report["since"]["certified"] is True
    assert [p["name"] for p in report["signed_by"]] == ["Alice Co."]
    expected = records.digest_bytes(contract.read_bytes())
    assert {name: item["expected"] for name, item in report["digests"].items()} == expected
    proof = verify_bundle(report["proof"], require_certificate=True)
    assert proof.claim["key"] == f"record/{result['id']}" and proof.certified

    by_sm3 = net.client.verify(sm3=expected["sm3"], proof=False)
    assert by_sm3["on_chain"] and by_sm3["matched_by"] == "sm3" and "proof" not in by_sm3
    by_digest = net.client.verify(digest=expected["sm3"], proof=False)
    assert by_digest["on_chain"] and by_digest["id"] == result["id"]
    by_id = net.client.verify(id=result["id"], proof=False)
    assert by_id["on_chain"] and by_id["title"] == "Tea sale contract"
    # the streamed upload was not kept
    assert not (Path(net.settings.data_dir) / "files" / result["id"]).exists()
    assert list((Path(net.settings.data_dir) / "incoming").iterdir()) == []


def test_modified_file_is_refused_naming_the_digests_that_differ(net: Network, tmp_path: Path) -> None:
    original: Path = SHARED["contract"]
    modified = _write(tmp_path / "sale-contract.txt", original.read_bytes().replace(b"10 tons", b"90 tons", 1))
    against_record = net.client.verify_file(modified, SHARED["contract_id"])
    assert against_record["on_chain"] is False
    assert against_record["differs"] == ["sha256", "sm3"]
    assert "SHA256 digest differs" in against_record["message"] and "SM3 digest differs" in against_record["message"]
    assert against_record["digests"]["sha256"]["given"] == hashlib.sha256(modified.read_bytes()).hexdigest()
    assert "proof" not in against_record
    alone = net.client.verify_file(modified)
    assert alone["on_chain"] is False and "no evidence record" in alone["message"]

    # A record made from a SHA-256 digest only: only that digest can differ.
    digest = hashlib.sha256(b"invoice 2026-001").hexdigest()
    record = net.client.preserve_digests({"sha256": digest}, title="Invoice 2026-001", type="invoice",
                                         parties=EvidenceClient.parties(("Bob Ltd.", BOB)), signer=BOB)
    other = hashlib.sha256(b"invoice 2026-002").hexdigest()
    report = net.client.verify(id=record["id"], sha256=other, proof=False)
    assert report["on_chain"] is False and report["differs"] == ["sha256"]


def test_multi_party_signing_goes_from_pending_to_complete(net: Network) -> None:
    parties = EvidenceClient.parties(("Alice Co.", ALICE), ("Bob Ltd.", BOB), ("Carol Logistics", CAROL))
    digests = records.digest_bytes(b"three-party framework agreement")
    created = net.client.preserve_digests(digests, title="Framework agreement", type="contract", parties=parties,
                                          signer=ALICE)
    record_id = created["id"]
    assert created["status"] == "PENDING"
    view = net.client.get(record_id)
    assert [p["signed"] for p in view["parties"]] == [True, False, False]

    outsider = generate_keypair(ED25519)
    with pytest.raises(EvidenceError) as refused:
        net.client.sign(record_id, outsider)
    assert refused.value.code == "NOT_A_PARTY" and refused.value.status == 403
    # Bob's real signature, but over another hash: refused.
    forged = {"public_key": BOB.public.base58, "signature": records.sign_record(bytes(32), BOB)["signature"]}
    response = httpx.post(f"{net.app.url}/evidence/{record_id}/signatures", json=forged, headers=WRITER)
    assert response.status_code == 400 and response.json()["code"] == "INVALID_SIGNATURE"

    after_bob = net.client.sign(record_id, BOB)
    assert after_bob["status"] == "PENDING" and after_bob["version"] == 1
    again = net.client.sign(record_id, BOB)  # idempotent: no new version
    assert again["version"] == 1
    after_carol = net.client.sign(record_id, CAROL)
    assert after_carol["status"] == "COMPLETE" and after_carol["version"] == 2 and after_carol["signatures"] == 3

    final = net.client.verify(id=record_id)
    assert final["status"] == "COMPLETE" and len(final["signed_by"]) == 3
    assert final["since"]["height"] == created["height"]  # "since when" stays the preservation block
    assert final["latest"]["version"] == 2
    assert verify_bundle(final["proof"], require_certificate=True).claim["version"] == 2
    SHARED["multi_id"] = record_id


def test_batch_preservation_gives_each_file_an_inclusion_path(net: Network, tmp_path: Path) -> None:
    paths = [_write(tmp_path / f"waybill-{i}.txt", f"waybill {i}: Shanghai -> Chengdu\n".encode() * (i + 1))
             for i in range(5)]
    handles = [open(path, "rb") for path in paths]
    try:
        form = {"title": "Waybills week 47", "type": "logistics",
                "parties": json.dumps(EvidenceClient.parties(("Carol Logistics", CAROL)))}
        response = httpx.post(f"{net.app.url}/evidence/batch", data=form, headers=WRITER,
                              files=[("files", (p.name, h)) for p, h in zip(paths, handles)], timeout=60)
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["status"] == "PENDING" and len(batch["members"]) == 5
    assert net.client.sign(batch["id"], CAROL)["status"] == "COMPLETE"
    for index, path in enumerate(paths):
        report = net.client.verify_file(path, proof=False)
        assert report["on_chain"] and report["id"] == batch["id"] and report["member"]["index"] == index
        member = report["member"]
        root = records.member_root({k: member[k] for k in ("name", "sha256", "sm3", "size")}, index,
                                   member["tree_size"], member["path"])
        assert root.hex() == member["root"]
    stranger = _write(tmp_path / "not-in-batch.txt", b"unrelated")
    not_member = net.client.verify_file(stranger, batch["id"], proof=False)
    assert not_member["on_chain"] is False
    SHARED["batch_id"], SHARED["batch_paths"] = batch["id"], paths


def _assert_qr_encodes(image: Any, url: str) -> None:
    """The QR image in the PDF has exactly the modules of the QR code of ``url`` (no decoder needed)."""
    import segno

    matrix = segno.make(url, error="m").matrix
    grey = image.convert("L")
    scale = grey.width // (len(matrix) + 4)
    assert grey.width == grey.height == scale * (len(matrix) + 4)
    for row, line in enumerate(matrix):
        for column, dark in enumerate(line):
            pixel = grey.getpixel(((column + 2) * scale + scale // 2, (row + 2) * scale + scale // 2))
            assert (pixel < 128) == bool(dark), (row, column)


def test_certificate_pdf_shows_the_record(net: Network) -> None:
    from pypdf import PdfReader

    record_id = SHARED["multi_id"]
    view = net.client.get(record_id)
    pdf = net.client.certificate(record_id)
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = text.replace("\n", "")
    core = view["record"]["core"]
    for value in (record_id, core["digests"]["sha256"], core["digests"]["sm3"], "Framework agreement",
                  "Alice Co.", "Bob Ltd.", "Carol Logistics", view["since"]["tx_hash"], view["since"]["time_iso"],
                  view["ledger_hash"], "COMPLETE"):
        assert value in flat, value
    for party in view["parties"]:
        assert party["signature"] in flat
    assert f"Block height{view['since']['height']}" in flat.replace(" ", "") or f"\n{view['since']['height']}\n" in text
    for token in view["timestamps"]:
        assert token["serial_hex"] in flat and token["gen_time"] in flat
    validators = httpx.get(f"{net.node.url}/api/v1/ledgers/{net.dev.ledger_hash}/validators").json()
    fingerprint = net.app.service.validator_fingerprint(validators)
    assert fingerprint in flat
    assert f"https://evidence.example.org/evidence/verify?id={record_id}" in flat
    _assert_qr_encodes(PdfReader(io.BytesIO(pdf)).pages[0].images[0].image,
                       f"https://evidence.example.org/evidence/verify?id={record_id}")
    member_pdf = net.client.certificate(SHARED["batch_id"], member=2)
    member_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(member_pdf)).pages).replace("\n", "")
    assert records.digest_file(SHARED["batch_paths"][2])[0]["sha256"] in member_text


def test_verification_page_hashes_in_the_browser(net: Network) -> None:
    page = httpx.get(f"{net.app.url}/evidence/verify")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "crypto.subtle.digest('SHA-256'" in page.text and "fetch('verify" in page.text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_verification_page_in_a_real_browser(net: Network) -> None:
    """The QR code's link opened in headless Chromium shows the verified record (the page's JS runs)."""
    url = f"{net.app.url}/evidence/verify?id={SHARED['multi_id']}"
    run = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    result = run.stdout[run.stdout.index('id="result"'):]
    assert "On chain: the evidence is preserved" in result and "Framework agreement" in result
    assert "Carol Logistics (SM2) signed" in result and f"{SHARED['multi_id']}/certificate.pdf" in result


def test_consistency_proof_against_an_older_checkpoint(net: Network) -> None:
    # A verifier checked a bundle some time ago and kept its checkpoint ...
    checkpoint = verify_evidence_zip(net.client.bundle(SHARED["contract_id"])).checkpoint
    net.client.preserve_digests({"sha256": "cd" * 32}, title="Later record", type="other",
                                parties=EvidenceClient.parties(("Bob Ltd.", BOB)), signer=BOB)
    # ... and now asks for proof that the ledger only grew since.
    response = httpx.get(f"{net.app.url}/evidence/consistency", params={"old_height": checkpoint["height"]})
    assert response.status_code == 200
    report = verify_bundle(response.json(), require_certificate=True)
    assert report.kind == "consistency" and report.claim["old_height"] == checkpoint["height"]
    newer = verify_consistency_from(checkpoint, response.json())
    assert newer["height"] > checkpoint["height"]
    forged = dict(checkpoint, header_hash=newer["header_hash"])
    with pytest.raises(EvidenceError) as rewritten:
        verify_consistency_from(forged, response.json())
    assert rewritten.value.code == "HISTORY_REWRITTEN"
    assert httpx.get(f"{net.app.url}/evidence/consistency", params={"old_height": 10**9}).status_code == 400


def test_errors_are_code_and_message(net: Network) -> None:
    missing = httpx.get(f"{net.app.url}/evidence/{'ab' * 32}")
    assert missing.status_code == 404 and missing.json()["code"] == "RECORD_NOT_FOUND"
    bad = httpx.post(f"{net.app.url}/evidence", json={"title": "x", "type": "poem", "parties": [], "digests": {}},
                     headers=WRITER)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_METADATA"
    again = httpx.post(f"{net.app.url}/evidence/verify", json={})
    assert again.status_code == 400 and again.json()["code"] == "INVALID_REQUEST"


def test_keep_true_stores_the_file(net: Network, tmp_path: Path) -> None:
    kept = _write(tmp_path / "scan.pdf", b"%PDF-1.4 scanned certificate")
    result = net.client.preserve_file(kept, title="Diploma scan", type="certificate",
                                      parties=EvidenceClient.parties(("Bob Ltd.", BOB)), signer=BOB, keep=True)
    assert (Path(net.settings.data_dir) / "files" / result["id"]).read_bytes() == kept.read_bytes()


def test_bundles_verify_offline_after_the_network_stops(net: Network, tmp_path: Path) -> None:
    bundles = {
        "contract": net.client.bundle(SHARED["contract_id"]),
        "multi": net.client.bundle(SHARED["multi_id"]),
        "member": net.client.bundle(SHARED["batch_id"], member=3),
    }
    net.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{net.node.url}/health", timeout=2)
    external_ca = load_certificates((net.root / "external-ca.pem").read_bytes())
    for name, data in bundles.items():
        path = _write(tmp_path / f"{name}.zip", data)
        report = verify_evidence_zip(path)
        assert report.valid, (name, report.failures)
        assert report.certified_time is not None and report.height is not None
        assert len(report.timestamps) == 2
    contract_report = verify_evidence_zip(tmp_path / "contract.zip", file=SHARED["contract"])
    assert contract_report.valid and contract_report.status == "COMPLETE"
    multi = verify_evidence_zip(tmp_path / "multi.zip")
    assert [s["signed"] for s in multi.signers] == [True, True, True]
    assert any("version 0" in check for check in multi.checks)
    member = verify_evidence_zip(tmp_path / "member.zip", file=SHARED["batch_paths"][3])
    assert member.valid and member.member == 3 and any("inclusion path" in c for c in member.checks)
    wrong_member = verify_evidence_zip(tmp_path / "member.zip", file=SHARED["batch_paths"][1])
    assert not wrong_member.valid and any("SHA256 digest differs" in f for f in wrong_member.failures)

    # Tampering is caught: a signature swapped, a member moved.
    with zipfile.ZipFile(tmp_path / "multi.zip") as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    record = json.loads(files["record.json"])
    record["signatures"][0]["signature"] = record["signatures"][1]["signature"]
    files["record.json"] = json.dumps(record).encode()
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    bad = verify_evidence_zip(tampered.getvalue())
    assert not bad.valid and any("record.json" in f for f in bad.failures)

    # The pieces verify with standard tools too: jadechain verify, openssl ts -verify.
    unpacked = tmp_path / "multi"
    with zipfile.ZipFile(tmp_path / "multi.zip") as archive:
        archive.extractall(unpacked)
    from typer.testing import CliRunner

    from jadechain.cli.app import app as cli

    outcome = CliRunner().invoke(cli, ["verify", str(unpacked / "proof" / "record.json"), "--validators",
                                       str(unpacked / "validators.json"), "--json"])
    assert outcome.exit_code == 0 and json.loads(outcome.stdout)["valid"] is True
    external_token = token_from_file((unpacked / "timestamps" / "2-external.tsr").read_bytes())
    verify_token(external_token, imprint=hashlib.sha256((unpacked / "record-core.json").read_bytes()).digest(),
                 trusted_cas=external_ca)
    if shutil.which("openssl"):
        for token, ca in (("1-network.tsr", "tsa/ca.pem"), ("2-external.tsr", "tsa/external-ca.pem")):
            result = subprocess.run(
                ["openssl", "ts", "-verify", "-data", str(unpacked / "record-core.json"),
                 "-in", str(unpacked / "timestamps" / token), "-CAfile", str(unpacked / ca)],
                capture_output=True, text=True, timeout=30)
            assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
