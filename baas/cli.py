"""``jadechain baas``: serve the control plane, render a network's Kubernetes manifests.

The lead mounts it with ``app.add_typer(baas_app, name="baas")`` in ``node/cli.py``; it also runs
alone: ``python -m baas.cli serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

baas_app = typer.Typer(help="The BaaS control plane: consortia, networks, key custody, web console.",
                       no_args_is_help=True)


def _settings(data_dir: Optional[Path], database_url: Optional[str], **extra: object):  # type: ignore[no-untyped-def]
    from baas.settings import BaasSettings

    values: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    if database_url is not None:
        values["database_url"] = database_url
    return BaasSettings(**values)


@baas_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8700, "--port"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Database, master key, node directories, logs"),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="e.g. postgresql+psycopg://user:pw@host/db"),
    provisioner: Optional[str] = typer.Option(None, "--provisioner", help="local (default) or kubernetes"),
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig"),
) -> None:
    """Run the control plane (API under /api/v1, console under /ui, docs at /docs)."""
    import uvicorn

    from baas.app import create_app

    from baas.hardening import make_process_files_private

    make_process_files_private()  # the database, its WAL, logs and keystores: readable by this user only
    settings = _settings(data_dir, database_url, host=host, port=port, provisioner=provisioner, kubeconfig=kubeconfig)
    app = create_app(settings)
    tls = settings.tls_certificate_file is not None and settings.tls_key_file is not None
    scheme = "https" if tls else "http"
    typer.echo(f"jadechain baas: console {scheme}://{host}:{port}/ui/  ·  API docs {scheme}://{host}:{port}/docs", err=True)
    # X-Forwarded-For is honoured by the app itself, only from settings.trusted_proxies.
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10, proxy_headers=False,
                ssl_certfile=str(settings.tls_certificate_file) if tls else None,
                ssl_keyfile=str(settings.tls_key_file) if tls else None)


@baas_app.command("render-k8s")
def render_k8s(
    network: str = typer.Argument(..., help="Network name"),
    out: Path = typer.Option(..., "--out", help="Folder for the manifests"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    database_url: Optional[str] = typer.Option(None, "--database-url"),
    namespace: str = typer.Option("jadechain", "--namespace"),
    image: str = typer.Option("jadechain/node:0.1.0", "--image"),
) -> None:
    """Write the Kubernetes manifests of a network (StatefulSet, PVC, Secret, Service, ConfigMap, ServiceMonitor)."""
    from sqlalchemy import select

    from baas.app import build_state
    from baas.models import Network
    from baas.orchestration import node_spec
    from baas.provisioners.kubernetes import render_network, write_manifests

    settings = _settings(data_dir, database_url, supervise=False)
    state = build_state(settings)
    with state.sessions() as session:
        found = session.scalar(select(Network).where(Network.name == network))
        if found is None:
            typer.echo(f"no network named {network}", err=True)
            raise typer.Exit(1)
        specs = [node_spec(session, state.custody, node, with_secrets=True)
                 for node in found.nodes if node.desired_state != "removed"]
    paths = write_manifests(render_network(specs, namespace, image), out)
    state.engine.dispose()
    typer.echo(f"{len(paths)} manifests written to {out} (they contain the nodes' encrypted keys and passwords: keep them private)")


if __name__ == "__main__":
    baas_app()
