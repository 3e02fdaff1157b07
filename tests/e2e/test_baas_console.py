"""The web console in a real headless Chromium: sign in → create a consortium → invite a second
organisation → it signs and joins → create a 4-node network → deploy a contract → see blocks in the
explorer and the live node table."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "baas"))

from baas_testkit import PASSWORD, admin_password, kill_node_processes, ok, running_baas, token_client  # noqa: E402

from baas.provisioners.local import node_server_available  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.exists(CHROMIUM) and not shutil.which("chromium"),
                                                   reason="Debian's chromium is not installed")]


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/ui/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{url}/ui/")
    assert username in page.inner_text("header")


def test_console_from_login_to_explorer(tmp_path):
    data_dir = tmp_path / "baas"
    nodes_per_org = 2 if node_server_available() else 0
    with running_baas(data_dir, supervise=True, monitor_interval_seconds=1, base_port=19500,
                      node_backend="auto" if nodes_per_org else "solo") as server:
        try:
            admin = token_client(server.url, "admin", admin_password(data_dir))
            for name in ("acme", "bolt"):
                ok(admin.post("/api/v1/organizations", json={"name": name, "admin": {"username": name, "password": PASSWORD}}), 201)
            with playwright_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    run_flow(browser, server.url, nodes_per_org)
                finally:
                    browser.close()
        finally:
            kill_node_processes(server.state)


def run_flow(browser, url: str, nodes_per_org: int) -> None:
    acme_context = browser.new_context()
    acme = acme_context.new_page()
    acme.set_default_timeout(60_000)
    sign_in(acme, url, "acme", PASSWORD)

    # create a consortium
    acme.click("text=Consortia")
    acme.fill("#create-consortium input[name=name]", "tea-chain")
    acme.fill("#create-consortium input[name=description]", "Green tea from farm to cup")
    acme.click("#create-consortium button[type=submit]")
    acme.wait_for_selector("section.consortium[data-name=tea-chain]")

    # invite bolt; acme is the only member, so its signature is the majority
    acme.select_option("section.consortium[data-name=tea-chain] select[name=organization_id]", label="bolt")
    acme.click("section.consortium[data-name=tea-chain] form.invite button[type=submit]")
    acme.wait_for_url(f"{url}/ui/invitations")
    acme.click("#invitations button.approve")
    acme.wait_for_selector("#invitations tr >> text=1 of 1 approvals")

    # bolt signs its acceptance and joins
    bolt_context = browser.new_context()
    bolt = bolt_context.new_page()
    bolt.set_default_timeout(60_000)
    sign_in(bolt, url, "bolt", PASSWORD)
    bolt.click("text=Invitations")
    bolt.click("#invitations button.accept")
    bolt.wait_for_selector("#invitations td.status-ACCEPTED")
    bolt.click("text=Consortia")
    assert "bolt" in bolt.inner_text("section.consortium[data-name=tea-chain]")
    bolt_context.close()

    # create a network with nodes of both organisations
    acme.click("text=Networks")
    form = "form.create-network"
    acme.fill(f"{form} input[name=name]", "tea-net")
    acme.fill(f"{form} input[name='nodes.0.count']", str(nodes_per_org or 1))
    acme.fill(f"{form} input[name='nodes.1.count']", str(nodes_per_org))
    acme.click(f"{form} button[type=submit]")
    acme.wait_for_url(f"{url}/ui/networks/*", timeout=120_000)
    expected = 2 * nodes_per_org or 1
    # Locator assertions, not wait_for_function: the console's CSP (no 'unsafe-eval') refuses evaluated strings.
    heights = acme.locator("#nodes tbody td.height")
    playwright_api.expect(heights).to_have_count(expected, timeout=60_000)
    playwright_api.expect(heights).to_have_text([re.compile(r"^\d+$")] * expected, timeout=60_000)
    acme.wait_for_selector("#network-status.status-healthy")
    acme.click("#nodes tbody tr:first-child button.show-log")
    acme.wait_for_selector("#node-log >> text=starting")

    # deploy a contract from the ledger page
    acme.click("a.ledger-link")
    acme.click("#validate-contract")
    acme.wait_for_selector("#validation >> text=valid: put(")
    acme.fill("#upload-contract input[name=name]", "registry")
    acme.click("#upload-contract button[type=submit]")
    acme.wait_for_selector("tr[data-contract=registry] button.deploy")
    acme.click("tr[data-contract=registry] button.deploy")
    acme.wait_for_selector("tr[data-contract=registry] td.contract-status >> text=deployed")

    # a refused source is shown with its line and rule (the WebAssembly engine's deploy checks)
    acme.fill("#contract-source", "x = 1\n\ndef broken(:\n")
    acme.click("#validate-contract")
    acme.wait_for_selector("#validation >> text=line 3")
    acme.wait_for_selector("#validation >> text=syntax")

    # the explorer shows the blocks; a height search lists its transactions
    acme.wait_for_selector("#blocks tbody tr")
    assert int(acme.inner_text("#blocks tbody tr:first-child td:first-child")) >= 3
    acme.click("tr[data-contract=registry] a.tx-link")  # the deployment transaction
    acme.wait_for_selector("#search-result h3 >> text=tx")
    assert "SUCCESS" in acme.inner_text("#search-result")
    acme.click("#search-result a.block-link")  # its block, with its transactions
    acme.wait_for_selector("#search-result table.txs a.tx-link")
    assert acme.inner_text("#search-result h3") == "block"
    acme.fill("#search", "2")
    acme.click("#search-form button[type=submit]")
    playwright_api.expect(acme.locator("#search-result .record-decoded > dl > dd[data-field=height]")).to_have_text("2")
    assert acme.locator("#search-result pre").count() == 0  # fields, not a JSON dump

    # the audit page lists what happened
    acme.click("text=Audit")
    audit = acme.inner_text("#audit")
    assert "contract.deployed" in audit and "network.created" in audit
    acme_context.close()
