"""A newcomer's first hour, against what `jadechain up` (the job of `make up`) starts, in a real headless Chromium.

One `up` (one validator, the control plane, both apps) serves the module, as subprocesses, at 80 columns:

* what `up` prints keeps every URL and path on one line, and each printed URL answers;
* the initial-admin-password file holds only the password (the user name is printed);
* every /docs page (gateway, control plane, evidence, traceability) renders with the internet cut off;
* the console login says so on a wrong password;
* the console shows the network `up` started, its ledger and apps, with blocks advancing, without anyone
  creating a second network; the explorer shows a transaction decoded (operations, signers, result);
* `down` then `up` again finds the same network in the console (adoption is idempotent).

Screenshots: ``$JADECHAIN_SCREENSHOTS`` or the module's temporary directory (their paths are printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.support.browser import needs_chromium, offline_browser, offline_context, screenshot

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "jadechain.cli"]
URL = re.compile(r"https?://[^\s()'\"]+")
ADMIN = re.compile(r"user '([^']+)', password in (\S+) \(mode 0600\)")

pytestmark = [pytest.mark.slow, needs_chromium]
playwright_api = pytest.importorskip("playwright.sync_api")


def cli(*args: str, timeout: float = 300, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JADECHAIN_")}
    env.update({"COLUMNS": "80", "TERM": "xterm", **variables})
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class Up:
    def __init__(self, directory: Path, output: str) -> None:
        self.directory = directory
        self.output = output
        self.read(output)

    def read(self, output: str) -> None:
        self.output = output
        lines = output.splitlines()
        self.gateway = URL.search(next(line for line in lines if "node0 gateway" in line)).group(0)  # type: ignore[union-attr]
        self.console = URL.search(next(line for line in lines if "control plane" in line)).group(0).removesuffix("/ui/")  # type: ignore[union-attr]
        self.apps = {name: URL.search(next(line for line in lines if label in line)).group(0).removesuffix("/docs")  # type: ignore[union-attr]
                     for name, label in (("evidence", "evidence app"), ("traceability", "traceability  "))}
        user, password_file = ADMIN.search(output).groups()  # type: ignore[union-attr]
        self.admin_user, self.password_file = user, Path(password_file)
        self.ledger_hash = re.search(r"ledger\s+(\S+)", output).group(1)  # type: ignore[union-attr]

    @property
    def admin_password(self) -> str:
        return self.password_file.read_text().strip()

    @contextlib.contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """The control plane's API, signed in as the printed user with the file's content as password."""
        with httpx.Client(base_url=self.console, timeout=30) as client:
            response = client.post("/api/v1/auth/login",
                                   json={"username": self.admin_user, "password": self.admin_password})
            assert response.status_code == 200, response.text
            client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
            yield client


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    directory = tmp_path_factory.mktemp("first-hour") / "jadechain"
    try:
        started = cli("up", "--dir", str(directory), "--nodes", "1")
        assert started.returncode == 0, started.stdout + started.stderr
        yield Up(directory, started.stdout)
    finally:
        cli("down", "--dir", str(directory), timeout=120)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with offline_browser() as launched:
        yield launched


def test_up_prints_every_url_and_path_whole_at_80_columns(up: Up) -> None:
    lines = up.output.splitlines()
    assert max(len(line) for line in lines) > 80  # the long lines were there to be wrapped
    for line in lines:
        stripped = line.strip()
        # A wrapped line would start with the rest of a URL or a path (no label before it).
        assert not re.match(r"^(https?://|/)", stripped), f"a URL or path was wrapped onto its own line: {line!r}"
        for url in URL.findall(line):
            assert httpx.get(url.rstrip(".,"), timeout=10).status_code < 500, f"{url} (from {line!r}) does not answer"
        for path in re.findall(r"(?<![\w:/])(/[^\s()'\"$]+)", line):
            if path.startswith(str(up.directory)):
                assert Path(path.rstrip(".,)")).exists(), f"{path} (from {line!r}) does not exist"
    assert f"password in {up.password_file} (mode 0600)" in up.output


def test_the_admin_password_file_holds_only_the_password(up: Up) -> None:
    text = up.password_file.read_text()
    assert up.admin_user == "admin"
    assert text.count("\n") == 1 and text.endswith("\n") and " " not in text.strip() and up.admin_user not in text
    assert oct(up.password_file.stat().st_mode & 0o777) == "0o600"
    with up.api() as api:  # the file's whole content is the password
        assert api.get("/api/v1/auth/me").json()["username"] == "admin"


def test_every_docs_page_renders_offline(up: Up, browser: Any, tmp_path: Path) -> None:
    pages = {"gateway": up.gateway, "control-plane": up.console, **up.apps}
    for name, base in pages.items():
        with offline_context(browser) as (context, refused):
            page = context.new_page()
            page.goto(f"{base}/docs")
            operations = page.locator(".swagger-ui .opblock")
            playwright_api.expect(operations.first).to_be_visible(timeout=60_000)
            assert operations.count() >= 3, f"{name}: Swagger UI listed {operations.count()} operations"
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("Jadechain")
            screenshot(page, f"docs-{name}", tmp_path)
            page.goto(f"{base}/redoc")
            playwright_api.expect(page.locator(".api-content h1, .api-info h1").first).to_be_visible(timeout=60_000)
            assert page.locator("[data-section-id^='tag/'], [data-section-id^='operation/']").count() >= 1
            assert refused == [], f"{name}: the docs tried to reach {refused}"


def test_console_login_says_the_password_is_wrong(up: Up, browser: Any, tmp_path: Path) -> None:
    with offline_context(browser) as (context, _):
        page = context.new_page()
        page.goto(f"{up.console}/ui/login")
        page.fill("#username", up.admin_user)
        page.fill("#password", "not-the-password")
        page.click("#login-form button[type=submit]")
        message = page.locator("#login-form .error[role=alert]")
        playwright_api.expect(message).to_have_text(re.compile("wrong user name or password"), timeout=30_000)
        assert page.url.startswith(f"{up.console}/ui/login")  # still on the form, the message stays
        screenshot(page, "console-wrong-password", tmp_path)


def sign_in(context: Any, up: Up) -> Any:
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{up.console}/ui/login")
    page.fill("#username", up.admin_user)
    page.fill("#password", up.admin_password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{up.console}/ui/")
    return page


def submit_writes(up: Up, count: int) -> list[str]:
    """Transactions through the CLI, as a user would (each waits for its commit)."""
    keys = up.directory / "network" / "keys"
    common = ["--gateway", up.gateway, "--key-dir", str(keys), "--key", "node0", "--json"]
    password = {"JADECHAIN_KEY_PASSWORD": (keys / "PASSWORD").read_text().strip()}
    created = cli("tx", "account-register", *common, **password)
    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]
    hashes = []
    for index in range(count):
        written = cli("tx", "kv-set", address, f"lot/{index}", f"box {index}", "--auto-version", *common, **password)
        assert written.returncode == 0, written.stderr
        hashes.append(json.loads(written.stdout)["tx_hash"])
    return hashes


def test_console_shows_the_network_up_started_with_live_blocks(up: Up, browser: Any, tmp_path: Path) -> None:
    with offline_context(browser) as (context, _):
        page = sign_in(context, up)
        page.click("a[href^='/ui/networks/'] >> text=local")
        page.wait_for_selector("#external-network")
        assert "Create" not in page.inner_text("#nodes")
        playwright_api.expect(page.locator("#nodes tbody td.height").first).to_have_text(re.compile(r"^\d+$"), timeout=60_000)
        assert page.inner_text("#nodes tbody").count("node0") == 1
        page.click("a.ledger-link")
        assert up.ledger_hash in page.inner_text("main, body")
        rows = page.locator("#blocks tbody tr")
        playwright_api.expect(rows.first).to_be_visible()
        before = int(page.inner_text("#blocks tbody tr:first-child td:first-child"))
        submit_writes(up, 2)
        for _ in range(240):  # the table refreshes itself (no reload); poll it
            if int(page.inner_text("#blocks tbody tr:first-child td:first-child")) >= before + 2:
                break
            page.wait_for_timeout(250)
        assert int(page.inner_text("#blocks tbody tr:first-child td:first-child")) >= before + 2
        screenshot(page, "console-up-network-blocks", tmp_path)
        page.goto(f"{up.console}/ui/apps")
        apps = page.inner_text("#apps")
        for name, url in up.apps.items():
            assert name in apps and url in apps
        assert page.locator("#apps button").count() == 0  # up's apps are stopped by `jadechain down`, not here


def test_explorer_shows_a_decoded_transaction(up: Up, browser: Any, tmp_path: Path) -> None:
    tx_hash = submit_writes(up, 1)[0]
    with offline_context(browser) as (context, _):
        page = sign_in(context, up)
        page.click("a[href^='/ui/networks/'] >> text=local")
        page.click("a.ledger-link")
        page.fill("#search", tx_hash)
        page.click("#search-form button[type=submit]")
        view = page.locator("#search-result section.tx-decoded")
        playwright_api.expect(view).to_be_visible()
        playwright_api.expect(page.locator("#height")).to_have_text(re.compile(r"^height \d+$"))
        assert page.inner_text("#search-result .tx-status") == "SUCCESS"
        operation = page.locator("#search-result ol.operations > li.operation")
        assert operation.count() == 1
        assert operation.get_attribute("data-kind") == "KVSet" and operation.locator(".op-kind").inner_text() == "KVSet"
        fields = dict(zip(operation.locator("dt").all_inner_texts(), operation.locator("dd").all_inner_texts()))
        assert fields["key"] == "lot/0" and fields["value"] == "box 0 (TEXT)" and fields["expected_version"] == "-1"
        assert fields["account"].startswith("L") and len(fields["account"]) > 30
        signers = page.locator("#search-result ul.signers li").all_inner_texts()
        assert len(signers) == 1 and signers[0].startswith("L")
        assert page.locator("#search-result pre").count() == 0  # no raw JSON dump
        screenshot(page, "explorer-decoded-transaction", tmp_path)


def test_down_then_up_shows_the_same_network_once(up: Up) -> None:
    with up.api() as api:
        before = api.get("/api/v1/networks").json()
    stopped = cli("down", "--dir", str(up.directory), timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    again = cli("up", "--dir", str(up.directory), "--nodes", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    up.read(again.stdout)
    with up.api() as api:
        networks = api.get("/api/v1/networks").json()
        apps = api.get("/api/v1/apps").json()
        refused = api.post(f"/api/v1/networks/{networks[0]['id']}/stop")
    assert [(n["name"], n["provisioner"]) for n in networks] == [("local", "external")]
    assert [n["id"] for n in networks] == [n["id"] for n in before]
    assert [ledger["ledger_hash"] for ledger in networks[0]["ledgers"]] == [up.ledger_hash]
    assert [node["gateway_url"] for node in networks[0]["nodes"]] == [up.gateway]
    assert sorted((a["kind"], a["mount_path"], a["status"]) for a in apps) == sorted(
        (name, url, "external") for name, url in up.apps.items())
    assert refused.status_code == 409 and refused.json()["code"] == "NETWORK_EXTERNAL"
