"""Every command of docs/deploy.md that runs here is run as written: the render-k8s commands against a
control plane holding the three-organisation network of the page (acme, bolt, cara; two validators
each), and the kubectl secret commands (client-side dry run) whose values the control plane must accept.
The docker and debootstrap commands are exercised by tests/integration/test_image_rootfs.py."""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import sqlalchemy
import yaml
from typer.testing import CliRunner

from baas.cli import baas_app
from node.config import parse_node_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "deploy.md"
K8S_VERSION = kubernetes_validate.latest_version()


def commands(prefix: str) -> list[str]:
    """``$ ...`` lines of the page's console blocks that start with ``prefix``."""
    found = []
    in_console = False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            in_console = line.strip() == "```console"
            continue
        if in_console and line.startswith("$ " + prefix):
            found.append(line[2:])
    return found


@pytest.fixture()
def control_plane(tmp_path: Path) -> Path:
    """The page's network ``tea`` in a control-plane database at ``<tmp>/.jadechain/control-plane``."""
    from baas.app import build_state
    from baas.models import LedgerRecord, Network, Node, Organization
    from baas.orchestration import make_genesis
    from baas.settings import BaasSettings

    data_dir = tmp_path / ".jadechain" / "control-plane"
    state = build_state(BaasSettings(data_dir=data_dir, supervise=False))
    with state.sessions() as session:
        orgs = [Organization(name=name, display_name=name.title()) for name in ("acme", "bolt", "cara")]
        session.add_all(orgs)
        session.flush()
        session.execute(sqlalchemy.text(
            "INSERT INTO consortia (id, name, description, policy, created_by_org_id, created_at) "
            "VALUES (1, 'c', '', 'majority', :org, '2026-01-01')"), {"org": orgs[0].id})
        network = Network(name="tea", consortium_id=1, crypto="classic", consensus={"round_timeout_ms": 1000},
                          provisioner="local", status="stopped", keystore_password=state.custody.seal(b"pw", b"network:tea"))
        session.add(network)
        session.flush()
        founders = []
        port = 100
        for org in orgs:
            for index in range(2):
                name = f"{org.name}-{index}"
                key = state.custody.new_key(session, org.id, "node", name, "Ed25519")
                session.add(Node(network_id=network.id, organization_id=org.id, name=name, key_id=key.id,
                                 grpc_port=port, gateway_port=port + 1))
                port += 2
                founders.append((name, state.custody.keypair(key)))
        ledger_hash, hash_name, genesis = make_genesis("main", "classic", founders, {})
        session.add(LedgerRecord(network_id=network.id, name="main", ledger_hash=ledger_hash, hash_algorithm=hash_name,
                                 genesis_hex=genesis))
        session.commit()
    state.engine.dispose()
    return tmp_path


def run_documented(line: str, cwd: Path) -> list[dict[str, Any]]:
    argv = shlex.split(line)
    assert argv[:3] == ["jadechain", "baas", "render-k8s"]
    argv = [arg if not arg.startswith(".jadechain/") else str(cwd / arg) for arg in argv[2:]]
    out = Path(argv[argv.index("--out") + 1])
    argv[argv.index("--out") + 1] = str(cwd / out)
    result = CliRunner().invoke(baas_app, argv)
    assert result.exit_code == 0, (line, result.output)
    manifests = list(yaml.safe_load_all((cwd / out / "all.yaml").read_text()))
    for manifest in manifests:
        if manifest["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifests


def test_the_pages_render_commands_run_as_written(control_plane):
    lines = commands("jadechain baas render-k8s")
    assert len(lines) == 4
    rendered = {line: run_documented(line, control_plane) for line in lines}

    whole, control, external, acme = lines
    network = rendered[whole]
    assert sum(m["kind"] == "StatefulSet" for m in network) == 6
    digest = re.search(r"--image-digest (sha256:[0-9a-f]{64})", whole).group(1)
    assert all(c["image"].endswith("@" + digest) for m in network if m["kind"] == "StatefulSet"
               for c in m["spec"]["template"]["spec"]["containers"])
    budget = next(m for m in network if m["kind"] == "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 5  # n = 6, f = 1: n - f

    assert "Secret" not in {m["kind"] for m in rendered[control]}
    assert any(m["kind"] == "StatefulSet" for m in rendered[control])
    assert not any(m["kind"] == "StatefulSet" for m in rendered[external])

    mine = rendered[acme]
    assert {m["metadata"]["name"] for m in mine if m["kind"] == "StatefulSet"} == {"tea-acme-0", "tea-acme-1"}
    # The page's claim: n = 6 over three organisations leaves each a share of 0 (drain only by hand).
    assert next(m for m in mine if m["kind"] == "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    config = parse_node_config(next(m for m in mine if m["metadata"]["name"] == "tea-acme-0-config")["data"]["node.toml"])
    addresses = {peer.name: peer.address for peer in config.peers}
    assert addresses["acme-1"] == "tea-acme-1.jadechain.svc:7100"
    assert addresses["bolt-0"] == "bolt-0.chain.bolt.example:443"
    assert addresses["cara-0"] == "cara-0.chain.cara.example:443"
    # The hand-over holds the CA certificate, never its key; the same CA as the whole-network render.
    ca = next(m for m in mine if m["metadata"]["name"] == "tea-consortium-ca")["stringData"]
    assert ca == next(m for m in network if m["metadata"]["name"] == "tea-consortium-ca")["stringData"]
    assert "PRIVATE KEY" not in json.dumps(ca)


def test_a_peer_address_for_an_unknown_or_local_node_is_refused(control_plane):
    for bad in ("nobody=x.example:443", "acme-1=x.example:443", "bolt-0=no-port", "bolt-0"):
        result = CliRunner().invoke(baas_app, ["render-k8s", "tea", "--data-dir", str(control_plane / ".jadechain/control-plane"),
                                               "--organization", "acme", "--out", str(control_plane / "x"),
                                               "--peer-address", bad])
        assert result.exit_code == 1, (bad, result.output)
        assert "Traceback" not in result.output


@pytest.mark.skipif(shutil.which("kubectl") is None or shutil.which("openssl") is None,
                    reason="kubectl and openssl are needed to run the page's secret commands")
def test_the_pages_secret_commands_make_secrets_the_control_plane_accepts(monkeypatch):
    from baas.custody import load_master_key

    lines = commands("kubectl -n jadechain create secret")
    assert len(lines) == 3
    made = {}
    for line in lines:
        result = subprocess.run(["bash", "-c", line + " --dry-run=client -o json"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        secret = json.loads(result.stdout)
        made[secret["metadata"]["name"]] = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    master = made["jadechain-baas-master-key"]["master-key"]
    monkeypatch.setenv("JADECHAIN_MASTER_KEY", master)
    assert len(load_master_key(Path("/nonexistent/master.key"))) == 16
    assert re.fullmatch(r"[0-9a-f]{48}", made["jadechain-baas-postgres"]["password"])  # URL-safe as composed
    assert made["jadechain-baas-database"]["url"].startswith("postgresql+psycopg://")
