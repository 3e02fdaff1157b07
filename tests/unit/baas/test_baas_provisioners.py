"""Provisioners without a cluster or a network: Kubernetes manifests validated against the
Kubernetes schemas and applied through a fake client; the local provisioner's node.toml, ports and
process adoption; monitoring's parsing and health rules."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import kubernetes_validate
import yaml

from baas.monitoring import NodeView, network_health, parse_metrics
from baas.provisioners.base import NodeSpec, PeerSpec
from baas.provisioners.kubernetes import KubernetesProvisioner, k8s_name, render_network, write_manifests
from baas.provisioners.local import LocalProvisioner, allocate_ports, port_is_free, process_start_time, render_node_toml
from ledger.crypto import generate_keypair
from node.config import parse_node_config

K8S_VERSION = "1.30.0"
KEYS = {name: generate_keypair().public.base58 for name in ("acme-0", "bolt-0")}


def spec(name: str = "acme-0", peers: tuple[PeerSpec, ...] = ()) -> NodeSpec:
    return NodeSpec(network="Tea_Net", name=name, organization="Acme", public_key=KEYS[name],
                    keystore_json={"version": 1, "crypto": "sealed"}, password="pw", grpc_port=17100,
                    gateway_port=17101, ledger_hashes=("j5LedgerHashAAAAAAAAAAAAAAAAAAA",),
                    genesis={"j5LedgerHashAAAAAAAAAAAAAAAAAAA": '{"format": "jadechain-genesis/1"}'}, peers=peers,
                    consensus={"round_timeout_ms": 1000, "idle_block_ms": 20})


def test_rendered_manifests_validate_against_the_kubernetes_schemas(tmp_path):
    peers = (PeerSpec("bolt-0", KEYS["bolt-0"], "127.0.0.1:17102"),)
    manifests = render_network([spec(peers=peers), spec("bolt-0", (PeerSpec("acme-0", KEYS["acme-0"], "x:1"),))],
                               "jadechain", "jadechain/node:test")
    kinds = [m["kind"] for m in manifests]
    assert kinds.count("StatefulSet") == 2 and kinds.count("Service") == 3 and kinds.count("Secret") == 2
    assert kinds.count("ConfigMap") == 2 and kinds.count("ServiceMonitor") == 2 and kinds[0] == "Namespace"
    for manifest in manifests:
        if manifest["kind"] == "ServiceMonitor":  # a CRD: not in the core schemas
            assert manifest["spec"]["endpoints"][0] == {"port": "gateway", "path": "/metrics", "interval": "15s"}
            continue
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    stateful = next(m for m in manifests if m["kind"] == "StatefulSet")
    assert stateful["spec"]["replicas"] == 1
    assert stateful["metadata"]["name"] == k8s_name("Tea_Net", "acme-0") == "tea-net-acme-0"
    container = stateful["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["command"][-3:] == ["node.server", "--config", "/config/node.toml"]
    assert stateful["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    config = next(m for m in manifests if m["kind"] == "ConfigMap")
    parsed = parse_node_config(config["data"]["node.toml"])
    assert parsed.peers[0].address == "tea-net-bolt-0.jadechain.svc:7100"
    assert parsed.gateway.port == 8100 and parsed.node.data_dir == "/data"
    paths = write_manifests(manifests, tmp_path / "out")
    assert len(paths) == len(manifests)
    assert len(list(yaml.safe_load_all((tmp_path / "out" / "all.yaml").read_text()))) == len(manifests)


class FakeResource:
    def __init__(self, calls: list[Any], kind: str) -> None:
        self.calls, self.kind = calls, kind

    def server_side_apply(self, **kwargs: Any) -> None:
        self.calls.append(("apply", self.kind, kwargs["name"], kwargs["field_manager"]))

    def patch(self, **kwargs: Any) -> None:
        self.calls.append(("patch", self.kind, kwargs["name"], kwargs["body"]))

    def delete(self, **kwargs: Any) -> None:
        self.calls.append(("delete", self.kind, kwargs["name"]))

    def get(self, **kwargs: Any) -> Any:
        return {"status": {"readyReplicas": 1}}


class FakeDynamic:
    def __init__(self) -> None:
        self.calls: list[Any] = []

        class Resources:
            def get(inner, api_version: str, kind: str) -> FakeResource:
                return FakeResource(self.calls, kind)

        self.resources = Resources()


def test_kubernetes_provisioner_applies_scales_and_removes():
    provisioner = KubernetesProvisioner("jadechain", "img")
    fake = FakeDynamic()
    provisioner._dynamic = fake
    provisioner.deploy_node(spec())
    applied = [c[1] for c in fake.calls if c[0] == "apply"]
    assert applied == ["Namespace", "ConfigMap", "Secret", "Service", "StatefulSet", "ServiceMonitor", "Service",
                       "PodDisruptionBudget"]
    assert all(c[3] == "jadechain-baas" for c in fake.calls)
    provisioner.stop_node(spec())
    assert fake.calls[-1] == ("patch", "StatefulSet", "tea-net-acme-0", {"spec": {"replicas": 0}})
    assert provisioner.node_status(spec()).state == "running"
    provisioner.remove_node(spec())
    deleted = [c[1] for c in fake.calls if c[0] == "delete"]
    assert "StatefulSet" in deleted and "PersistentVolumeClaim" not in deleted


def test_node_toml_is_the_agreed_format():
    text = render_node_toml(spec(peers=(PeerSpec("bolt-0", KEYS["bolt-0"], "127.0.0.1:7101"),)), "/d", "/k.json", "/pw")
    config = parse_node_config(text)
    assert config.node.name == "acme-0" and config.node.key_file == "/k.json" and config.node.password_file == "/pw"
    assert config.network.grpc_port == 17100 and config.gateway.port == 17101
    assert [l.hash for l in config.ledgers] == ["j5LedgerHashAAAAAAAAAAAAAAAAAAA"]
    assert config.consensus.round_timeout_ms == 1000


def test_ports_are_allocated_without_clashes():
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    try:
        ports = allocate_ports(4, [taken + 1], taken)
        assert taken not in ports and taken + 1 not in ports and len(set(ports)) == 4
        assert all(port_is_free(p) for p in ports)
    finally:
        busy.close()


def test_a_process_is_adopted_only_with_the_same_pid_and_start_time(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(process.pid)
        provisioner = LocalProvisioner(tmp_path)
        assert provisioner.adopt(spec(), process.pid, started)
        assert not provisioner.adopt(spec(), process.pid, (started or 0) + 1)
        assert provisioner.node_status(spec(), process.pid, started).state == "running"
        provisioner.stop_node(spec(), timeout=5, pid=process.pid, started_at=started)
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is not None
        assert provisioner.node_status(spec(), process.pid, started).state == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert os.path.exists(tmp_path)


def test_metrics_parsing_and_health_reasons():
    text = ('# TYPE jadechain_height gauge\njadechain_height{ledger="a"} 12\n'
            '# TYPE jadechain_transactions_committed counter\njadechain_transactions_committed_total{ledger="a"} 40\n'
            '# TYPE jadechain_mempool_size gauge\njadechain_mempool_size{ledger="a"} 3\n')
    values = parse_metrics(text)
    assert values["jadechain_height"] == 12 and values["jadechain_transactions_committed_total"] == 40

    def view(name: str, up: bool, height: int | None, peers: int | None = 3) -> NodeView:
        return NodeView(name, "u", up, "ok" if up else "down", height, 0.5, 1.0, 0, peers, "" if up else "unreachable")

    assert network_health([view("a", True, 50), view("b", True, 49)], 1) == ("healthy", [])
    status, reasons = network_health([view("a", True, 50), view("b", True, 30), view("c", False, None)], 2,
                                     {"c": "disk full"})
    assert status == "degraded"
    assert "b lags 20 blocks behind" in reasons and "c is down (unreachable): disk full" in reasons
    assert network_health([view("a", False, None)], 0)[0] == "down"
    status, reasons = network_health([view("a", True, 10, peers=1)], 3)
    assert reasons == ["a sees 1 of 3 peers"]



def test_render_k8s_command_writes_a_networks_manifests(tmp_path):
    from typer.testing import CliRunner

    from baas.app import build_state
    from baas.cli import baas_app
    from baas.models import LedgerRecord, Network, Node, Organization
    from baas.orchestration import make_genesis
    from baas.settings import BaasSettings

    data_dir = tmp_path / "baas"
    state = build_state(BaasSettings(data_dir=data_dir, supervise=False))
    with state.sessions() as session:
        org = Organization(name="acme", display_name="Acme")
        session.add(org)
        session.flush()
        network = Network(name="tea", consortium_id=1, crypto="sm", consensus={"round_timeout_ms": 1000},
                          provisioner="local", status="stopped", keystore_password=state.custody.seal(b"pw", b"network:tea"))
        session.execute(__import__("sqlalchemy").text(
            "INSERT INTO consortia (id, name, description, policy, created_by_org_id, created_at) "
            "VALUES (1, 'c', '', 'majority', :org, '2026-01-01')"), {"org": org.id})
        session.add(network)
        session.flush()
        founders = []
        for index in range(2):
            key = state.custody.new_key(session, org.id, "node", f"n{index}", "SM2")
            session.add(Node(network_id=network.id, organization_id=org.id, name=f"acme-{index}", key_id=key.id,
                             grpc_port=100 + index, gateway_port=200 + index))
            founders.append((f"acme-{index}", state.custody.keypair(key)))
        ledger_hash, hash_name, genesis = make_genesis("main", "sm", founders, {})
        session.add(LedgerRecord(network_id=network.id, name="main", ledger_hash=ledger_hash, hash_algorithm=hash_name,
                                 genesis_hex=genesis))
        session.commit()
    state.engine.dispose()
    out = tmp_path / "k8s"
    result = CliRunner().invoke(baas_app, ["render-k8s", "tea", "--out", str(out), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    manifests = list(yaml.safe_load_all((out / "all.yaml").read_text()))
    assert [m["kind"] for m in manifests].count("StatefulSet") == 2
    for manifest in manifests:
        if manifest["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    config = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert f"genesis-{ledger_hash[:16]}.json" in config["data"]
    secret = next(m for m in manifests if m["kind"] == "Secret" and m["metadata"]["name"].endswith("-key"))
    assert decrypt_keystore_matches(secret["stringData"], founders)
    missing = CliRunner().invoke(baas_app, ["render-k8s", "nope", "--out", str(out), "--data-dir", str(data_dir)])
    assert missing.exit_code == 1


def decrypt_keystore_matches(data: dict[str, str], founders: list[Any]) -> bool:
    import json

    from ledger.crypto import decrypt_private_key

    private = decrypt_private_key(json.loads(data["key.json"]), data["PASSWORD"])
    return private.public_key().base58 in {pair.public.base58 for _, pair in founders}
