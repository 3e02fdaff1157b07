"""Kubernetes provisioner: one StatefulSet per node (one replica), a PVC for its ledger data, a
Secret for its key, a ConfigMap for its node.toml and genesis, a Service for its ports, probes on
the gateway's /health, a ServiceMonitor for Prometheus. Applied with the official ``kubernetes``
client (server-side apply) to the cluster of a kubeconfig; ``render_network`` also serves
``jadechain baas render-k8s``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from baas.provisioners.base import NodeHandle, NodeSpec, PeerSpec, Provisioner
from baas.provisioners.local import render_node_toml

GRPC_PORT = 7100
GATEWAY_PORT = 8100
FIELD_MANAGER = "jadechain-baas"
DATA_SIZE = "10Gi"


def k8s_name(*parts: str) -> str:
    """A DNS-1123 label from ``parts`` (lower case, digits and '-', at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "node"


def _labels(spec: NodeSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "jadechain-node", "app.kubernetes.io/part-of": k8s_name(spec.network),
            "app.kubernetes.io/instance": k8s_name(spec.network, spec.name), "jadechain.io/organization": k8s_name(spec.organization)}


def _in_cluster_spec(spec: NodeSpec, namespace: str) -> NodeSpec:
    """The same node as seen inside the cluster: fixed container ports, peers by Service DNS name."""
    peers = tuple(PeerSpec(p.name, p.public_key, f"{k8s_name(spec.network, p.name)}.{namespace}.svc:{GRPC_PORT}")
                  for p in spec.peers)
    return NodeSpec(network=spec.network, name=spec.name, organization=spec.organization, public_key=spec.public_key,
                    keystore_json=spec.keystore_json, password=spec.password, grpc_port=GRPC_PORT,
                    gateway_port=GATEWAY_PORT, ledger_hashes=spec.ledger_hashes, genesis=spec.genesis, peers=peers,
                    consensus=spec.consensus, host="0.0.0.0")


def render_node(spec: NodeSpec, namespace: str, image: str) -> list[dict[str, Any]]:
    """The manifests of one node, in apply order."""
    name = k8s_name(spec.network, spec.name)
    labels = _labels(spec)
    inside = _in_cluster_spec(spec, namespace)
    toml = render_node_toml(inside, "/data", "/keys/key.json", "/keys/PASSWORD")
    genesis_files = {f"genesis-{h[:16]}.json": spec.genesis[h] for h in spec.ledger_hashes}
    init_commands = " && ".join(
        f"(test -d /data/ledgers/{h} || jadechain genesis init --genesis /config/genesis-{h[:16]}.json --data-dir /data)"
        for h in spec.ledger_hashes) or "true"
    probe = {"httpGet": {"path": "/health", "port": "gateway"}, "periodSeconds": 10, "timeoutSeconds": 3}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{name}-config", "namespace": namespace, "labels": labels},
                  "data": {"node.toml": toml, **genesis_files}}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": f"{name}-key", "namespace": namespace, "labels": labels},
              "stringData": {"key.json": json.dumps(spec.keystore_json), "PASSWORD": spec.password}}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "labels": labels},
               "spec": {"selector": {"app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]},
                        "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                                  {"name": "gateway", "port": GATEWAY_PORT, "targetPort": "gateway", "protocol": "TCP"}]}}
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/config", "readOnly": True},
              {"name": "key", "mountPath": "/keys", "readOnly": True}]
    stateful_set = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "terminationGracePeriodSeconds": 30,
                    "initContainers": [{"name": "genesis-init", "image": image, "command": ["sh", "-c", init_commands],
                                        "volumeMounts": mounts}],
                    "containers": [{
                        "name": "node", "image": image,
                        "command": ["python", "-P", "-m", "node.server", "--config", "/config/node.toml"],
                        "ports": [{"name": "grpc", "containerPort": GRPC_PORT}, {"name": "gateway", "containerPort": GATEWAY_PORT}],
                        "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
                        "startupProbe": {**probe, "failureThreshold": 30},
                        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                        "volumeMounts": mounts,
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                {"name": "key", "secret": {"secretName": f"{name}-key", "defaultMode": 0o400}}],
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
    return [config_map, secret, service, stateful_set, service_monitor]


def render_network(specs: Iterable[NodeSpec], namespace: str, image: str) -> list[dict[str, Any]]:
    namespace_manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    manifests: list[dict[str, Any]] = [namespace_manifest]
    for spec in specs:
        manifests += render_node(spec, namespace, image)
    return manifests


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

    def __init__(self, namespace: str, image: str, kubeconfig: str | None = None, api_client: Any = None) -> None:
        self.namespace = namespace
        self.image = image
        self.kubeconfig = kubeconfig
        self._api_client = api_client
        self._dynamic: Any = None

    def _client(self) -> Any:
        if self._dynamic is None:
            from kubernetes import config, dynamic

            api_client = self._api_client
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
        manifests = render_node(spec, self.namespace, self.image)
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}] + manifests)
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
