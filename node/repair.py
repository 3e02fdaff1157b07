"""``jadechain node repair``: bring back a node whose ledger database is refused as corrupted.

A node that finds its LevelDB damaged refuses to start (``LEDGER_CORRUPTED``) rather than serve or
vote on unknown state. Repair, with the node stopped:

1. opens each hosted ledger; a healthy one is left alone (unless ``force``);
2. moves the damaged ledger directory and that ledger's consensus store aside, into
   ``<data_dir>/repair-backup-<UTC time>/`` (nothing is deleted: the operator may want it for a
   post-mortem), keeping the consensus *safety* files in place — they record the last round this
   node voted in, and a node that forgot them could vote twice in a round after restarting;
3. recreates the ledger from the network's genesis file, refusing a genesis whose hash is not the
   ledger's.

On its next start the node catches up from its peers. Unless ``snapshot=False`` (``--replay``),
repair asks that start for a state snapshot (:mod:`node.snapshot_sync`): when a peer offers one at a
certified height, the node imports it (every chunk checked against the certified state root) and its
history starts there; otherwise, and with ``--replay``, it replays certified ledger blocks from
genesis (every block checked against its commit certificate). Either way it then fast-forwards its
consensus to the network's committed root and votes again.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

from ledger.crypto import algorithm_by_code, hasher, to_base58
from ledger.errors import ConfigError, JadechainError
from ledger.ledger import block_hash, settings_from_genesis
from ledger.store.directory import create_ledger, ledgers_root, open_ledger
from ledger.types import Block
from node.config import load_node_config
from node.snapshot_sync import request_snapshot_sync

__all__ = ["repair_node"]


def genesis_ledger_hash(genesis: Block) -> str:
    """The hash of the ledger a genesis block founds (base58), as :meth:`Ledger.create` computes it."""
    settings = settings_from_genesis(genesis)
    return to_base58(block_hash(hasher(algorithm_by_code(settings.hash_algorithm)), settings.hash_algorithm,
                                genesis.header))


def _check_ledger(data_dir: str, ledger_hash: str) -> str | None:
    """None when the ledger opens and reads, else the reason (error code and message)."""
    try:
        ledger = open_ledger(data_dir, ledger_hash)
    except JadechainError as error:
        return f"{error.code}: {error.message}"
    try:
        ledger.get_header(ledger.height)
    except JadechainError as error:
        return f"{error.code}: {error.message}"
    finally:
        ledger.close()
    return None


def move_consensus_store(data_dir: str, ledger_hash: str, backup: Path) -> list[str]:
    """Move the consensus block stores of a ledger into ``backup``; safety files stay. Returns what moved."""
    root = Path(data_dir) / "consensus" / ledger_hash
    moved: list[str] = []
    if not root.is_dir():
        return moved
    for directory, names, files in os.walk(root):
        for name in list(names):
            if name == "blocks":
                source = Path(directory) / name
                target = backup / "consensus" / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), str(target))
                moved.append(str(source))
                names.remove(name)
    return moved


def repair_node(config_path: str | os.PathLike[str], genesis: Block, *, ledger: str | None = None,
                force: bool = False, snapshot: bool = True) -> dict[str, Any]:
    """Repair the ledgers of the node configured by ``config_path`` (see the module docstring).

    Returns ``{"data_dir", "ledgers": {hash: {"status": "healthy" | "repaired", ...}}}``.
    Raises :class:`ConfigError` for a ledger the node does not host or a genesis of another ledger.
    """
    config = load_node_config(config_path)
    data_dir = config.node.data_dir
    hosted = [item.hash for item in config.ledgers]
    targets = hosted if ledger is None else [ledger]
    if ledger is not None and ledger not in hosted:
        raise ConfigError(f"the node does not host ledger {ledger}")
    genesis_hash = genesis_ledger_hash(genesis)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup_root = Path(data_dir) / f"repair-backup-{stamp}"
    result: dict[str, Any] = {"data_dir": data_dir, "ledgers": {}}
    for ledger_hash in targets:
        reason = _check_ledger(data_dir, ledger_hash)
        if reason is not None and "already held" in reason:
            # LevelDB's lock: the node (or another tool) has this database open. Never move a live one.
            raise ConfigError(f"ledger {ledger_hash} is in use (its database is locked): stop the node first")
        if reason is None and not force:
            result["ledgers"][ledger_hash] = {"status": "healthy"}
            continue
        if reason is not None and not force and not reason.startswith(("LEDGER_CORRUPTED", "NOT_FOUND")):
            raise ConfigError(f"ledger {ledger_hash} does not open ({reason}); this is not a corruption that "
                              "repair fixes — check the disk and permissions, or use --force to rebuild it anyway")
        if genesis_hash != ledger_hash:
            raise ConfigError(f"the genesis file is for ledger {genesis_hash}, not {ledger_hash}")
        backup = backup_root / ledger_hash
        backup.mkdir(parents=True, exist_ok=True)
        os.chmod(backup_root, 0o700)
        source = Path(ledgers_root(data_dir)) / ledger_hash
        if source.exists():
            shutil.move(str(source), str(backup / "ledger"))
        moved = move_consensus_store(data_dir, ledger_hash, backup)
        create_ledger(data_dir, genesis).close()
        if snapshot:
            request_snapshot_sync(str(Path(data_dir) / "consensus" / ledger_hash))
        result["ledgers"][ledger_hash] = {
            "status": "repaired", "reason": reason or "forced", "backup": str(backup),
            "consensus_stores_moved": len(moved), "height": 0, "snapshot_sync": snapshot,
        }
    return result
