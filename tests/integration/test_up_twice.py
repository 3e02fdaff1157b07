"""`make up` a second time, after the control plane has made networks and apps of its own.

The control plane's data folder once sat at ``.jadechain/baas/`` and the apps were started with that
folder's parent as their working directory, so ``baas/apps/`` there shadowed the installed
``baas.apps`` package: the second ``up`` died with "No module named baas.apps.evidence".
"""

from __future__ import annotations

import json
from contextlib import closing
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.slow


def cli(*args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jadechain.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=dict(os.environ))


def login(url: str, username: str, password: str) -> httpx.Client:
    web = httpx.Client(base_url=url, timeout=120)
    response = web.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    web.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return web


def admin_password(directory: Path) -> str:
    # The file holds the password (older layouts put the user name on a first line before it).
    return next(directory.glob("*/initial-admin-password")).read_text().split()[-1]


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def control_plane_makes_a_network_and_an_app(url: str, directory: Path) -> None:
    """As a console user would: an organisation, a consortium, a one-node network, an app on its ledger."""
    with closing(login(url, "admin", admin_password(directory))) as admin:
        org = ok(admin.post("/api/v1/organizations", json={"name": "acme", "admin": {"username": "acme",
                                                                                       "password": PASSWORD}}), 201)
    with closing(login(url, "acme", PASSWORD)) as acme:
        consortium = ok(acme.post("/api/v1/consortia", json={"name": "tea"}), 201)
        network = ok(acme.post("/api/v1/networks", json={
            "name": "solo", "consortium_id": consortium["id"], "crypto": "classic",
            "nodes": [{"organization_id": org["id"], "count": 1}]}), 201)
        ledger = next(x for x in ok(acme.get("/api/v1/ledgers")) if x["network_id"] == network["id"])
        app = ok(acme.post("/api/v1/apps", json={"kind": "evidence", "ledger_id": ledger["id"]}), 201)
        assert app["status"] == "started", app
    # The folders that used to shadow the installed packages now exist in the data directory.
    assert any(directory.glob("*/networks/solo"))


def every_service_answers(summary: dict) -> None:
    for url in summary["gateways"]:
        assert httpx.get(url + "/health", timeout=30).status_code == 200, url
    for name in ("baas", "evidence", "traceability"):
        assert httpx.get(summary["services"][name] + "/openapi.json", timeout=30).status_code == 200, name


def test_up_down_up_after_the_control_plane_made_a_network_and_an_app(tmp_path: Path) -> None:
    directory = tmp_path / "local"
    first = cli("up", "--dir", str(directory), "--crypto", "classic", "--json")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        summary = json.loads(first.stdout)
        every_service_answers(summary)
        control_plane_makes_a_network_and_an_app(summary["services"]["baas"], directory)
    finally:
        stopped = cli("down", "--dir", str(directory), "--json")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    second = cli("up", "--dir", str(directory), "--crypto", "classic", "--json")
    try:
        assert second.returncode == 0, second.stdout + second.stderr
        again = json.loads(second.stdout)
        every_service_answers(again)
        assert again["ledger_hash"] == summary["ledger_hash"]
        # The control plane kept what it made: the network and the app are still there.
        with closing(login(again["services"]["baas"], "acme", PASSWORD)) as admin:
            assert [n["name"] for n in ok(admin.get("/api/v1/networks"))] == ["solo"]
            deadline = time.monotonic() + 60
            while [a["status"] for a in ok(admin.get("/api/v1/apps"))] != ["started"] and time.monotonic() < deadline:
                time.sleep(0.5)
            assert [a["status"] for a in ok(admin.get("/api/v1/apps"))] == ["started"]
    finally:
        cli("down", "--dir", str(directory), "--json")


SHADOWS = {
    # A folder for each of our packages, some empty (namespace packages), some with an __init__.py that
    # would stop any process importing it; and subfolders named like our modules.
    "baas/apps/evidence": "", "baas/apps/traceability": "", "baas/networks/tea": None,
    "node/gateway": "raise SystemExit('imported node from the working directory')\n",
    "ledger/crypto": "raise SystemExit('imported ledger from the working directory')\n",
    "contracts/runtime": None, "consensus/types": None,
}


def test_cli_node_and_apps_start_from_a_folder_that_holds_folders_named_like_our_packages(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    for folder, init in SHADOWS.items():
        (workdir / folder).mkdir(parents=True)
        if init is not None:
            top = workdir / folder.split("/")[0]
            (top / "__init__.py").write_text(init)
            (workdir / folder / "__init__.py").write_text(init)
    jadechain = str(Path(sys.executable).parent / "jadechain")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([jadechain, *args], capture_output=True, text=True, cwd=workdir, timeout=420)

    shown = run("--help")
    assert shown.returncode == 0 and "verify" in shown.stdout, shown.stdout + shown.stderr
    started = run("up", "--dir", ".jadechain", "--nodes", "1", "--crypto", "classic", "--json")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        summary = json.loads(started.stdout)
        every_service_answers(summary)
        assert (workdir / ".jadechain" / "control-plane" / "initial-admin-password").exists()
    finally:
        stopped = run("down", "--dir", ".jadechain", "--json")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_up_on_a_ledger_of_an_older_storage_format_says_so_without_a_traceback(tmp_path: Path) -> None:
    """After an upgrade that changed what is stored, `up` on the old network names the cause and the way out."""
    import plyvel

    from ledger.store import schema

    directory = tmp_path / "local"
    first = cli("up", "--dir", str(directory), "--nodes", "1", "--crypto", "classic", "--no-apps", "--json")
    cli("down", "--dir", str(directory), "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    ledger_hash = json.loads(first.stdout)["ledger_hash"]
    database = plyvel.DB(str(next((directory / "network").glob(f"*/ledgers/{ledger_hash}"))))
    database.delete(schema.META_STORAGE_FORMAT)  # as written before the marker existed
    database.close()
    again = cli("up", "--dir", str(directory), "--nodes", "1", "--crypto", "classic", "--no-apps", timeout=300)
    try:
        output = again.stdout + again.stderr
        assert again.returncode == 1, output
        assert "NETWORK_NOT_READY" in output and "INCOMPATIBLE_STORAGE_FORMAT" in output, output
        assert "storage format 1" in output and "Traceback" not in output, output
    finally:
        cli("down", "--dir", str(directory), "--json")
