"""A solo node in a background thread, and the one-validator dev ledger it usually runs on.

:class:`SoloNode` runs :mod:`node.solo`'s committer plus the HTTP gateway on loopback in a thread of
the calling process (tests, benchmarks, demos); :func:`create_dev_solo` makes the ledger it serves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

from ledger.crypto import KeyPair
from node.serving import BackgroundServer
from node.solo import default_contract_runtime, load_key, solo_runtime

__all__ = ["DevSolo", "SoloNode", "create_dev_solo"]


class SoloNode(BackgroundServer):
    """A solo node (committer + gateway) on 127.0.0.1 in a background thread with its own loop.

    ``SoloNode(data_dir, ledger_hash, keys).start()`` returns once the server accepts requests;
    ``url`` is its base URL; ``stop()`` shuts it down gracefully and closes the ledger. Starting
    again on the same ``port`` reopens the ledger where it stopped (a node restart).
    """

    thread_name = "solo-node"

    def __init__(
        self, data_dir: str, ledger_hash: str, validator_keys: Sequence[KeyPair], *,
        port: int = 0, settings: Any = None, idle_block_ms: int = 20, max_block_txs: int = 2000,
    ) -> None:
        super().__init__(port)
        self.data_dir = data_dir
        self.ledger_hash = ledger_hash
        self.validator_keys = list(validator_keys)
        self.settings = settings
        self.idle_block_ms = idle_block_ms
        self.max_block_txs = max_block_txs

    async def _serve(self, stop: asyncio.Event) -> None:
        from ledger.store.directory import open_ledger
        from node.gateway.app import GatewaySettings, create_app

        ledger = open_ledger(self.data_dir, self.ledger_hash, runtime=default_contract_runtime())
        try:
            async with solo_runtime(
                ledger, self.validator_keys, idle_block_ms=self.idle_block_ms, max_block_txs=self.max_block_txs,
            ) as runtime:
                self.runtime = runtime
                app = create_app({self.ledger_hash: runtime}, self.settings or GatewaySettings())
                await self._serve_app(app, stop, on_stop=app.state.shutting_down.set)  # open SSE streams end
        finally:
            ledger.close()


@dataclass(frozen=True)
class DevSolo:
    """A one-validator dev ledger on disk (what tests, benchmarks and demos start a solo node on)."""

    data_dir: str
    ledger_hash: str
    key: KeyPair
    """The validator's (and admin user's) key: it certifies blocks and may sign any transaction."""
    key_file: str
    password: str


def create_dev_solo(directory: str, crypto: str = "classic") -> DevSolo:
    """Create a one-validator dev ledger in ``directory`` (keys, genesis, data dir) with ``jadechain``'s
    own dev-network ceremony; with one validator, the solo committer's certificates are a quorum."""
    from pathlib import Path

    from jadechain.devnet.genesis import create_dev_network

    info = create_dev_network(Path(directory), 1, crypto)
    password = Path(info["password_file"]).read_text().strip()
    node = info["nodes"][0]
    return DevSolo(node["data_dir"], info["ledger_hash"], load_key(node["key"], password), node["key"], password)
