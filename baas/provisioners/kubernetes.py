"""Kubernetes provisioner: one StatefulSet per node (one replica), a PVC for its ledger data, a
Secret for its key, a ConfigMap for its node.toml and genesis, a Service for its ports, probes on
the gateway's /health (liveness) and /ready (readiness: caught up and voting), a ServiceMonitor for
Prometheus; per network a PodDisruptionBudget that keeps n - f validators up, required
anti-affinity so one organisation's validators never share a host, the consortium CA certificate
and each node's TLS certificate in Secrets. Applied with the official ``kubernetes`` client
(server-side apply) to the cluster of a kubeconfig; ``render_network`` also serves
``jadechain baas render-k8s``, and ``render_control_plane`` its ``--control-plane`` form.

Images: ``jadechain/node:<version>`` built from the project's Dockerfile (or, without a daemon, by
deploy/image/build-rootfs.sh); given a digest the manifests pull ``image@sha256:...`` and record it
in the ``jadechain.io/image-digest`` annotation.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from baas.provisioners.base import NodeHandle, NodeSpec, PeerSpec, Provisioner
from baas.provisioners.local import render_node_toml
from ledger.certificate import max_faulty

GRPC_PORT = 7100
GATEWAY_PORT = 8100
CONTROL_PLANE_PORT = 8700
POSTGRES_PORT = 5432
FIELD_MANAGER = "jadechain-baas"
DATA_SIZE = "10Gi"
RUN_AS = 10001
"""The image's non-root user and group (Dockerfile, build-rootfs.sh)."""
IMAGE_REPOSITORY = "jadechain/node"
POSTGRES_IMAGE = "postgres:16-bookworm"
MASTER_KEY_SECRET = "jadechain-baas-master-key"
POSTGRES_SECRET = "jadechain-baas-postgres"
DATABASE_SECRET = "jadechain-baas-database"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def default_image() -> str:
    """``jadechain/node:<installed version>``: the tag the Dockerfile and build-rootfs.sh produce."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{IMAGE_REPOSITORY}:{version('jadechain')}"
    except PackageNotFoundError:
        return f"{IMAGE_REPOSITORY}:0.1.0"


def image_reference(image: str, digest: str | None) -> str:
    """``image`` pinned to ``digest`` (``repo:tag@sha256:...``); a reference may carry its own digest."""
    if digest is None:
        return image
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"image digest must be sha256:<64 hex digits>, not {digest!r}")
    if "@" in image:
        if image.split("@", 1)[1] != digest:
            raise ValueError(f"{image} already names another digest than {digest}")
        return image
    return f"{image}@{digest}"


def image_digest(image: str) -> str | None:
    """The digest an image reference pins, if any."""
    return image.split("@", 1)[1] if "@" in image else None


def fault_tolerance(validators: int) -> int:
    """f: the validators a BFT network of ``validators`` members (n >= 3f + 1) can lose (0 for none)."""
    return max(0, max_faulty(validators))


def k8s_name(*parts: str) -> str:
    """A DNS-1123 label from ``parts`` (lower case, digits and '-', at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "node"


def _labels(spec: NodeSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "jadechain-node", "app.kubernetes.io/part-of": k8s_name(spec.network),
            "app.kubernetes.io/instance": k8s_name(spec.network, spec.name),
            "app.kubernetes.io/component": "validator", "jadechain.io/organization": k8s_name(spec.organization)}


def _validator_selector(network: str, organization: str | None = None) -> dict[str, str]:
    selector = {"app.kubernetes.io/name": "jadechain-node", "app.kubernetes.io/part-of": k8s_name(network),
                "app.kubernetes.io/component": "validator"}
    if organization is not None:
        selector["jadechain.io/organization"] = k8s_name(organization)
    return selector


def _in_cluster_spec(spec: NodeSpec, namespace: str) -> NodeSpec:
    """The same node as seen inside the cluster: fixed container ports, peers by Service DNS name
    (a peer already given as ``host:port`` outside this namespace, e.g. in another organisation's
    cluster, keeps its address)."""
    peers = tuple(PeerSpec(p.name, p.public_key, p.address[len(_REMOTE):] if p.address.startswith(_REMOTE)
                           else f"{k8s_name(spec.network, p.name)}.{namespace}.svc:{GRPC_PORT}")
                  for p in spec.peers)
    return NodeSpec(network=spec.network, name=spec.name, organization=spec.organization, public_key=spec.public_key,
                    keystore_json=spec.keystore_json, password=spec.password, grpc_port=GRPC_PORT,
                    gateway_port=GATEWAY_PORT, ledger_hashes=spec.ledger_hashes, genesis=spec.genesis, peers=peers,
                    consensus=spec.consensus, host="0.0.0.0")


@dataclass(frozen=True)
class NodeTls:
    """One node's TLS material from the consortium CA (PEM text): the CA certificate (never its key),
    the node's certificate and the node's TLS private key."""

    ca_certificate: str
    certificate: str
    private_key: str


def issue_node_tls(tls_dir: Path, network: str, spec: NodeSpec) -> NodeTls:
    """The node's certificate from the network's consortium CA under ``tls_dir`` (created on first use,
    the same layout the local provisioner keeps: ca.pem, ca.key 0600, <node>.pem, <node>.key)."""
    from node.tls import create_consortium_ca, issue_certificate

    if not (tls_dir / "ca.key").exists():
        create_consortium_ca(tls_dir, network)
    if not (tls_dir / f"{spec.name}.pem").exists():
        issue_certificate(tls_dir, spec.name, spec.public_key)
    return NodeTls((tls_dir / "ca.pem").read_text(), (tls_dir / f"{spec.name}.pem").read_text(),
                   (tls_dir / f"{spec.name}.key").read_text())


def _tls_section() -> str:
    return "\n".join(["", "[tls]", 'ca_file = "/tls/ca.pem"', 'cert_file = "/tls/node.pem"',
                      'key_file = "/tls/node.key"', ""])


def render_node(spec: NodeSpec, namespace: str, image: str, tls: NodeTls | None = None) -> list[dict[str, Any]]:
    """The manifests of one node, in apply order."""
    name = k8s_name(spec.network, spec.name)
    labels = _labels(spec)
    inside = _in_cluster_spec(spec, namespace)
    toml = render_node_toml(inside, "/data", "/keys/key.json", "/keys/PASSWORD")
    if tls is not None:
        toml += _tls_section()
    genesis_files = {f"genesis-{h[:16]}.json": spec.genesis[h] for h in spec.ledger_hashes}
    init_commands = " && ".join(
        f"(test -d /data/ledgers/{h} || jadechain genesis init --genesis /config/genesis-{h[:16]}.json --data-dir /data)"
        for h in spec.ledger_hashes) or "true"
    health = {"httpGet": {"path": "/health", "port": "gateway"}, "periodSeconds": 10, "timeoutSeconds": 3}
    readiness = {"httpGet": {"path": "/ready", "port": "gateway"}, "periodSeconds": 10, "timeoutSeconds": 3,
                 "failureThreshold": 3}
    annotations = {"jadechain.io/image": image}
    digest = image_digest(image)
    if digest is not None:
        annotations["jadechain.io/image-digest"] = digest
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{name}-config", "namespace": namespace, "labels": labels},
                  "data": {"node.toml": toml, **genesis_files}}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": f"{name}-key", "namespace": namespace, "labels": labels},
              "stringData": {"key.json": json.dumps(spec.keystore_json), "PASSWORD": spec.password}}
    # Peers must reach a node that is still catching up (it is not ready until it votes), and the
    # control plane watches it: the node's own Service publishes not-ready addresses.
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "labels": labels},
               "spec": {"selector": {"app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]},
                        "publishNotReadyAddresses": True,
                        "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                                  {"name": "gateway", "port": GATEWAY_PORT, "targetPort": "gateway", "protocol": "TCP"}]}}
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/config", "readOnly": True},
              {"name": "key", "mountPath": "/keys", "readOnly": True}]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{name}-config"}},
        {"name": "key", "secret": {"secretName": f"{name}-key", "defaultMode": 0o400}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    manifests: list[dict[str, Any]] = [config_map, secret]
    if tls is not None:
        manifests.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                          "metadata": {"name": f"{name}-tls", "namespace": namespace, "labels": labels},
                          "stringData": {"node.pem": tls.certificate, "node.key": tls.private_key}})
        mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
        volumes.append({"name": "tls", "projected": {"defaultMode": 0o400, "sources": [
            {"secret": {"name": f"{k8s_name(spec.network)}-consortium-ca", "items": [{"key": "ca.pem", "path": "ca.pem"}]}},
            {"secret": {"name": f"{name}-tls", "items": [{"key": "node.pem", "path": "node.pem"},
                                                          {"key": "node.key", "path": "node.key"}]}}]}})
    affinity = {
        # One organisation's validators never share a host: losing a machine costs it one vote at most.
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": _validator_selector(spec.network, spec.organization)},
                "topologyKey": "kubernetes.io/hostname"}],
            # And, where the cluster has room, no two validators of the network on one host at all.
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": _validator_selector(spec.network)},
                    "topologyKey": "kubernetes.io/hostname"}}],
        },
    }
    stateful_set = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                        "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "affinity": affinity,
                    "initContainers": [{"name": "genesis-init", "image": image, "command": ["sh", "-c", init_commands],
                                        "securityContext": _container_security(), "volumeMounts": mounts}],
                    "containers": [{
                        "name": "node", "image": image,
                        "command": ["python", "-P", "-m", "node.server", "--config", "/config/node.toml"],
                        "ports": [{"name": "grpc", "containerPort": GRPC_PORT}, {"name": "gateway", "containerPort": GATEWAY_PORT}],
                        "readinessProbe": readiness,
                        "livenessProbe": {**health, "initialDelaySeconds": 30, "failureThreshold": 6},
                        "startupProbe": {**health, "failureThreshold": 30},
                        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                        "securityContext": _container_security(),
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": labels},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": DATA_SIZE}}},
            }],
        },
    }
    service_monitor = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]}},
                 "endpoints": [{"port": "gateway", "path": "/metrics", "interval": "15s"}]},
    }
    return manifests + [service, stateful_set, service_monitor]


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}


def disruption_budget(network: str, namespace: str, validators: int) -> dict[str, Any]:
    """A PodDisruptionBudget that keeps n - f of the network's ``validators`` ready (caught up and
    voting) through voluntary disruptions: drains and upgrades wait rather than break the quorum. A pod
    that is not ready anyway may still be evicted (it counts for nothing)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": f"{k8s_name(network)}-validators", "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": k8s_name(network)}},
            "spec": {"minAvailable": validators - fault_tolerance(validators),
                     "selector": {"matchLabels": _validator_selector(network)},
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"}}


def organization_budget(network: str, namespace: str, organization: str, local_validators: int,
                        network_validators: int, organizations: int) -> dict[str, Any]:
    """The budget of one organisation's cluster: at most f // organizations of its validators down at
    once (the clusters do not see each other, so each takes an equal share of f; with none left the
    organisation's validators are only disrupted by hand, in a window agreed with the others)."""
    allowance = fault_tolerance(network_validators) // max(1, organizations)
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": f"{k8s_name(network, organization)}-validators", "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": k8s_name(network)}},
            "spec": {"minAvailable": max(0, local_validators - allowance),
                     "selector": {"matchLabels": _validator_selector(network, organization)},
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"}}


def render_network(specs: Iterable[NodeSpec], namespace: str, image: str, *, tls_dir: Path | None = None,
                   organization: str | None = None, peer_addresses: dict[str, str] | None = None,
                   ) -> list[dict[str, Any]]:
    """A network's manifests: namespace, the consortium CA certificate (with ``tls_dir``), each node, a
    gateway Service over the ready validators, and the disruption budget. With ``organization`` only
    that organisation's nodes (its own cluster); a peer elsewhere is dialled at ``peer_addresses[name]``
    (``host:port`` its organisation exposes), else at the address its spec gives."""
    all_specs = list(specs)
    if not all_specs:
        raise ValueError("a network needs at least one node")
    network = all_specs[0].network
    local = [s for s in all_specs if organization is None or s.organization == organization]
    if not local:
        raise ValueError(f"no node of organisation {organization!r} in network {network!r}")
    names = {s.name for s in local}
    overrides = dict(peer_addresses or {})
    unknown = set(overrides) - {s.name for s in all_specs} | (set(overrides) & names)
    if unknown:
        raise ValueError(f"--peer-address names no remote node of {network!r}: {', '.join(sorted(unknown))}")
    for address in overrides.values():
        if not re.fullmatch(r"[A-Za-z0-9.-]+:[0-9]{1,5}", address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
            raise ValueError(f"peer address must be host:port, not {address!r}")
    namespace_manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    manifests: list[dict[str, Any]] = [namespace_manifest]
    tls: dict[str, NodeTls] = {}
    if tls_dir is not None:
        tls = {s.name: issue_node_tls(tls_dir, network, s) for s in local}
        manifests.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                          "metadata": {"name": f"{k8s_name(network)}-consortium-ca", "namespace": namespace,
                                       "labels": {"app.kubernetes.io/part-of": k8s_name(network)}},
                          "stringData": {"ca.pem": tls[local[0].name].ca_certificate}})
    for spec in local:
        if organization is not None:
            # Peers of other organisations run elsewhere: keep the address their spec gives.
            spec = _with_remote_peers(spec, names, overrides)
        manifests += render_node(spec, namespace, image, tls.get(spec.name))
    manifests.append(_gateway_service(network, namespace, organization))
    if organization is None:
        manifests.append(disruption_budget(network, namespace, len(all_specs)))
    else:
        organizations = len({s.organization for s in all_specs})
        manifests.append(organization_budget(network, namespace, organization, len(local), len(all_specs),
                                             organizations))
    return manifests


def _gateway_service(network: str, namespace: str, organization: str | None) -> dict[str, Any]:
    """Clients' way in: the gateways of the network's ready validators (not-ready ones are left out)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{k8s_name(network)}-gateway", "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": k8s_name(network)}},
            "spec": {"selector": _validator_selector(network, organization),
                     "ports": [{"name": "gateway", "port": GATEWAY_PORT, "targetPort": "gateway", "protocol": "TCP"}]}}


def _with_remote_peers(spec: NodeSpec, local_names: set[str], overrides: dict[str, str]) -> NodeSpec:
    """Local peers by in-cluster DNS, remote peers by the address in their spec (marked so that
    ``_in_cluster_spec`` keeps it)."""
    return NodeSpec(network=spec.network, name=spec.name, organization=spec.organization,
                    public_key=spec.public_key, keystore_json=spec.keystore_json, password=spec.password,
                    grpc_port=spec.grpc_port, gateway_port=spec.gateway_port, ledger_hashes=spec.ledger_hashes,
                    genesis=spec.genesis, consensus=spec.consensus, host=spec.host,
                    peers=tuple(p if p.name in local_names
                                else PeerSpec(p.name, p.public_key, _REMOTE + overrides.get(p.name, p.address))
                                for p in spec.peers))


_REMOTE = "remote:"


def write_manifests(manifests: list[dict[str, Any]], out: Path) -> list[Path]:
    """One YAML file per manifest (``NN-kind-name.yaml``), plus ``all.yaml``."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, manifest in enumerate(manifests):
        path = out / f"{index:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    (out / "all.yaml").write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    return paths


class KubernetesProvisioner(Provisioner):
    name = "kubernetes"

    def __init__(self, namespace: str, image: str, kubeconfig: str | None = None, api_client: Any = None,
                 tls_root: Path | None = None) -> None:
        self.namespace = namespace
        self.image = image
        self.tls_root = tls_root
        """Where each network's consortium CA lives (``<tls_root>/<network>/tls/``, as the local
        provisioner keeps it); None: plaintext gRPC between the nodes."""
        self.kubeconfig = kubeconfig
        self._api_client = api_client
        self._dynamic: Any = None

    def _client(self) -> Any:
        if self._dynamic is None:
            from kubernetes import config, dynamic

            api_client = self._api_client
            if api_client is None and self.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                # Running in a pod (render_control_plane): the ServiceAccount's token and the cluster CA.
                config.load_incluster_config()
                from kubernetes import client

                api_client = client.ApiClient()
            if api_client is None:
                api_client = config.new_client_from_config(config_file=self.kubeconfig)
            self._dynamic = dynamic.DynamicClient(api_client)
        return self._dynamic

    def apply(self, manifests: list[dict[str, Any]]) -> None:
        client = self._client()
        for manifest in manifests:
            resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
            namespace = manifest["metadata"].get("namespace")
            resource.server_side_apply(body=manifest, name=manifest["metadata"]["name"], namespace=namespace,
                                       field_manager=FIELD_MANAGER, force_conflicts=True)

    def _stateful_set(self) -> Any:
        return self._client().resources.get(api_version="apps/v1", kind="StatefulSet")

    def deploy_node(self, spec: NodeSpec) -> NodeHandle:
        prefix: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}]
        tls = None
        if self.tls_root is not None:
            tls = issue_node_tls(self.tls_root / spec.network / "tls", spec.network, spec)
            prefix.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": {"name": f"{k8s_name(spec.network)}-consortium-ca", "namespace": self.namespace,
                                        "labels": {"app.kubernetes.io/part-of": k8s_name(spec.network)}},
                           "stringData": {"ca.pem": tls.ca_certificate}})
        # The network's budget and client Service follow the validator count this node's spec knows of
        # (itself and its peers); a later node's deployment updates them.
        network_wide = [_gateway_service(spec.network, self.namespace, None),
                        disruption_budget(spec.network, self.namespace, len(spec.peers) + 1)]
        self.apply(prefix + render_node(spec, self.namespace, self.image, tls) + network_wide)
        return NodeHandle("starting", url=self.gateway_url(spec))

    def _scale(self, spec: NodeSpec, replicas: int) -> None:
        self._stateful_set().patch(name=k8s_name(spec.network, spec.name), namespace=self.namespace,
                                   body={"spec": {"replicas": replicas}},
                                   content_type="application/merge-patch+json")

    def start_node(self, spec: NodeSpec) -> NodeHandle:
        self._scale(spec, 1)
        return NodeHandle("starting", url=self.gateway_url(spec))

    def stop_node(self, spec: NodeSpec, timeout: float = 15.0, **_: Any) -> NodeHandle:
        self._scale(spec, 0)
        return NodeHandle("stopped", url=self.gateway_url(spec))

    def restart_node(self, spec: NodeSpec, timeout: float = 15.0) -> NodeHandle:
        import datetime as dt

        stamp = dt.datetime.now(dt.timezone.utc).isoformat()
        self._stateful_set().patch(
            name=k8s_name(spec.network, spec.name), namespace=self.namespace,
            body={"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}},
            content_type="application/merge-patch+json")
        return NodeHandle("starting", url=self.gateway_url(spec))

    def remove_node(self, spec: NodeSpec, **_: Any) -> None:
        """Delete the node's workload, Service, config and Secret; the PVC (its ledger data) is kept."""
        client = self._client()
        name = k8s_name(spec.network, spec.name)
        for api_version, kind, resource_name in (
            ("monitoring.coreos.com/v1", "ServiceMonitor", name), ("apps/v1", "StatefulSet", name),
            ("v1", "Service", name), ("v1", "ConfigMap", f"{name}-config"), ("v1", "Secret", f"{name}-key"),
            ("v1", "Secret", f"{name}-tls"),
        ):
            try:
                client.resources.get(api_version=api_version, kind=kind).delete(name=resource_name, namespace=self.namespace)
            except Exception as error:  # already gone, or the CRD is not installed
                if getattr(error, "status", None) not in (404, None):
                    raise

    def node_status(self, spec: NodeSpec, *_: Any) -> NodeHandle:
        try:
            found = self._stateful_set().get(name=k8s_name(spec.network, spec.name), namespace=self.namespace)
        except Exception as error:
            return NodeHandle("unknown", url=self.gateway_url(spec), detail=str(error)[:200])
        status = found.to_dict().get("status", {}) if hasattr(found, "to_dict") else dict(found.get("status", {}))
        ready = status.get("readyReplicas") or 0
        return NodeHandle("running" if ready >= 1 else "starting", url=self.gateway_url(spec))

    def gateway_url(self, spec: NodeSpec) -> str:
        return f"http://{k8s_name(spec.network, spec.name)}.{self.namespace}.svc:{GATEWAY_PORT}"


def render_control_plane(namespace: str, image: str, *, external_database: bool = False,
                         database_size: str = "20Gi") -> list[dict[str, Any]]:
    """The control plane on a cluster: a Deployment running ``jadechain baas serve`` (which mounts the
    traceability and evidence apps it starts) with the Kubernetes provisioner, its Service, a
    ServiceAccount allowed to manage nodes in ``namespace``, and PostgreSQL: a StatefulSet here, or
    (``external_database``) a URL the operator keeps in the ``jadechain-baas-database`` Secret.

    No secret is rendered: the custody master key (Secret ``jadechain-baas-master-key``, key
    ``master-key``: 32 hex digits) and the database password or URL are created by the operator with
    kubectl (docs/deploy.md), so these files can be kept in version control."""
    labels = {"app.kubernetes.io/name": "jadechain-baas", "app.kubernetes.io/part-of": "jadechain-control-plane"}
    postgres_labels = {"app.kubernetes.io/name": "jadechain-baas-postgres",
                       "app.kubernetes.io/part-of": "jadechain-control-plane"}
    annotations = {"jadechain.io/image": image}
    digest = image_digest(image)
    if digest is not None:
        annotations["jadechain.io/image-digest"] = digest
    manifests: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "jadechain-baas", "namespace": namespace, "labels": labels}}
    # What the Kubernetes provisioner applies, scales and removes (server-side apply), in its namespace only.
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "jadechain-baas-provisioner", "namespace": namespace, "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps", "secrets", "services"],
                 "verbs": ["get", "list", "create", "patch", "update", "delete"]},
                {"apiGroups": ["apps"], "resources": ["statefulsets"],
                 "verbs": ["get", "list", "create", "patch", "update", "delete"]},
                {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"],
                 "verbs": ["get", "list", "create", "patch", "update", "delete"]},
                {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"],
                 "verbs": ["get", "list", "create", "patch", "update", "delete"]},
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            ]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "jadechain-baas-provisioner", "namespace": namespace, "labels": labels},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jadechain-baas-provisioner"},
               "subjects": [{"kind": "ServiceAccount", "name": "jadechain-baas", "namespace": namespace}]}
    manifests += [account, role, binding]
    env: list[dict[str, Any]] = [
        {"name": "JADECHAIN_MASTER_KEY",
         "valueFrom": {"secretKeyRef": {"name": MASTER_KEY_SECRET, "key": "master-key"}}},
        {"name": "JADECHAIN_BAAS_PROVISIONER", "value": "kubernetes"},
        {"name": "JADECHAIN_BAAS_KUBERNETES_NAMESPACE", "value": namespace},
        {"name": "JADECHAIN_BAAS_NODE_IMAGE", "value": image},
        {"name": "JADECHAIN_BAAS_DATA_DIR", "value": "/data"},
    ]
    if external_database:
        env.append({"name": "JADECHAIN_BAAS_DATABASE_URL",
                    "valueFrom": {"secretKeyRef": {"name": DATABASE_SECRET, "key": "url"}}})
    else:
        env += [{"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": POSTGRES_SECRET, "key": "password"}}},
                # $(VAR) expands a variable defined above it (Kubernetes dependent environment variables).
                {"name": "JADECHAIN_BAAS_DATABASE_URL",
                 "value": f"postgresql+psycopg://jadechain:$(POSTGRES_PASSWORD)@jadechain-baas-postgres:{POSTGRES_PORT}/jadechain"}]
        manifests += [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "jadechain-baas-postgres", "namespace": namespace, "labels": postgres_labels},
             "spec": {"selector": postgres_labels,
                      "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres", "protocol": "TCP"}]}},
            {"apiVersion": "apps/v1", "kind": "StatefulSet",
             "metadata": {"name": "jadechain-baas-postgres", "namespace": namespace, "labels": postgres_labels},
             "spec": {
                 "replicas": 1, "serviceName": "jadechain-baas-postgres",
                 "selector": {"matchLabels": postgres_labels},
                 "template": {"metadata": {"labels": postgres_labels}, "spec": {
                     "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{
                         "name": "postgres", "image": POSTGRES_IMAGE,
                         "env": [{"name": "POSTGRES_USER", "value": "jadechain"},
                                 {"name": "POSTGRES_DB", "value": "jadechain"},
                                 {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                 {"name": "POSTGRES_PASSWORD",
                                  "valueFrom": {"secretKeyRef": {"name": POSTGRES_SECRET, "key": "password"}}}],
                         "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                         "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "jadechain", "-d", "jadechain"]},
                                            "periodSeconds": 10, "timeoutSeconds": 5},
                         "livenessProbe": {"exec": {"command": ["pg_isready", "-U", "jadechain", "-d", "jadechain"]},
                                           "initialDelaySeconds": 30, "periodSeconds": 20, "timeoutSeconds": 5},
                         "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                         "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                         "volumeMounts": [{"name": "pgdata", "mountPath": "/var/lib/postgresql/data"}],
                     }],
                 }},
                 "volumeClaimTemplates": [{"metadata": {"name": "pgdata", "labels": postgres_labels},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": database_size}}}}],
             }},
        ]
    probe_path = {"httpGet": {"path": "/openapi.json", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    manifests += [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "jadechain-baas-data", "namespace": namespace, "labels": labels},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "jadechain-baas", "namespace": namespace, "labels": labels, "annotations": annotations},
         "spec": {
             "replicas": 1,
             # One writer of the data volume (node TLS material, app files): replace, never overlap.
             "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": labels},
             "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": {
                 "serviceAccountName": "jadechain-baas",
                 "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{
                     "name": "baas", "image": image,
                     "command": ["jadechain", "baas", "serve", "--host", "0.0.0.0", "--port", str(CONTROL_PLANE_PORT)],
                     "env": env,
                     "ports": [{"name": "http", "containerPort": CONTROL_PLANE_PORT}],
                     "readinessProbe": probe_path,
                     "livenessProbe": {**probe_path, "initialDelaySeconds": 30, "failureThreshold": 6},
                     "startupProbe": {**probe_path, "failureThreshold": 30},
                     "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                     "securityContext": _container_security(),
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
                 }],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "jadechain-baas-data"}},
                             {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
             }},
         }},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "jadechain-baas", "namespace": namespace, "labels": labels},
         "spec": {"selector": labels,
                  "ports": [{"name": "http", "port": CONTROL_PLANE_PORT, "targetPort": "http", "protocol": "TCP"}]}},
    ]
    return manifests
