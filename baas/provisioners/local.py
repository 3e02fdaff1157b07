"""Local provisioner: node processes on this machine.

Layout under ``<root>/<network>/``: ``<node>/`` (the node's data dir), ``keys/<node>.json`` +
``keys/PASSWORD`` (0600), ``<node>.toml`` (the agreed node.toml), ``genesis-<ledger>.json``,
``logs/<node>.log`` (stdout + stderr, appended across restarts).

Processes run in their own session, so they outlive a control-plane restart; the pid and the
kernel's start time of the process are kept, and a restarted control plane re-adopts a node only
when both still match (a recycled pid is never mistaken for the node). Restarting crashed nodes
with back-off is the supervisor's job (``baas.supervisor``), which calls ``start_node`` again.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable

from baas.provisioners.base import NodeHandle, NodeSpec, Provisioner
from node.subprocesses import child_environment, python_module_command


_STARTED: dict[int, subprocess.Popen[bytes]] = {}
"""Every node process this control-plane process started, by pid, whichever provisioner instance started it:
a node outlives the provisioner (a later one adopts it by pid and start time), and whoever stops or sees it
exit must still reap it, or it stays a zombie for the life of the control plane."""


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is a child of this process that has exited."""
    started = _STARTED.get(pid)
    if started is not None:
        if started.poll() is not None:
            _STARTED.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def node_server_available() -> bool:
    """Whether the networked node (``python -m node.server``) is installed."""
    return importlib.util.find_spec("node.server") is not None


def process_start_time(pid: int) -> float | None:
    """The process's start time in clock ticks since boot (from /proc), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return float(fields[19])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def allocate_ports(count: int, taken: Iterable[int], start: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` ports from ``start`` up that no record holds and nothing listens on."""
    reserved = set(taken)
    ports: list[int] = []
    port = start
    while len(ports) < count:
        if port > 65535:
            raise RuntimeError("no free ports left")
        if port not in reserved and port_is_free(port, host):
            ports.append(port)
        port += 1
    return ports


def render_node_toml(spec: NodeSpec, data_dir: str, key_file: str, password_file: str) -> str:
    """The node.toml every node process reads (format agreed with ``node/config.py``)."""
    def q(value: object) -> str:
        return json.dumps(str(value))

    lines = [
        "[node]", f"name = {q(spec.name)}", f"data_dir = {q(data_dir)}", f"key_file = {q(key_file)}",
        f"password_file = {q(password_file)}", "",
        "[network]", f"grpc_host = {q(spec.host)}", f"grpc_port = {spec.grpc_port}", "",
        "[gateway]", f"host = {q(spec.host)}", f"port = {spec.gateway_port}", "",
    ]
    if spec.consensus:
        lines.append("[consensus]")
        for key, value in sorted(spec.consensus.items()):
            lines.append(f"{key} = {int(value)}")
        lines.append("")
    for ledger_hash in spec.ledger_hashes:
        lines += ["[[ledgers]]", f"hash = {q(ledger_hash)}", ""]
    for peer in spec.peers:
        lines += ["[[peers]]", f"name = {q(peer.name)}", f"public_key = {q(peer.public_key)}",
                  f"address = {q(peer.address)}", ""]
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class LocalProvisioner(Provisioner):
    name = "local"

    def __init__(self, root: Path, backend: str = "auto") -> None:
        self.root = Path(root).resolve()
        self.backend = backend
        self._children: dict[tuple[str, str], subprocess.Popen[bytes]] = {}

    # --- files ------------------------------------------------------------------------------

    def network_dir(self, network: str) -> Path:
        return self.root / network

    def paths(self, spec: NodeSpec) -> dict[str, Path]:
        base = self.network_dir(spec.network)
        return {
            "data_dir": base / spec.name, "key_file": base / "keys" / f"{spec.name}.json",
            "password_file": base / "keys" / "PASSWORD", "config": base / f"{spec.name}.toml",
            "log": base / "logs" / f"{spec.name}.log",
        }

    def write_files(self, spec: NodeSpec) -> dict[str, Path]:
        from ledger import codec
        from ledger.store.directory import create_ledger, list_ledgers
        from ledger.types import Block

        paths = self.paths(spec)
        _write_private(paths["key_file"], json.dumps(spec.keystore_json))
        _write_private(paths["password_file"], spec.password + "\n")
        paths["data_dir"].mkdir(parents=True, exist_ok=True)
        paths["log"].parent.mkdir(parents=True, exist_ok=True)
        existing = set(list_ledgers(str(paths["data_dir"])))
        for ledger_hash in spec.ledger_hashes:
            genesis_text = spec.genesis[ledger_hash]
            (paths["data_dir"].parent / f"genesis-{ledger_hash[:16]}.json").write_text(genesis_text)
            if ledger_hash not in existing:
                block = codec.decode(Block, bytes.fromhex(json.loads(genesis_text)["block"]))
                create_ledger(str(paths["data_dir"]), block).close()
        config = render_node_toml(spec, str(paths["data_dir"]), str(paths["key_file"]), str(paths["password_file"]))
        if self.uses_node_server(spec):
            config += self._tls_section(spec)
        paths["config"].write_text(config)
        return paths

    def _tls_section(self, spec: NodeSpec) -> str:
        """Mutual TLS between the network's nodes: the network's consortium CA (created with the first
        node), and a certificate for this node bound to its key (see node.tls)."""
        from node.tls import create_consortium_ca, issue_certificate

        tls_dir = self.network_dir(spec.network) / "tls"
        if not (tls_dir / "ca.key").exists():
            create_consortium_ca(tls_dir, spec.network)
        if not (tls_dir / f"{spec.name}.pem").exists():
            issue_certificate(tls_dir, spec.name, spec.public_key)
        q = json.dumps
        return "\n".join(["", "[tls]", f"ca_file = {q(str(tls_dir / 'ca.pem'))}",
                          f"cert_file = {q(str(tls_dir / f'{spec.name}.pem'))}",
                          f"key_file = {q(str(tls_dir / f'{spec.name}.key'))}", ""])

    def uses_node_server(self, spec: NodeSpec) -> bool:
        if self.backend == "server":
            return True
        if self.backend == "solo":
            return False
        return node_server_available()

    def command(self, spec: NodeSpec) -> list[str]:
        config = str(self.paths(spec)["config"])
        module = "node.server" if self.uses_node_server(spec) else "baas.provisioners.solo_main"
        return python_module_command(module, "--config", config)

    # --- processes ------------------------------------------------------------------------------

    def deploy_node(self, spec: NodeSpec) -> NodeHandle:
        self.write_files(spec)
        return self.start_node(spec)

    def start_node(self, spec: NodeSpec) -> NodeHandle:
        current = self.node_status(spec)
        if current.state == "running":
            return current
        paths = self.paths(spec)
        if not paths["config"].exists():
            self.write_files(spec)
        log = os.fdopen(os.open(paths["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        os.chmod(paths["log"], 0o600)  # a log written before this rule may still be 0644
        try:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} starting {spec.name}\n".encode())
            log.flush()
            process = subprocess.Popen(
                self.command(spec), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(self.network_dir(spec.network)), env=child_environment(), start_new_session=True,
            )
        finally:
            log.close()
        self._children[(spec.network, spec.name)] = process
        _STARTED[process.pid] = process
        return NodeHandle("starting", process.pid, process_start_time(process.pid), self.gateway_url(spec))

    def adopt(self, spec: NodeSpec, pid: int | None, started_at: float | None) -> bool:
        """Whether ``pid`` is still this node's process (same pid *and* same start time)."""
        if pid is None or started_at is None:
            return False
        return process_start_time(pid) == started_at

    def _pid_of(self, spec: NodeSpec, pid: int | None, started_at: float | None) -> int | None:
        child = self._children.get((spec.network, spec.name))
        if child is not None:
            if child.poll() is None:
                return child.pid
            self._children.pop((spec.network, spec.name), None)
            _STARTED.pop(child.pid, None)
            return None
        if pid is not None:
            _reap(pid)  # an adopted node of this process that exited: collected, then seen as stopped
        return pid if self.adopt(spec, pid, started_at) else None

    def node_status(self, spec: NodeSpec, pid: int | None = None, started_at: float | None = None) -> NodeHandle:
        live = self._pid_of(spec, pid, started_at)
        if live is None:
            return NodeHandle("stopped", url=self.gateway_url(spec))
        return NodeHandle("running", live, process_start_time(live), self.gateway_url(spec))

    def exit_code(self, spec: NodeSpec) -> int | None:
        child = self._children.get((spec.network, spec.name))
        return None if child is None else child.poll()

    def stop_node(self, spec: NodeSpec, timeout: float = 15.0, pid: int | None = None,
                  started_at: float | None = None) -> NodeHandle:
        live = self._pid_of(spec, pid, started_at)
        child = self._children.pop((spec.network, spec.name), None)
        if child is None and live is not None:
            child = _STARTED.get(live)
        if live is not None:
            try:
                os.kill(live, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if child is not None and child.poll() is not None:
                    break
                if child is None:
                    _reap(live)
                    if process_start_time(live) is None:
                        break
                time.sleep(0.05)
            else:
                try:
                    os.kill(live, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if child is not None:
                child.wait(5)
                _STARTED.pop(child.pid, None)
            else:
                _reap(live)
        return NodeHandle("stopped", url=self.gateway_url(spec))

    def remove_node(self, spec: NodeSpec, pid: int | None = None, started_at: float | None = None) -> None:
        self.stop_node(spec, pid=pid, started_at=started_at)
        self.paths(spec)["config"].unlink(missing_ok=True)

    def log_tail(self, spec: NodeSpec, max_bytes: int = 16384) -> str:
        path = self.paths(spec)["log"]
        if not path.exists():
            return ""
        with open(path, "rb") as handle:
            max_bytes = min(max(0, max_bytes), 1 << 20)  # a negative or huge request reads nothing / 1 MiB
            handle.seek(max(0, path.stat().st_size - max_bytes))
            return handle.read().decode("utf-8", "replace")

    def close(self) -> None:
        # Nodes keep running: they are adopted again by the next control plane (by pid and start
        # time). Their Popen handles stay in _STARTED, so that closing does not warn about live children
        # and whoever stops them later reaps them.
        self._children.clear()
