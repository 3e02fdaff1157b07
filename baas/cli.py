"""``jadechain baas``: serve the control plane, render a network's Kubernetes manifests.

The lead mounts it with ``app.add_typer(baas_app, name="baas")`` in ``jadechain/cli/app.py``; it also runs
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
    adopt_network: Optional[Path] = typer.Option(None, "--adopt-network", help="Show this `jadechain net` network "
                                                 "directory in the console (what `jadechain up` started)"),
    adopt_app: list[str] = typer.Option([], "--adopt-app", help="KIND=URL of an app running beside it (repeatable)"),
) -> None:
    """Run the control plane (API under /api/v1, console under /ui, docs at /docs)."""
    import uvicorn

    from baas.app import create_app

    from baas.hardening import make_process_files_private

    make_process_files_private()  # the database, its WAL, logs and keystores: readable by this user only
    apps = dict(item.split("=", 1) for item in adopt_app if "=" in item)
    if len(apps) != len(adopt_app):
        raise typer.BadParameter("--adopt-app takes KIND=URL")
    settings = _settings(data_dir, database_url, host=host, port=port, provisioner=provisioner, kubeconfig=kubeconfig,
                         adopt_network=adopt_network, adopt_apps=apps or None)
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
    network: Optional[str] = typer.Argument(None, help="Network name (omit with --control-plane)"),
    out: Path = typer.Option(..., "--out", help="Folder for the manifests"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="The control plane database to read"),
    namespace: str = typer.Option("jadechain", "--namespace"),
    image: Optional[str] = typer.Option(None, "--image", help="Image reference (default jadechain/node:<version>)"),
    image_digest: Optional[str] = typer.Option(
        None, "--image-digest", help="sha256:... of the image (docker inspect, or build-rootfs.sh's digest): "
        "nodes pull image@digest and the manifests record it"),
    organization: Optional[str] = typer.Option(
        None, "--organization", help="Only this organisation's nodes (its own cluster); other peers keep their addresses"),
    peer_address: list[str] = typer.Option(
        [], "--peer-address", help="NODE=HOST:PORT: where another organisation exposes a node's gRPC port (repeat)"),
    tls: bool = typer.Option(True, "--tls/--no-tls", help="Mutual TLS between nodes from the network's consortium CA"),
    control_plane: bool = typer.Option(False, "--control-plane", help="The control plane itself instead of a network"),
    external_database: bool = typer.Option(
        False, "--external-database", help="With --control-plane: PostgreSQL by URL from Secret jadechain-baas-database "
        "instead of a StatefulSet"),
) -> None:
    """Write Kubernetes manifests: a network's nodes (StatefulSet, PVC, Secrets, Service, ConfigMap,
    ServiceMonitor, PodDisruptionBudget) or, with --control-plane, the control plane and its database."""
    from baas.provisioners.kubernetes import (
        default_image, image_reference, render_control_plane, render_network, write_manifests)

    try:
        reference = image_reference(image or default_image(), image_digest)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2)
    if control_plane:
        if network is not None:
            typer.echo("error: --control-plane renders the control plane, not a network: drop the network name", err=True)
            raise typer.Exit(2)
        paths = write_manifests(render_control_plane(namespace, reference, external_database=external_database), out)
        secret = "jadechain-baas-database --from-literal=url=postgresql+psycopg://USER:PASSWORD@HOST/DB" \
            if external_database else "jadechain-baas-postgres --from-literal=password=$(openssl rand -hex 24)"
        typer.echo(f"{len(paths)} manifests written to {out}; they hold no secret. Create these first:\n"
                   f"  kubectl -n {namespace} create secret generic jadechain-baas-master-key "
                   f"--from-literal=master-key=$(openssl rand -hex 16)\n"
                   f"  kubectl -n {namespace} create secret generic {secret}")
        return
    if network is None:
        typer.echo("error: name a network, or pass --control-plane", err=True)
        raise typer.Exit(2)
    from sqlalchemy import select

    from baas.app import build_state
    from baas.models import Network
    from baas.orchestration import node_spec

    settings = _settings(data_dir, database_url, supervise=False)
    state = build_state(settings)
    try:
        with state.sessions() as session:
            found = session.scalar(select(Network).where(Network.name == network))
            if found is None:
                typer.echo(f"no network named {network}", err=True)
                raise typer.Exit(1)
            specs = [node_spec(session, state.custody, node, with_secrets=True)
                     for node in found.nodes if node.desired_state != "removed"]
        # The same consortium CA as the local provisioner's (<data dir>/networks/<network>/tls).
        tls_dir = settings.data_dir / "networks" / network / "tls" if tls else None
        try:
            addresses = dict(item.split("=", 1) for item in peer_address if "=" in item)
            if len(addresses) != len(peer_address):
                raise ValueError("--peer-address takes NODE=HOST:PORT")
            manifests = render_network(specs, namespace, reference, tls_dir=tls_dir, organization=organization,
                                       peer_addresses=addresses)
        except ValueError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1)
    finally:
        state.engine.dispose()
    paths = write_manifests(manifests, out)
    typer.echo(f"{len(paths)} manifests written to {out} (they contain the nodes' encrypted keys and passwords: keep them private)")


if __name__ == "__main__":
    baas_app()
