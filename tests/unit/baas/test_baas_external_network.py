"""The network `jadechain up` starts, adopted by the control plane: recorded once however often `up` runs,
shown with its ledger, nodes and apps, watched by the supervisor, and never started or stopped by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from baas import supervisor as supervisor_module
from baas.app import build_state
from baas.external import EXTERNAL, adopt_network
from baas.models import AppInstance, CustodyKey, LedgerRecord, Network, Node, Organization
from baas.monitoring import NodeSample
from baas.settings import BaasSettings
from ledger.crypto import decrypt_private_key, keypair_from_private, load_keystore
from jadechain.devnet.net import create_network, load_layout

APPS = {"evidence": "http://127.0.0.1:8200", "traceability": "http://127.0.0.1:8300"}


@pytest.fixture
def network_dir(tmp_path: Path) -> Path:
    create_network(tmp_path / "network", nodes=2, crypto="classic", base_port=29100)
    return tmp_path / "network"


def count(session: Any, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)))


def test_adopting_twice_records_one_network_and_follows_moved_gateways(tmp_path: Path, network_dir: Path) -> None:
    state = build_state(BaasSettings(data_dir=tmp_path / "cp", supervise=False))
    try:
        first = adopt_network(state, network_dir, APPS)
        layout = load_layout(network_dir)
        layout.nodes[1].http_port = 29999  # the next `up` may get other ports
        layout.save()
        second = adopt_network(state, network_dir, {**APPS, "evidence": "http://127.0.0.1:8201"})
        assert first == second
        with state.sessions() as session:
            assert (count(session, Network), count(session, LedgerRecord), count(session, Node)) == (1, 1, 2)
            network = session.get(Network, first)
            assert network.provisioner == EXTERNAL and network.status == "running" and network.name == "local"
            assert network.ledgers[0].ledger_hash == layout.ledger_hash
            assert [n.gateway_url for n in network.nodes] == [layout.nodes[0].url, "http://127.0.0.1:29999"]
            apps = {a.kind: (a.mount_path, a.status) for a in session.scalars(select(AppInstance))}
            assert apps == {"evidence": ("http://127.0.0.1:8201", EXTERNAL), "traceability": (APPS["traceability"], EXTERNAL)}
            # The founding keys are in custody: the organisation's key is node0's (a ledger admin at genesis).
            password = Path(layout.password_file).read_text().strip()
            node0 = keypair_from_private(decrypt_private_key(load_keystore(layout.nodes[0].key_file), password))
            org = session.scalar(select(Organization).where(Organization.name == "local"))
            assert session.get(CustodyKey, org.key_id).public_key == node0.public.base58
            assert state.custody.keypair(session.get(CustodyKey, org.key_id)).public.base58 == node0.public.base58
    finally:
        state.engine.dispose()


class NoProcesses:
    name = "local"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the supervisor called provisioner.{name} for an external network")


def test_the_supervisor_watches_an_external_network_but_never_runs_its_nodes(tmp_path: Path, network_dir: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    state = build_state(BaasSettings(data_dir=tmp_path / "cp", supervise=False))
    try:
        adopt_network(state, network_dir, {})
        state.provisioner = NoProcesses()
        scraped: list[str] = []
        monkeypatch.setattr(supervisor_module, "scrape",
                            lambda url, ledger: scraped.append(url) or NodeSample(0, False, error="unreachable"))
        supervisor_module.Supervisor(state, interval=0.1).tick()
        assert sorted(scraped) == sorted(node.url for node in load_layout(network_dir).nodes)
        with state.sessions() as session:
            assert session.scalar(select(Network)).status == "down"  # what the nodes answered, not a restart
    finally:
        state.engine.dispose()


def test_actions_on_an_external_network_are_refused_with_a_stable_code(tmp_path: Path, network_dir: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from baas.app import create_app

    settings = BaasSettings(data_dir=tmp_path / "cp", supervise=False, adopt_network=network_dir, adopt_apps=APPS)
    app = create_app(settings)
    client = TestClient(app)
    password = (tmp_path / "cp" / "initial-admin-password").read_text().strip()
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
    assert login.status_code == 200
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    network = client.get("/api/v1/networks").json()[0]
    node = network["nodes"][0]["id"]
    app_id = client.get("/api/v1/apps").json()[0]["id"]
    for method, path in (("POST", f"/api/v1/networks/{network['id']}/stop"),
                         ("POST", f"/api/v1/networks/{network['id']}/start"),
                         ("POST", f"/api/v1/nodes/{node}/restart"), ("POST", f"/api/v1/nodes/{node}/stop"),
                         ("DELETE", f"/api/v1/nodes/{node}"), ("GET", f"/api/v1/nodes/{node}/logs"),
                         ("POST", f"/api/v1/apps/{app_id}/stop")):
        response = client.request(method, path)
        assert (response.status_code, response.json()["code"]) == (409, "NETWORK_EXTERNAL"), (path, response.text)
    response = client.post(f"/api/v1/networks/{network['id']}/ledgers", json={"name": "second"})
    assert (response.status_code, response.json()["code"]) == (409, "NETWORK_EXTERNAL")
    page = client.get(f"/ui/networks/{network['id']}").text
    assert "external-network" in page and "Stop network" not in page and "create-ledger" not in page
    app.state.baas.engine.dispose()
