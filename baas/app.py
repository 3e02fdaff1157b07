"""The control-plane service: ``create_app(settings)`` → FastAPI (API under /api/v1, console under /ui).

At construction it upgrades the database to the latest migration, opens key custody, and creates
the first platform administrator if there is no user (its random password is printed once and
written to ``<data_dir>/initial-admin-password``, mode 0600). The supervisor (restart crashed
nodes, scrape metrics) runs while the app is served (lifespan).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from baas import audit
from baas.custody import Custody, load_master_key
from baas.db import make_engine, session_factory, upgrade_database
from baas.errors import install_error_handlers
from baas.models import User
from baas.monitoring import Monitor
from baas.provisioners.base import Provisioner
from baas.security import hash_password
from baas.settings import BaasSettings, get_settings
from node.gateway.offline_docs import serve_docs_offline

log = logging.getLogger("jadechain.baas")

INITIAL_ADMIN = "admin"


@dataclass
class ServiceState:
    settings: BaasSettings
    engine: Engine
    sessions: sessionmaker[Session]
    custody: Custody
    provisioner: Provisioner
    monitor: Monitor
    provisioner_lock: threading.RLock = field(default_factory=threading.RLock)
    supervisor: Any = None
    initial_admin_password: str | None = None
    mounted_apps: dict[str, Any] = field(default_factory=dict)
    node_errors: dict[str, str] = field(default_factory=dict)
    """Node name → the last error its log showed when it was found dead (shown with the network's status)."""


def make_provisioner(settings: BaasSettings) -> Provisioner:
    if settings.provisioner == "kubernetes":
        from baas.provisioners.kubernetes import KubernetesProvisioner

        return KubernetesProvisioner(settings.kubernetes_namespace, settings.node_image, settings.kubeconfig,
                                     tls_root=settings.data_dir / "networks")
    from baas.provisioners.local import LocalProvisioner

    return LocalProvisioner(settings.data_dir / "networks", backend=settings.node_backend)


def ensure_first_admin(state: ServiceState) -> str | None:
    """Create the first platform admin when there is no user; return its password (shown once)."""
    with state.sessions() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(18)
        session.add(User(username=INITIAL_ADMIN, password_hash=hash_password(password), role="platform_admin"))
        session.flush()
        audit.record(session, "system", "user.created", f"user:{INITIAL_ADMIN}", {"role": "platform_admin", "first_start": True})
    path = state.settings.data_dir / "initial-admin-password"
    # The file holds only what its name says; the secret never goes to a terminal or a log.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{password}\n")
    print(f"jadechain baas: first platform admin created: user '{INITIAL_ADMIN}', password in {path} "
          f"(mode 0600; sign in, change it and delete the file)", file=sys.stderr, flush=True)
    return password


def restrict_data_files(settings: BaasSettings) -> None:
    """Make the data directory and the SQLite database private (0700 / 0600) whatever the umask was.

    SQLite creates its WAL and shared-memory files with the database file's mode, so fixing the
    database file covers them too.
    """
    os.chmod(settings.data_dir, 0o700)
    if settings.database_url is None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(settings.data_dir / f"baas.db{suffix}", 0o600)


def build_state(settings: BaasSettings) -> ServiceState:
    if not settings.data_dir.exists():
        settings.data_dir.mkdir(parents=True)
        os.chmod(settings.data_dir, 0o700)  # database, sealed keys, node keystores and logs live here
    engine = make_engine(settings.resolved_database_url)
    upgrade_database(engine)
    restrict_data_files(settings)
    custody = Custody(load_master_key(settings.master_key_file or settings.data_dir / "master.key"))
    state = ServiceState(settings, engine, session_factory(engine), custody, make_provisioner(settings), Monitor())
    state.initial_admin_password = ensure_first_admin(state)
    if settings.adopt_network is not None:
        from baas.external import adopt_network

        adopt_network(state, settings.adopt_network, dict(settings.adopt_apps))
    return state


def create_app(settings: BaasSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from baas.supervisor import Supervisor

        if settings.supervise:
            state.supervisor = Supervisor(state, settings.monitor_interval_seconds)
            state.supervisor.start()
        try:
            yield
        finally:
            if state.supervisor is not None:
                state.supervisor.stop()
            state.provisioner.close()
            state.engine.dispose()

    app = FastAPI(
        title="Jadechain BaaS",
        version="1",
        description="Control plane of a Jadechain consortium: organisations, consortia and governed invitations, "
                    "networks, ledgers, nodes, contracts, apps, key custody, audit. Errors are `{code, message}`. "
                    "Authenticate with `Authorization: Bearer <API token>` or the console's session cookie "
                    "(then send the CSRF cookie's value in `X-CSRF-Token`).",
        lifespan=lifespan,
    )
    serve_docs_offline(app)
    app.state.baas = state
    app.state.sessions = state.sessions
    install_error_handlers(app)
    from baas.hardening import install_hardening

    install_hardening(app, settings)
    from baas.routers import (
        accounts, apps, audit_log, consortia, contracts, explorer, networks, organizations, private_records,
    )

    for module in (accounts, organizations, consortia, networks, explorer, contracts, apps, audit_log, private_records):
        app.include_router(module.router)
    from baas.web import routes as web

    web.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/healthz", tags=["system"], summary="Liveness of the control plane")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from baas.routers.apps import remount_apps

    remount_apps(app)
    return app
