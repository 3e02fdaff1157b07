"""Online backup of a running node and restore into a stopped one.

Backup (``POST /api/v1/node/backup``, admin token; ``jadechain node backup``): the running node copies
each hosted ledger's LevelDB through a LevelDB snapshot (:meth:`ledger.store.leveldb.LevelDBStore.
copy_snapshot_to`) into ``<data_dir>/backups/<UTC time>/ledgers/<ledger>/``, while it keeps committing.
A snapshot sees whole atomic batches only, and a ledger writes one batch per block, so the copy is
the ledger exactly after some block ``h`` — a consistent database, reported with its height. Only
the node itself can do this: LevelDB lets one process open a database.

Restore (``jadechain node restore``, node stopped): the ledger directories of a backup replace the
node's (which are moved aside, as ``node repair`` does, never deleted); the ledger's consensus block
store is moved aside too. The consensus *safety* files stay as they are, and a backup never carries
them: a node that went back to an older record of the rounds it voted in could vote twice. Started
again, the node syncs the blocks after ``h`` from its peers, fast-forwards its consensus and votes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

from ledger.errors import ConfigError, JadechainError
from ledger.store.directory import ledgers_root, open_ledger
from ledger.store.leveldb import LevelDBStore
from node.config import load_node_config
from node.repair import move_consensus_store

__all__ = ["backup_ledgers", "restore_node"]


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def backup_ledgers(data_dir: str, stores: dict[str, LevelDBStore]) -> dict[str, Any]:
    """Copy each open ledger store (name → store) as of one instant; runs beside the commit path."""
    root = Path(data_dir) / "backups" / _stamp()
    (root / "ledgers").mkdir(parents=True, mode=0o700)
    os.chmod(root.parent, 0o700)
    os.chmod(root, 0o700)
    result: dict[str, Any] = {"backup": str(root), "ledgers": {}}
    for name, store in stores.items():
        target = root / "ledgers" / name
        keys = store.copy_snapshot_to(str(target))
        copied = open_ledger(str(root), name)
        try:
            result["ledgers"][name] = {"height": copied.height, "keys": keys}
        finally:
            copied.close()
    return result


def restore_node(config_path: str | os.PathLike[str], backup: str | os.PathLike[str]) -> dict[str, Any]:
    """Put a backup's ledgers in place of the (stopped) node's; see the module docstring."""
    config = load_node_config(config_path)
    data_dir = config.node.data_dir
    source = Path(backup) / "ledgers"
    if not source.is_dir():
        raise ConfigError(f"{backup} is not a node backup (no ledgers/ directory)")
    hosted = {item.hash for item in config.ledgers}
    names = sorted(p.name for p in source.iterdir() if p.is_dir())
    if not names or not set(names) <= hosted:
        raise ConfigError(f"the backup holds ledgers {names}; the node hosts {sorted(hosted)}")
    aside = Path(data_dir) / f"restore-backup-{_stamp()}"
    result: dict[str, Any] = {"data_dir": data_dir, "ledgers": {}}
    for name in names:
        try:  # the backup must be a ledger this node hosts, readable, before anything moves
            restored = open_ledger(str(Path(backup)), name)
            height = restored.height
            restored.close()
        except JadechainError as error:
            raise ConfigError(f"backup ledger {name} does not open: {error.code}: {error.message}") from error
        current = Path(ledgers_root(data_dir)) / name
        if current.exists():
            try:  # a database the running node holds is locked: never move it
                open_ledger(data_dir, name).close()
            except JadechainError as error:
                if "already held" in error.message or "lock" in error.message.lower():
                    raise ConfigError(f"ledger {name} is in use (its database is locked): stop the node first") from error
            (aside / name).mkdir(parents=True, exist_ok=True)
            os.chmod(aside, 0o700)
            shutil.move(str(current), str(aside / name / "ledger"))
        moved = move_consensus_store(data_dir, name, aside / name)
        current.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source / name, current)
        result["ledgers"][name] = {"height": height, "previous": str(aside / name) if aside.exists() else None,
                                   "consensus_stores_moved": len(moved)}
    return result


def add_backup_route(app: Any, data_dir: str, ledgers: dict[str, Any]) -> None:
    """``POST /api/v1/node/backup`` (admin token): back up every hosted ledger now."""
    import asyncio

    from node.gateway.deps import AdminDep

    @app.post("/api/v1/node/backup", tags=["system"], dependencies=[AdminDep],  # type: ignore[untyped-decorator]
              summary="Online backup of this node's ledgers (admin token)")
    async def backup() -> dict[str, Any]:
        stores = {name: ledger.store for name, ledger in ledgers.items()}
        return await asyncio.to_thread(backup_ledgers, data_dir, stores)
