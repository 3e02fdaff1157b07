"""The consumer page in headless Chromium: mobile timeline, verified badge, downloadable proof."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from baas.apps.traceability.app import create_app
from baas.apps.traceability.server import AppServer
from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings
from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.proofs import validators_from_json, verify_bundle
from jadechain.devnet.solo import SoloNode, create_dev_solo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"

pytest.importorskip("contracts")


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.jsonld").read_text()))


PRODUCT_NAME = "Dragon Well green tea, 100 g"
MASTER_DATA = {"vocabularyList": [
    {"type": "urn:epcglobal:epcis:vtype:EPCClass", "vocabularyElementList": [
        {"id": "urn:epc:idpat:sgtin:9521234.012345.*", "attributes": [
            {"id": "urn:epcglobal:cbv:mda#descriptionShort", "attribute": PRODUCT_NAME}]}]},
    {"type": "urn:epcglobal:epcis:vtype:BusinessLocation", "vocabularyElementList": [
        {"id": "urn:epc:id:sgln:9521234.00002.0", "attributes": [
            {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Jade Tea Estate"},
            {"id": "urn:epcglobal:cbv:mda#city", "attribute": "Hangzhou"}]}]}]}


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium is not installed (/usr/bin/chromium)")
def test_consumer_page_in_headless_chromium(tmp_path: Path) -> None:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    dev = create_dev_solo(str(tmp_path / "chain"))
    brand, partner = generate_keypair(ED25519), generate_keypair(ED25519)
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key]) as node:
        settings = TraceabilitySettings([node.url], dev.ledger_hash, dev.key, str(tmp_path / "index.sqlite3"),
                                        organisations={"b": brand, "p": partner})
        service = TraceabilityService(settings).start()
        try:
            service.register_organisation(brand.public, "brand")
            service.register_organisation(partner.public, "partner")
            service.register_brand("9521234", address_from_public_key(brand.public), "Jade Tea Co")
            service.set_partner(brand, "9521234", address_from_public_key(partner.public), True)
            production = load("01_brand_production")
            production["epcisHeader"] = {"epcisMasterData": MASTER_DATA}  # recorded on chain with the events
            service.capture(production, brand)
            service.capture(load("02_partner_logistics"), partner)
            with AppServer(create_app(settings, service)) as server, playwright_sync.sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    iphone = pw.devices["iPhone 13"]
                    context = browser.new_context(**{k: v for k, v in iphone.items() if k != "default_browser_type"},
                                                  accept_downloads=True)
                    page = context.new_page()
                    page.goto(server.url + "/t/01/09521234123453/21/1001")
                    # the product's name from the master data captured with the events, not its identifier
                    assert page.get_by_test_id("product-name").inner_text() == PRODUCT_NAME
                    assert page.get_by_text("Jade Tea Estate, Hangzhou").count() >= 1
                    steps = page.get_by_test_id("timeline-step")
                    assert steps.count() == 7
                    assert steps.first.inner_text().startswith("Produced")  # the harvest of the tea leaves
                    assert "Received" in steps.last.inner_text()
                    badge = page.get_by_test_id("verified-badge")
                    assert badge.is_visible() and "Verified on chain" in badge.inner_text()
                    assert page.get_by_test_id("scan-count").inner_text() == "1"
                    # fits a phone screen: no horizontal scrolling
                    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
                    with page.expect_download() as download_info:
                        page.get_by_test_id("proof-download").click()
                    bundle_path = tmp_path / "downloaded.json"
                    download_info.value.save_as(bundle_path)
                    page.reload()
                    assert page.get_by_test_id("scan-count").inner_text() == "2"
                    context.close()
                finally:
                    browser.close()
            bundle = json.loads(bundle_path.read_text())
            validators = validators_from_json(service.validators_json())
            report = verify_bundle(bundle, trusted_validators=validators, require_certificate=True)
            assert report.kind == "entry" and report.certified
            assert report.claim["value"]["value"]["o"] == address_from_public_key(partner.public)
        finally:
            service.stop()
