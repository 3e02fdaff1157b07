"""Run the control plane on a real loopback socket for tests, and talk to it as users do."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import uvicorn

from baas.app import create_app
from baas.settings import BaasSettings

PASSWORD = "correct horse battery staple"
_open_clients: list[httpx.Client] = []


class BaasServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # As ``jadechain baas serve``: the app, not uvicorn, decides whose X-Forwarded-For to believe.
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    def start(self) -> "BaasServer":
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the control plane did not start")
            self.thread.join(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    @property
    def state(self) -> Any:
        return self.app.state.baas


@contextlib.contextmanager
def running_baas(data_dir: Path, **settings: Any) -> Iterator[BaasServer]:
    settings.setdefault("supervise", False)
    server = BaasServer(create_app(BaasSettings(data_dir=data_dir, **settings))).start()
    try:
        yield server
    finally:
        close_clients()
        server.stop()


def kill_node_processes(state: Any) -> None:
    """Stop the supervisor (it would restart them), then SIGKILL every node process still recorded."""
    import os
    import signal

    from baas.models import Node
    from baas.provisioners.local import process_start_time

    if state.supervisor is not None:
        state.supervisor.stop()
    with state.sessions() as session:
        for node in session.query(Node).all():
            if node.pid and process_start_time(node.pid) == node.pid_started_at:
                os.kill(node.pid, signal.SIGKILL)


def close_clients() -> None:
    while _open_clients:
        _open_clients.pop().close()


def admin_password(data_dir: Path) -> str:
    return (data_dir / "initial-admin-password").read_text().strip()


def token_client(url: str, username: str, password: str) -> httpx.Client:
    """Log in, mint an API token, and return a client that sends it as a bearer token."""
    with httpx.Client(base_url=url, timeout=60) as web:
        response = web.post("/api/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        csrf = response.json()["csrf_token"]
        token = web.post("/api/v1/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    client = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"})
    _open_clients.append(client)
    return client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None
