"""The supervisor restarts a node that keeps crashing with exponential back-off, and leaves
stopped nodes alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baas import supervisor as supervisor_module
from baas.app import build_state
from baas.models import Consortium, Network, Node, Organization
from baas.monitoring import NodeSample
from baas.provisioners.base import NodeHandle
from baas.settings import BaasSettings


@dataclass
class CrashingProvisioner:
    """Every start "succeeds"; the node is always found dead again."""

    name: str = "local"
    starts: list[float] = field(default_factory=list)
    clock: list[float] = field(default_factory=lambda: [0.0])

    def node_status(self, spec: Any, pid: Any = None, started_at: Any = None) -> NodeHandle:
        return NodeHandle("stopped")

    def start_node(self, spec: Any) -> NodeHandle:
        self.starts.append(self.clock[0])
        return NodeHandle("starting", pid=1000 + len(self.starts), pid_started_at=1.0)

    def stop_node(self, *args: Any, **kwargs: Any) -> NodeHandle:
        raise AssertionError("a stopped node is not stopped again")

    def log_tail(self, spec: Any, max_bytes: int) -> str:
        return '{"level": "error", "msg": "disk full"}\n'


def test_crash_loop_backs_off_exponentially(tmp_path, monkeypatch):
    state = build_state(BaasSettings(data_dir=tmp_path, supervise=False))
    provisioner = CrashingProvisioner()
    state.provisioner = provisioner
    monkeypatch.setattr(supervisor_module.time, "monotonic", lambda: provisioner.clock[0])
    monkeypatch.setattr(supervisor_module, "scrape", lambda url, ledger: NodeSample(0, False, error="unreachable"))
    with state.sessions() as session:
        org = Organization(name="acme", display_name="acme")
        session.add(org)
        session.flush()
        consortium = Consortium(name="c", created_by_org_id=org.id)
        session.add(consortium)
        session.flush()
        network = Network(name="n", consortium_id=consortium.id, status="running", consensus={},
                          keystore_password=state.custody.seal(b"pw", b"network:n"))
        session.add(network)
        session.flush()
        key = state.custody.new_key(session, org.id, "node", "k")
        session.add(Node(network_id=network.id, organization_id=org.id, name="acme-0", key_id=key.id, grpc_port=1,
                         gateway_port=2, pid=999, pid_started_at=1.0, status="running"))
        session.add(Node(network_id=network.id, organization_id=org.id, name="acme-1", key_id=key.id, grpc_port=3,
                         gateway_port=4, desired_state="stopped", status="stopped"))
        session.commit()
    supervisor = supervisor_module.Supervisor(state, interval=0.1)
    for step in range(160):  # 40 simulated seconds, one pass every 0.25 s
        provisioner.clock[0] = step * 0.25
        supervisor.tick()
    gaps = [round(b - a, 1) for a, b in zip(provisioner.starts, provisioner.starts[1:])]
    assert gaps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    with state.sessions() as session:
        crashed, stopped = session.query(Node).order_by(Node.id).all()
        assert crashed.restarts == len(provisioner.starts) and crashed.status in ("crashed", "starting")
        assert stopped.status == "stopped" and stopped.restarts == 0
        network = session.get(Network, 1)
        assert network.status == "down" and "disk full" in network.status_reason
    state.engine.dispose()

