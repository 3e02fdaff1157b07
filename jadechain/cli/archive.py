"""``jadechain ledger archive`` / ``jadechain ledger import``: old blocks out of a stopped node's
database into self-verifying files, and back (the logic is ledger/archive.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console

from ledger.errors import ConfigError, JadechainError, StorageError

ledger_archive_app = typer.Typer()
"""Its commands join ``jadechain ledger`` (see the CLI main)."""

error_console = Console(stderr=True)

DataDir = typer.Option(..., "--data-dir", "-d", help="The node's data directory (the node must be stopped).")
LedgerOption = typer.Option(None, "--ledger", help="Ledger hash (base58); needed when the data directory holds several.")


def _with_ledger(data_dir: Path, ledger_hash: Optional[str], action: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    from ledger.store.directory import list_ledgers, open_ledger

    names = list_ledgers(str(data_dir))
    if ledger_hash is None:
        if len(names) != 1:
            raise ConfigError(f"{data_dir} holds {len(names)} ledgers; name one with --ledger")
        ledger_hash = names[0]
    try:
        ledger = open_ledger(str(data_dir), ledger_hash)
    except StorageError as error:
        if "lock" in error.message.lower():
            raise StorageError(f"{error.message} (is the node still running? stop it first)") from error
        raise
    try:
        return {"ledger_hash": ledger_hash, **action(ledger)}
    finally:
        ledger.close()


def _run(action: Callable[[], dict[str, Any]], as_json: bool, describe: Callable[[dict[str, Any]], str]) -> None:
    try:
        result = action()
    except JadechainError as error:
        error_console.print(f"[bold red]{error.code}[/]: {error.message}")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        sys.stdout.write(describe(result) + "\n")


@ledger_archive_app.command("archive")
def archive_command(
    below: int = typer.Option(..., "--below", help="Archive blocks below this height (a certified header the node keeps)."),
    out: Path = typer.Option(..., "--out", help="Directory for the archive files (created, owner-only)."),
    data_dir: Path = DataDir,
    ledger_hash: Optional[str] = LedgerOption,
    blocks_per_file: int = typer.Option(1000, "--blocks-per-file", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Move old blocks (headers, transactions, results, events) of a stopped node into archive files.

    Every file is verified and must restore the database byte for byte before anything is
    deleted; state, the transaction log's nodes and recent blocks stay. Queries for archived
    heights then answer ARCHIVED (HTTP 410) until `jadechain ledger import` brings them back.
    """
    from ledger.archive import archive_ledger

    def archive(ledger: Any) -> dict[str, Any]:
        report = archive_ledger(ledger, below, str(out), blocks_per_file=blocks_per_file)
        return {"files": list(report.files), "blocks": report.blocks, "transactions": report.transactions,
                "first_held": report.first_held}

    _run(lambda: _with_ledger(data_dir, ledger_hash, archive), as_json,
         lambda r: f"archived {r['blocks']} blocks ({r['transactions']} transactions) into {len(r['files'])} "
                   f"file(s) in {out}; the node holds blocks from {r['first_held']}")


@ledger_archive_app.command("import")
def import_command(
    directory: Path = typer.Argument(..., help="A directory of archive files (from `jadechain ledger archive`)."),
    data_dir: Path = DataDir,
    ledger_hash: Optional[str] = LedgerOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-import archived blocks into a stopped node; every file is verified first, nothing changes on a refusal."""
    from ledger.archive import import_archive

    def restore(ledger: Any) -> dict[str, Any]:
        report = import_archive(ledger, str(directory))
        return {"files": list(report.files), "blocks": report.blocks, "transactions": report.transactions,
                "first_held": report.first_held}

    _run(lambda: _with_ledger(data_dir, ledger_hash, restore), as_json,
         lambda r: f"imported {r['blocks']} blocks ({r['transactions']} transactions) from {len(r['files'])} "
                   f"file(s); the node holds blocks from {r['first_held']}")
