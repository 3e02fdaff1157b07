"""The supervisor: converges every node to its desired state and feeds the monitor.

One background thread, woken every ``monitor_interval_seconds``: a node that should run and does
not is started again, with exponential back-off (0.5 s doubling to 30 s) while it keeps crashing;
a node that should be stopped is stopped; running nodes are scraped. On a fresh control plane the
first pass re-adopts processes still running from before (same pid and start time) and starts the
others, so a control-plane restart loses no network.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select

from baas import audit
from baas.external import EXTERNAL
from baas.models import Network, Node
from baas.monitoring import network_health, scrape
from baas.orchestration import node_spec, node_url

log = logging.getLogger("jadechain.baas.supervisor")

MAX_BACKOFF = 30.0


def last_error_line(provisioner: Any, spec: Any) -> str:
    """The message of the last error the node logged (JSON lines), or ''."""
    import json

    if not hasattr(provisioner, "log_tail"):
        return ""
    for line in reversed(provisioner.log_tail(spec, 8192).splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "critical"):
            return str(entry.get("msg") or entry.get("message") or "")[:300]
    return ""


class Supervisor:
    def __init__(self, state: Any, interval: float) -> None:
        self.state = state
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[int, int] = {}
        self._next_attempt: dict[int, float] = {}
        self._up_since: dict[int, float] = {}

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="baas-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor pass failed")
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """One pass over every local network (also called directly by tests); external networks (jadechain up)
        are only watched: their health and metrics, never their processes."""
        with self.state.sessions() as session:
            networks = session.scalars(select(Network).where(Network.provisioner.in_(("local", EXTERNAL)),
                                                             Network.status != "creating")).all()
            for network in networks:
                if network.provisioner == "local":
                    for node in network.nodes:
                        self.converge(session, node)
                self.refresh_health(session, network)
            session.commit()

    def converge(self, session: Any, node: Node) -> None:
        provisioner = self.state.provisioner
        with self.state.provisioner_lock:
            # What an API call decided while this pass waited for the lock (it commits before releasing it).
            session.refresh(node)
            spec = node_spec(session, self.state.custody, node)
            handle = provisioner.node_status(spec, node.pid, node.pid_started_at)
            if node.desired_state != "running":
                if handle.state == "running":
                    provisioner.stop_node(spec, pid=node.pid, started_at=node.pid_started_at)
                node.status, node.pid, node.pid_started_at = "stopped" if node.desired_state == "stopped" else "removed", None, None
                return
            if handle.state == "running":
                node.pid, node.pid_started_at = handle.pid, handle.pid_started_at
                if node.status != "running":
                    self._up_since.setdefault(node.id, time.monotonic())
                    # A node that stayed up for a while has recovered: reset its back-off.
                    if time.monotonic() - self._up_since[node.id] > 2 * self.interval:
                        self._failures.pop(node.id, None)
                if node.status in ("crashed", "pending", "stopped"):
                    node.status = "starting"
                return
            self._up_since.pop(node.id, None)
            if node.pid is not None:
                self.state.node_errors[node.name] = last_error_line(provisioner, node_spec(session, self.state.custody, node))
            now = time.monotonic()
            if now < self._next_attempt.get(node.id, 0.0):
                node.status = "crashed"
                return
            failures = self._failures.get(node.id, 0)
            was_known = node.pid is not None
            spec_with_secrets = node_spec(session, self.state.custody, node, with_secrets=True)
            started = provisioner.start_node(spec_with_secrets)
            node.pid, node.pid_started_at = started.pid, started.pid_started_at
            node.status = "starting"
            if was_known:
                node.restarts += 1
                self._failures[node.id] = failures + 1
                self._next_attempt[node.id] = now + min(MAX_BACKOFF, 0.5 * 2 ** failures)
                session.commit()
                audit.record(session, "supervisor", "node.restarted", f"node:{node.id}",
                             {"network": node.network.name, "node": node.name, "restarts": node.restarts},
                             organization_id=node.organization_id)

    def refresh_health(self, session: Any, network: Network) -> None:
        monitor = self.state.monitor
        ledger_hash = network.ledgers[0].ledger_hash if network.ledgers else None
        running = [n for n in network.nodes if n.desired_state == "running"]
        views = []
        for node in running:
            url = node_url(node)
            sample = scrape(url, ledger_hash)
            monitor.observe(node.id, sample)
            if sample.up and node.status in ("starting", "crashed"):
                node.status = "running"
            views.append(monitor.view(node.id, node.name, url))
        if network.status in ("running", "degraded", "healthy", "down"):
            validators = [n for n in running if n.validator]
            status, reasons = network_health(views, max(0, len(validators) - 1), self.state.node_errors)
            network.status = "running" if status == "healthy" else status
            network.status_reason = "; ".join(reasons)
