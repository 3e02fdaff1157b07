"""CLI for local networks and node processes: ``jadechain net up|status|down`` and ``jadechain node start``.

The lead mounts them in :mod:`jadechain.cli`::

    from jadechain.cli.net import net_app, node_app
    app.add_typer(net_app, name="net")
    app.add_typer(node_app, name="node")

Standalone: ``python -m jadechain.cli.net net up --nodes 4``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ledger.errors import JadechainError

__all__ = ["net_app", "node_app"]

net_app = typer.Typer(help="A local network of validator processes on 127.0.0.1.", no_args_is_help=True)
node_app = typer.Typer(help="Run a validator node.", no_args_is_help=True)
console = Console(soft_wrap=True)  # never break a URL or a path across lines

DEFAULT_DIR = Path(".jadechain/net")
T = TypeVar("T")


def _fail(message: str, code: str = "ERROR") -> NoReturn:
    console.print(f"[red]{code}[/red]: {message}")
    raise typer.Exit(1)


def _with_status(message: str, quiet: bool, step: Callable[[], T]) -> T:
    """Run a long network step behind a spinner (none with --json); its failures exit with a stable code."""
    try:
        with console.status(message) if not quiet else _null():
            return step()
    except JadechainError as exc:
        _fail(exc.message, exc.code)
    except (TimeoutError, RuntimeError) as exc:
        _fail(str(exc), "NETWORK_NOT_READY")


@net_app.command("up")
def up(
    nodes: int = typer.Option(4, "--nodes", "-n", min=1, help="Validators (founding organisations)."),
    crypto: str = typer.Option("classic", "--crypto", help="classic (Ed25519 + SHA-256) or sm (SM2 + SM3)."),
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d", help="Where keys, data, configs and logs go."),
    base_port: int = typer.Option(None, "--base-port", help="gRPC ports from P, HTTP ports after them (default: free ports)."),
    timeout: float = typer.Option(90.0, "--timeout", help="Seconds to wait for the first commit."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create keys, run the genesis ceremony, write configs, start the nodes and wait until they commit."""
    from jadechain.devnet.net import net_up

    if crypto not in ("classic", "sm"):
        _fail("--crypto must be classic or sm", "CONFIG_ERROR")
    layout = _with_status(f"starting {nodes} validators…", as_json, lambda: net_up(directory, nodes, crypto, base_port, timeout))
    if as_json:
        print(json.dumps({
            "directory": layout.directory, "ledger_hash": layout.ledger_hash, "crypto": layout.crypto,
            "keys": layout.key_dir, "password_file": layout.password_file,
            "nodes": [{"name": n.name, "url": n.url, "grpc": n.grpc_address, "config": n.config, "log": n.log}
                      for n in layout.nodes],
        }))
        return
    table = Table(title=f"Jadechain network — ledger {layout.ledger_hash}")
    for column in ("node", "gateway", "gRPC", "config", "log"):
        table.add_column(column)
    for node in layout.nodes:
        table.add_row(node.name, node.url, node.grpc_address, node.config, node.log)
    console.print(table)
    console.print(f"keys: {layout.key_dir} (password in {layout.password_file})")
    console.print(f"stop with: jadechain net down --dir {directory}")


@net_app.command("status")
def status(
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Height, round, peers and process state of every node."""
    from jadechain.devnet.net import network_status

    try:
        result = network_status(directory)
    except JadechainError as exc:
        _fail(exc.message, exc.code)
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"ledger {result['ledger_hash']}")
    for column in ("node", "pid", "alive", "height", "epoch", "role", "round", "peers", "gateway"):
        table.add_column(column)
    for node in result["nodes"]:
        table.add_row(
            node["name"], str(node["pid"] or "-"), "yes" if node["alive"] else "[red]no[/red]",
            str(node["height"] if node["height"] is not None else "-"),
            str(node.get("epoch") if node.get("epoch") is not None else "-"),
            {True: "validator", False: "follower"}.get(node.get("validator"), "-"),  # type: ignore[call-overload]
            str(node["round"] if node["round"] is not None else "-"),
            str(node["peers_connected"] if node["peers_connected"] is not None else "-"), node["url"],
        )
    console.print(table)


@net_app.command("down")
def down(
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d"),
    timeout: float = typer.Option(20.0, "--timeout", help="Seconds before SIGKILL."),
) -> None:
    """Stop every node: SIGTERM, then SIGKILL after the timeout."""
    from jadechain.devnet.net import net_down

    try:
        result = net_down(directory, timeout)
    except JadechainError as exc:
        _fail(exc.message, exc.code)
    for name, graceful in result.items():
        console.print(f"{name}: {'stopped' if graceful else '[yellow]killed after timeout[/yellow]'}")


@net_app.command("add-node")
def add_node_command(
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d"),
    name: str = typer.Option(None, "--name", help="Node name (default: the next free nodeN)."),
    timeout: float = typer.Option(90.0, "--timeout", help="Seconds to wait for each step."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a validator; it syncs by itself and votes from the new epoch.

    Creates the key and config, registers and activates the node on chain (signed by a majority
    of the validators' keys in DIR/keys) and starts it.
    """
    from jadechain.devnet.net import add_node

    result = _with_status("adding a validator…", as_json, lambda: add_node(directory, name, timeout))
    if as_json:
        print(json.dumps(result))
        return
    node = result["node"]
    console.print(f"[green]{node['name']}[/green] joined: gateway {result['url']}, gRPC 127.0.0.1:{node['grpc_port']}")
    console.print(f"  registered at height {result['registered']['height']}, activated at height "
                  f"{result['activated']['height']}; votes from epoch {result['epoch']}")
    console.print(f"  key {node['key_file']}, config {node['config']}, log {node['log']}")


@net_app.command("remove-node")
def remove_node_command(
    name: str = typer.Argument(..., help="The node to remove (e.g. node3)."),
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d"),
    timeout: float = typer.Option(90.0, "--timeout"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Deactivate a validator by governance transaction (a new epoch starts without it), then stop it."""
    from jadechain.devnet.net import remove_node

    result = _with_status(f"removing {name}…", as_json, lambda: remove_node(directory, name, timeout))
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"{name} deactivated at height {result['deactivated']['height']}; the network is in epoch "
                  f"{result['epoch']}; process {'stopped' if result['stopped_gracefully'] else 'killed'}")


@net_app.command("rotate-key")
def rotate_key_command(
    name: str = typer.Argument(..., help="The validator whose consensus key to replace (e.g. node3)."),
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", "-d"),
    timeout: float = typer.Option(90.0, "--timeout", help="Seconds to wait for each step."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Give a validator a new consensus key through a governed change (proposal and votes), then
    restart it with that key; the old key's signatures are refused from the new epoch on."""
    from jadechain.devnet.net import rotate_key

    result = _with_status(f"rotating {name}'s key…", as_json, lambda: rotate_key(directory, name, timeout))
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"{name} signs with {result['new_public_key']} from epoch {result['epoch']} (proposal "
                  f"{result['proposal']} executed at height {result['executed_at']}); old key "
                  f"{result['old_public_key']} retired; new key file {result['key_file']}")


@node_app.command("start")
def start(config: Path = typer.Option(..., "--config", "-c", help="node.toml")) -> None:
    """Run a validator node in the foreground (SIGTERM/Ctrl-C stops it gracefully)."""
    from node.server import main

    raise typer.Exit(main(["--config", str(config)]))


@node_app.command("backup")
def backup(
    config: Path = typer.Option(..., "--config", "-c", help="node.toml of the running node"),
    url: str = typer.Option(None, "--url", help="the node's gateway (default: from node.toml)"),
) -> None:
    """Back up the running node's ledgers now (a consistent LevelDB snapshot, taken while it commits)
    into <data_dir>/backups/<UTC time>/; needs the node's admin token (admin_token_file or
    JADECHAIN_ADMIN_TOKEN)."""
    import httpx

    from node.config import load_node_config

    try:
        node_config = load_node_config(config)
        token = node_config.read_admin_token() or os.environ.get("JADECHAIN_ADMIN_TOKEN")
    except JadechainError as exc:
        _fail(exc.message, exc.code)
        return
    if not token:
        _fail("the node's admin token is needed (admin_token_file in node.toml or JADECHAIN_ADMIN_TOKEN)", "UNAUTHENTICATED")
        return
    base = url or f"http://{node_config.gateway.host}:{node_config.gateway.port}"
    try:
        response = httpx.post(f"{base}/api/v1/node/backup", headers={"Authorization": f"Bearer {token}"}, timeout=600)
    except httpx.HTTPError as exc:
        _fail(f"the node at {base} does not answer ({type(exc).__name__}); is it running?", "UNAVAILABLE")
        return
    body = response.json()
    if response.status_code != 200:
        _fail(body.get("message", response.text), body.get("code", "ERROR"))
        return
    print(json.dumps(body))


@node_app.command("restore")
def restore(
    config: Path = typer.Option(..., "--config", "-c", help="node.toml of the (stopped) node"),
    source: Path = typer.Option(..., "--from", help="a backup directory made by 'jadechain node backup'"),
) -> None:
    """Put a backup's ledgers in place of the stopped node's (the current ones are moved aside, the
    consensus safety files are kept); started again, the node syncs the blocks after the backup."""
    from node.backup import restore_node

    try:
        result = restore_node(config, source)
    except JadechainError as exc:
        _fail(exc.message, exc.code)
        return
    print(json.dumps(result))


@node_app.command("repair")
def repair(
    config: Path = typer.Option(..., "--config", "-c", help="node.toml of the (stopped) node"),
    genesis: Path = typer.Option(..., "--genesis", "-g", help="the network's genesis.json"),
    ledger: str = typer.Option(None, "--ledger", help="only this ledger (default: every hosted ledger)"),
    force: bool = typer.Option(False, "--force", help="rebuild even a ledger that opens cleanly"),
    replay: bool = typer.Option(False, "--replay", help="replay every block from genesis instead of starting "
                                "from a peer's state snapshot"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Set aside a ledger database refused as corrupted and start it again from genesis (backup kept);
    on its next start the node joins from a peer's certified state snapshot (or replays, with
    --replay or when no peer offers one) and votes again."""
    from jadechain.devnet.genesis import read_genesis_file
    from node.repair import repair_node

    try:
        result = repair_node(config, read_genesis_file(genesis), ledger=ledger, force=force, snapshot=not replay)
    except JadechainError as exc:
        _fail(exc.message, exc.code)
        return
    if as_json:
        print(json.dumps(result))
        return
    for ledger_hash, item in result["ledgers"].items():
        if item["status"] == "healthy":
            console.print(f"{ledger_hash}: healthy, left alone")
        else:
            console.print(f"{ledger_hash}: repaired ({item['reason']}); old data in {item['backup']}; "
                          "start the node to catch up from its peers")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


_cli = typer.Typer(no_args_is_help=True)
_cli.add_typer(net_app, name="net")
_cli.add_typer(node_app, name="node")

if __name__ == "__main__":
    sys.exit(_cli())
