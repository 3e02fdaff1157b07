"""Kubernetes manifests of a network and of the control plane, checked as a cluster would check them:
against the official schemas of a current Kubernetes release (kubernetes-validate, strict), through
``kubectl apply --dry-run=client --validate=false`` where kubectl is installed (against a discovery-only
API endpoint on 127.0.0.1: kubectl needs the resource list, never a real cluster), and by what the
scheduler and the eviction API would do with the PodDisruptionBudget and the anti-affinity."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from typer.testing import CliRunner

from baas.provisioners.base import NodeSpec, PeerSpec
from baas.provisioners.kubernetes import (
    fault_tolerance, image_reference, render_control_plane, render_network, write_manifests)
from ledger.crypto import generate_keypair
from node.config import parse_node_config
from node.tls import node_key_of_certificate

K8S_VERSION = kubernetes_validate.latest_version()
"""The newest Kubernetes release whose schemas the installed kubernetes-validate carries."""
DIGEST = "sha256:" + "ab" * 32
CRDS = {"ServiceMonitor"}  # a Prometheus-operator CRD: not in the core schemas


def network_specs(layout: dict[str, int], network: str = "tea") -> list[NodeSpec]:
    """Validators per organisation, e.g. {"acme": 2, "bolt": 1}; every node peers with every other."""
    keys = {f"{org}-{i}": generate_keypair().public.base58 for org, count in layout.items() for i in range(count)}
    owners = {f"{org}-{i}": org for org, count in layout.items() for i in range(count)}
    ledger = "j5LedgerHashAAAAAAAAAAAAAAAAAAA"
    return [NodeSpec(network=network, name=name, organization=owners[name], public_key=key,
                     keystore_json={"version": 1, "crypto": "sealed"}, password="pw", grpc_port=17100,
                     gateway_port=17101, ledger_hashes=(ledger,), genesis={ledger: '{"format": "jadechain-genesis/1"}'},
                     peers=tuple(PeerSpec(other, keys[other], f"{other}.example.org:443") for other in keys if other != name))
            for name, key in keys.items()]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pods(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Pod name → labels, for every workload's pod template."""
    return {m["metadata"]["name"]: m["spec"]["template"]["metadata"]["labels"]
            for m in manifests if m["kind"] in ("StatefulSet", "Deployment")}


def validate_all(manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        if manifest["kind"] in CRDS:
            continue
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


# --- the disruption budget and anti-affinity against the validator count -------------------------------

@pytest.mark.parametrize("layout", [{"acme": 1}, {"acme": 2, "bolt": 2}, {"acme": 3, "bolt": 2, "cara": 2},
                                    {"acme": 4, "bolt": 3, "cara": 3}])
def test_the_disruption_budget_keeps_a_quorum_of_n_minus_f(layout):
    manifests = render_network(network_specs(layout), "jadechain", "jadechain/node:0.1.0")
    validators = sum(layout.values())
    budget = next(m for m in manifests if m["kind"] == "PodDisruptionBudget")
    covered = [name for name, labels in pods(manifests).items() if matches(budget["spec"]["selector"]["matchLabels"], labels)]
    assert len(covered) == validators  # every validator, and nothing else
    f = fault_tolerance(validators)
    assert validators >= 3 * f + 1
    assert budget["spec"]["minAvailable"] == validators - f
    # The eviction API refuses an eviction that would leave fewer than minAvailable ready pods: whatever
    # set of pods a drain manages to evict, the survivors still form a quorum (2f + 1 votes).
    evictable = validators - budget["spec"]["minAvailable"]
    for evicted in itertools.combinations(covered, evictable):
        assert validators - len(evicted) >= 2 * f + 1
    # and one more eviction than the budget allows could break it whenever f > 0
    if f > 0:
        assert validators - (evictable + 1) < validators - f


def schedule(manifests: list[dict[str, Any]], hosts: int) -> dict[str, str] | None:
    """Place every pod on one of ``hosts`` honouring required pod anti-affinity on kubernetes.io/hostname
    (first fit, backtracking), as the scheduler's filter would; None if no placement exists."""
    workloads = [m for m in manifests if m["kind"] == "StatefulSet"]
    placement: dict[str, str] = {}

    def allowed(workload: dict[str, Any], host: str) -> bool:
        spec = workload["spec"]["template"]["spec"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        terms = spec.get("affinity", {}).get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
        for placed, placed_host in placement.items():
            if placed_host != host:
                continue
            placed_labels = next(w for w in workloads if w["metadata"]["name"] == placed)["spec"]["template"]["metadata"]["labels"]
            for term in terms:
                assert term["topologyKey"] == "kubernetes.io/hostname"
                if matches(term["labelSelector"]["matchLabels"], placed_labels):
                    return False
            # symmetric: the placed pod's own terms forbid us too
            placed_terms = next(w for w in workloads if w["metadata"]["name"] == placed)["spec"]["template"]["spec"][
                "affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            if any(matches(t["labelSelector"]["matchLabels"], labels) for t in placed_terms):
                return False
        return True

    def place(index: int) -> bool:
        if index == len(workloads):
            return True
        for host in range(hosts):
            if allowed(workloads[index], f"host-{host}"):
                placement[workloads[index]["metadata"]["name"]] = f"host-{host}"
                if place(index + 1):
                    return True
                del placement[workloads[index]["metadata"]["name"]]
        return False

    return dict(placement) if place(0) else None


def test_one_organisations_validators_never_share_a_host():
    layout = {"acme": 3, "bolt": 2, "cara": 1}
    manifests = render_network(network_specs(layout), "jadechain", "jadechain/node:0.1.0")
    owner = {m["metadata"]["name"]: m["spec"]["template"]["metadata"]["labels"]["jadechain.io/organization"]
             for m in manifests if m["kind"] == "StatefulSet"}
    for hosts in range(1, 7):
        placement = schedule(manifests, hosts)
        if hosts < max(layout.values()):
            assert placement is None  # acme's three validators need three hosts
            continue
        assert placement is not None
        for org in layout:
            used = [placement[name] for name in placement if owner[name] == org]
            assert len(used) == len(set(used)) == layout[org]
    # Losing any one host costs an organisation at most one validator, and the network at most
    # max-per-host validators; with one host per validator that is a single vote.
    placement = schedule(manifests, 3)
    assert placement is not None
    per_host = {host: [n for n in placement if placement[n] == host] for host in set(placement.values())}
    assert all(len({owner[n] for n in names}) == len(names) for names in per_host.values())
    # Soft rule: validators of the network prefer distinct hosts altogether.
    stateful = next(m for m in manifests if m["kind"] == "StatefulSet")
    preferred = stateful["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert sum(matches(preferred, labels) for labels in pods(manifests).values()) == sum(layout.values())


def test_one_organisations_cluster_takes_its_share_of_f():
    layout = {"acme": 3, "bolt": 2, "cara": 2}  # n = 7, f = 2
    specs = network_specs(layout)
    shares = {}
    for org in layout:
        manifests = render_network(specs, "jadechain", "jadechain/node:0.1.0", organization=org)
        validate_all(manifests)
        names = {m["metadata"]["name"] for m in manifests if m["kind"] == "StatefulSet"}
        assert names == {f"tea-{org}-{i}" for i in range(layout[org])}
        budget = next(m for m in manifests if m["kind"] == "PodDisruptionBudget")
        shares[org] = layout[org] - budget["spec"]["minAvailable"]
        config = parse_node_config(next(m for m in manifests if m["kind"] == "ConfigMap")["data"]["node.toml"])
        for peer in config.peers:  # own peers by in-cluster DNS, other organisations' by their address
            expected = (f"tea-{peer.name}.jadechain.svc:7100" if peer.name.startswith(org)
                        else f"{peer.name}.example.org:443")
            assert peer.address == expected
    # All clusters draining at once still leave n - f validators.
    assert sum(shares.values()) <= fault_tolerance(sum(layout.values()))


# --- schemas, kubectl, image pinning, TLS -------------------------------------------------------------

def test_network_manifests_validate_and_pin_the_image_digest(tmp_path):
    image = image_reference("jadechain/node:0.1.0", DIGEST)
    manifests = render_network(network_specs({"acme": 2, "bolt": 2}), "jadechain", image, tls_dir=tmp_path / "tls")
    validate_all(manifests)
    workloads = [m for m in manifests if m["kind"] == "StatefulSet"]
    for workload in workloads:
        template = workload["spec"]["template"]
        assert template["metadata"]["annotations"]["jadechain.io/image-digest"] == DIGEST
        containers = template["spec"]["containers"] + template["spec"]["initContainers"]
        assert {c["image"] for c in containers} == {f"jadechain/node:0.1.0@{DIGEST}"}
        assert template["spec"]["securityContext"]["runAsUser"] == 10001  # the image's non-root user
        assert template["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"
    with pytest.raises(ValueError):
        image_reference("jadechain/node:0.1.0", "sha256:short")
    with pytest.raises(ValueError):
        image_reference(f"jadechain/node:0.1.0@sha256:{'cd' * 32}", DIGEST)


def test_nodes_mount_the_consortium_ca_and_their_certificate_from_secrets(tmp_path):
    specs = network_specs({"acme": 2, "bolt": 1})
    manifests = render_network(specs, "jadechain", "jadechain/node:0.1.0", tls_dir=tmp_path / "tls")
    secrets = {m["metadata"]["name"]: m["stringData"] for m in manifests if m["kind"] == "Secret"}
    ca_pem = secrets["tea-consortium-ca"]["ca.pem"]
    assert list(secrets["tea-consortium-ca"]) == ["ca.pem"]  # the CA's key never leaves the control plane
    assert all("PRIVATE KEY" not in value for value in secrets["tea-consortium-ca"].values())
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    for spec in specs:
        name = f"tea-{spec.name}"
        certificate = x509.load_pem_x509_certificate(secrets[f"{name}-tls"]["node.pem"].encode())
        certificate.verify_directly_issued_by(ca)
        assert node_key_of_certificate(secrets[f"{name}-tls"]["node.pem"].encode()) == spec.public_key
        if shutil.which("openssl"):  # independent oracle: OpenSSL's chain check
            (tmp_path / "ca.pem").write_text(ca_pem)
            (tmp_path / "node.pem").write_text(secrets[f"{name}-tls"]["node.pem"])
            checked = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "node.pem")],
                                     capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr
        config_map = next(m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == f"{name}-config")
        config = parse_node_config(config_map["data"]["node.toml"])
        assert config.tls is not None
        assert (config.tls.ca_file, config.tls.cert_file, config.tls.key_file) == ("/tls/ca.pem", "/tls/node.pem", "/tls/node.key")
        stateful = next(m for m in manifests if m["kind"] == "StatefulSet" and m["metadata"]["name"] == name)
        pod = stateful["spec"]["template"]["spec"]
        tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")
        sources = {s["secret"]["name"]: [i["path"] for i in s["secret"]["items"]] for s in tls_volume["projected"]["sources"]}
        assert sources == {"tea-consortium-ca": ["ca.pem"], f"{name}-tls": ["node.pem", "node.key"]}
        assert tls_volume["projected"]["defaultMode"] == 0o400
        assert {"name": "tls", "mountPath": "/tls", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    # Rendering again reuses the same CA (a second render must not split the network in two).
    again = render_network(specs, "jadechain", "jadechain/node:0.1.0", tls_dir=tmp_path / "tls")
    assert next(m for m in again if m["metadata"]["name"] == "tea-consortium-ca")["stringData"]["ca.pem"] == ca_pem


@pytest.mark.parametrize("external", [False, True])
def test_control_plane_manifests_validate_and_hold_no_secret(external):
    image = image_reference("jadechain/node:0.1.0", DIGEST)
    manifests = render_control_plane("jadechain", image, external_database=external)
    validate_all(manifests)
    kinds = [m["kind"] for m in manifests]
    assert "Secret" not in kinds
    assert kinds.count("Deployment") == 1
    assert ("StatefulSet" in kinds) is not external  # PostgreSQL here, or a URL from a Secret
    text = json.dumps(manifests)
    assert "BEGIN" not in text and "master.key" not in text
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert deployment["spec"]["template"]["metadata"]["annotations"]["jadechain.io/image-digest"] == DIGEST
    env = {e["name"]: e for e in container["env"]}
    assert env["JADECHAIN_MASTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "jadechain-baas-master-key", "key": "master-key"}
    assert env["JADECHAIN_BAAS_PROVISIONER"]["value"] == "kubernetes"
    names = [e["name"] for e in container["env"]]
    if external:
        assert env["JADECHAIN_BAAS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "jadechain-baas-database"
    else:
        # $(POSTGRES_PASSWORD) only expands when that variable is defined earlier in the list.
        assert names.index("POSTGRES_PASSWORD") < names.index("JADECHAIN_BAAS_DATABASE_URL")
        assert "$(POSTGRES_PASSWORD)@jadechain-baas-postgres:5432/" in env["JADECHAIN_BAAS_DATABASE_URL"]["value"]
        service = next(m for m in manifests if m["kind"] == "Service" and m["metadata"]["name"] == "jadechain-baas-postgres")
        postgres = next(m for m in manifests if m["kind"] == "StatefulSet")
        assert matches(service["spec"]["selector"], postgres["spec"]["template"]["metadata"]["labels"])
    # The control plane may manage node workloads in its namespace, nothing cluster-wide.
    assert "ClusterRole" not in kinds
    role = next(m for m in manifests if m["kind"] == "Role")
    assert {r for rule in role["rules"] for r in rule["resources"]} >= {"statefulsets", "secrets", "poddisruptionbudgets"}
    binding = next(m for m in manifests if m["kind"] == "RoleBinding")
    assert binding["subjects"][0]["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]


# kubectl ----------------------------------------------------------------------------------------

RESOURCES = {
    "v1": [("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
           ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
           ("persistentvolumeclaims", "PersistentVolumeClaim", True)],
    "apps/v1": [("statefulsets", "StatefulSet", True), ("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
}


class DiscoveryOnly(BaseHTTPRequestHandler):
    """Answers kubectl's API discovery; every object lookup is 404 (nothing exists yet)."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0].rstrip("/")
        groups = [g for g in RESOURCES if "/" in g]
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g.split("/")[0], "versions": [{"groupVersion": g, "version": g.split("/")[1]}],
                 "preferredVersion": {"groupVersion": g, "version": g.split("/")[1]}} for g in groups]})
        for group_version, resources in RESOURCES.items():
            prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            if path == prefix:
                return self._send(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                                        "resources": [{"name": name, "singularName": kind.lower(), "namespaced": namespaced,
                                                       "kind": kind, "verbs": ["create", "delete", "get", "list", "patch", "update"]}
                                                      for name, kind, namespaced in resources]})
        self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                         "message": "not found"})


@pytest.fixture()
def discovery_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DiscoveryOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def kubectl_dry_run(folder: Path, server: str, tmp_path: Path) -> list[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dry",
        "clusters": [{"name": "dry", "cluster": {"server": server}}],
        "contexts": [{"name": "dry", "context": {"cluster": "dry", "user": "dry"}}], "users": [{"name": "dry", "user": {}}]}))
    files = sorted(p for p in folder.glob("*.yaml") if p.name != "all.yaml")
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "apply", "--dry-run=client", "--validate=false",
                             *[arg for path in files for arg in ("-f", str(path))]],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_accepts_every_rendered_manifest(tmp_path, discovery_server):
    network = render_network(network_specs({"acme": 2, "bolt": 2}), "jadechain", "jadechain/node:0.1.0",
                             tls_dir=tmp_path / "tls")
    for name, manifests in (("network", network),
                            ("control-plane", render_control_plane("jadechain", "jadechain/node:0.1.0")),
                            ("external", render_control_plane("jadechain", "jadechain/node:0.1.0", external_database=True))):
        write_manifests(manifests, tmp_path / name)
        lines = kubectl_dry_run(tmp_path / name, discovery_server, tmp_path)
        assert len(lines) == len(manifests)
        assert all(line.endswith("(dry run)") for line in lines), lines


# the command -------------------------------------------------------------------------------------

def test_render_k8s_control_plane_command(tmp_path):
    from baas.cli import baas_app

    runner = CliRunner()
    out = tmp_path / "cp"
    result = runner.invoke(baas_app, ["render-k8s", "--control-plane", "--out", str(out), "--image-digest", DIGEST])
    assert result.exit_code == 0, result.output
    assert "create secret generic jadechain-baas-master-key" in result.output
    manifests = list(yaml.safe_load_all((out / "all.yaml").read_text()))
    validate_all(manifests)
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    from importlib.metadata import version

    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"jadechain/node:{version('jadechain')}@{DIGEST}"
    bad = runner.invoke(baas_app, ["render-k8s", "--control-plane", "--out", str(out), "--image-digest", "md5:00"])
    assert bad.exit_code == 2 and "sha256" in bad.output
    both = runner.invoke(baas_app, ["render-k8s", "tea", "--control-plane", "--out", str(out)])
    assert both.exit_code == 2
    neither = runner.invoke(baas_app, ["render-k8s", "--out", str(out)])
    assert neither.exit_code == 2


# the provisioner the control plane uses in a cluster ------------------------------------------------

class RecordingResources:
    """The dynamic client's ``resources``: every server-side apply recorded with its body."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    def get(self, api_version: str, kind: str) -> "RecordingResources":
        return self

    def server_side_apply(self, body: dict[str, Any], **_: Any) -> None:
        if body["kind"] not in CRDS:
            kubernetes_validate.validate(body, K8S_VERSION, strict=True)
        self.applied.append(body)


def test_the_in_cluster_provisioner_applies_tls_the_budget_and_the_gateway_service(tmp_path):
    from baas.provisioners.kubernetes import KubernetesProvisioner

    specs = network_specs({"acme": 2, "bolt": 2})  # n = 4, f = 1
    provisioner = KubernetesProvisioner("jadechain", f"jadechain/node:0.1.0@{DIGEST}", tls_root=tmp_path)
    recorder = RecordingResources()
    provisioner._dynamic = type("Dynamic", (), {"resources": recorder})()
    for spec in specs:
        provisioner.deploy_node(spec)
    by_name = {(m["kind"], m["metadata"]["name"]): m for m in recorder.applied}
    assert by_name[("PodDisruptionBudget", "tea-validators")]["spec"]["minAvailable"] == 3
    assert ("Service", "tea-gateway") in by_name
    ca = by_name[("Secret", "tea-consortium-ca")]["stringData"]["ca.pem"]
    assert (tmp_path / "tea" / "tls" / "ca.pem").read_text() == ca  # the local provisioner's layout
    for spec in specs:
        certificate = x509.load_pem_x509_certificate(by_name[("Secret", f"tea-{spec.name}-tls")]["stringData"]["node.pem"].encode())
        certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.encode()))
        assert "[tls]" in by_name[("ConfigMap", f"tea-{spec.name}-config")]["data"]["node.toml"]
