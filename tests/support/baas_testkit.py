"""Run the control plane on a real loopback socket for tests, and talk to it as users do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
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

RUNNING: list["BaasServer"] = []
"""Control planes started by :func:`running_baas` and not stopped yet."""

POSTGRES_URL_VARIABLE = "JADECHAIN_TEST_POSTGRES_URL"
DATABASE_URL: str | None = None
"""The database the control plane of the running test uses (None: SQLite in its data directory);
set by the ``baas_database`` fixture (conftest) for the PostgreSQL variant of a test."""


def postgres_unavailable() -> str | None:
    """Why the PostgreSQL variant cannot run here, or None when the server answers."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        return f"{POSTGRES_URL_VARIABLE} is not set (.ci/run starts a server and sets it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]')"
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return f"the server at {POSTGRES_URL_VARIABLE} does not answer: {type(error).__name__}"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (its URL); dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(os.environ[POSTGRES_URL_VARIABLE])
    name = f"jadechain_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


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
    if DATABASE_URL is not None:
        settings.setdefault("database_url", DATABASE_URL)
    server = BaasServer(create_app(BaasSettings(data_dir=data_dir, **settings))).start()
    RUNNING.append(server)
    try:
        yield server
    finally:
        RUNNING.remove(server)
        close_clients()
        server.stop()


def kill_node_processes(state: Any) -> None:
    """Stop the supervisor (it would restart them), then SIGKILL every node process still recorded and
    reap the ones this process started (a never-waited ``Popen`` warns "subprocess ... is still running")."""
    import os
    import signal

    from baas.models import Node
    from baas.provisioners import local

    if state.supervisor is not None:
        state.supervisor.stop()
    killed = set()
    with state.sessions() as session:
        for node in session.query(Node).all():
            if node.pid and local.process_start_time(node.pid) == node.pid_started_at:
                os.kill(node.pid, signal.SIGKILL)
                killed.add(node.pid)
    for pid in killed:
        process = local._STARTED.pop(pid, None)
        if process is not None:
            process.wait(10)
    # Nodes of this control plane that had exited already (stopped by a proposal, replaced by a restart):
    # collected too, or they stay zombies of this process.
    for pid in list(local._STARTED):
        local._reap(pid)


def empty_postgres_database(url: str) -> None:
    """Drop every table, view and sequence of the database's public schema (and the trigger functions)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def database_rows(server: "BaasServer", table: str, columns: str) -> list[tuple[Any, ...]]:
    """Rows read straight from the control plane's database (whichever backend it runs on)."""
    from sqlalchemy import text

    with server.state.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT {columns} FROM {table}"))]


def stored_bytes(server: "BaasServer") -> bytes:
    """Everything the database holds, as bytes: the SQLite files (WAL included), or for PostgreSQL
    every value of every table of the schema (text encoded, binary as is)."""
    from sqlalchemy import MetaData, select

    engine = server.state.engine
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    metadata = MetaData()
    metadata.reflect(engine)
    chunks: list[bytes] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    chunks.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\0".join(chunks)


def drop_audit_update_trigger(connection: Any) -> None:
    """What someone holding the database's owner credentials could do: remove the append-only guard."""
    from sqlalchemy import text

    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))


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
