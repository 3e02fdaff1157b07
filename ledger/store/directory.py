"""A node's data directory: several ledgers, each in its own LevelDB.

Layout: ``DATA_DIR/ledgers/<ledger hash in base58>/`` per ledger. A ledger is
created from its genesis block and opened by its hash.
"""

from __future__ import annotations

import os
import shutil

from ledger.contract_api import ContractRuntime
from ledger.crypto import to_base58
from ledger.errors import NotFound
from ledger.ledger import Ledger
from ledger.store.leveldb import LevelDBStore
from ledger.types import Block


def ledgers_root(data_dir: str) -> str:
    return os.path.join(data_dir, "ledgers")


def list_ledgers(data_dir: str) -> list[str]:
    """Base58 hashes of the ledgers in ``data_dir`` (sorted)."""
    root = ledgers_root(data_dir)
    if not os.path.isdir(root):
        return []
    return sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))


def create_ledger(
    data_dir: str, genesis: Block, *, runtime: ContractRuntime | None = None, sync: bool = True
) -> Ledger:
    """Create a ledger from its genesis block; its directory is named by its hash."""
    staging = os.path.join(ledgers_root(data_dir), ".creating")
    if os.path.exists(staging):
        shutil.rmtree(staging)
    store = LevelDBStore(staging, sync=sync)
    try:
        ledger = Ledger.create(store, genesis, runtime=runtime)
    except BaseException:
        store.close()
        raise
    name = to_base58(ledger.ledger_hash)
    store.close()
    final = os.path.join(ledgers_root(data_dir), name)
    if os.path.exists(final):
        shutil.rmtree(staging)
        raise FileExistsError(f"ledger {name} already exists in {data_dir}")
    os.rename(staging, final)
    return open_ledger(data_dir, name, runtime=runtime, sync=sync)


def open_ledger(
    data_dir: str, ledger_hash: str, *, runtime: ContractRuntime | None = None, sync: bool = True
) -> Ledger:
    path = os.path.join(ledgers_root(data_dir), ledger_hash)
    if not os.path.isdir(path):
        raise NotFound(f"no ledger {ledger_hash} in {data_dir}")
    store = LevelDBStore(path, sync=sync, create=False)
    try:
        return Ledger(store, runtime=runtime)
    except BaseException:
        store.close()
        raise
