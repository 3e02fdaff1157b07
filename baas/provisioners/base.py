"""The one interface every provisioner implements, and the specs it is given.

The control plane decides *what* a network is (keys in custody, genesis, ports, consensus
settings); a provisioner only makes it so somewhere and reports what it sees. Specs are plain
data so a provisioner never touches the database.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Literal

NodeRuntimeState = Literal["running", "starting", "stopped", "crashed", "unknown"]


@dataclass(frozen=True)
class PeerSpec:
    name: str
    public_key: str
    address: str


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to run one node: its files are written from this."""

    network: str
    name: str
    organization: str
    public_key: str
    keystore_json: dict[str, Any]
    """The node's key, encrypted with ``password`` (jadechain keystore format)."""
    password: str
    grpc_port: int
    gateway_port: int
    ledger_hashes: tuple[str, ...]
    genesis: dict[str, str]
    """ledger hash → genesis file content (JSON text written by ``jadechain genesis``)."""
    peers: tuple[PeerSpec, ...] = ()
    consensus: dict[str, Any] = field(default_factory=dict)
    host: str = "127.0.0.1"


@dataclass
class NodeHandle:
    """What the provisioner reports about a node it runs."""

    state: NodeRuntimeState
    pid: int | None = None
    pid_started_at: float | None = None
    url: str | None = None
    detail: str = ""
    restarts: int = 0


class Provisioner(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def deploy_node(self, spec: NodeSpec) -> NodeHandle:
        """Write the node's configuration and data, then start it."""

    @abc.abstractmethod
    def start_node(self, spec: NodeSpec) -> NodeHandle: ...

    @abc.abstractmethod
    def stop_node(self, spec: NodeSpec, timeout: float = 15.0) -> NodeHandle: ...

    @abc.abstractmethod
    def remove_node(self, spec: NodeSpec) -> None:
        """Stop the node and release its resources (the data stays for audit unless purged)."""

    @abc.abstractmethod
    def node_status(self, spec: NodeSpec) -> NodeHandle: ...

    def restart_node(self, spec: NodeSpec, timeout: float = 15.0) -> NodeHandle:
        self.stop_node(spec, timeout)
        return self.start_node(spec)

    def gateway_url(self, spec: NodeSpec) -> str:
        return f"http://{spec.host}:{spec.gateway_port}"

    def close(self) -> None:
        """Release the provisioner's own resources (nodes keep running)."""
