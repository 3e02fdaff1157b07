"""A solo node in a background thread, and the one-validator dev ledger it usually runs on.

:class:`SoloNode` runs :mod:`node.solo`'s committer plus the HTTP gateway on loopback in a thread of
the calling process (tests, benchmarks, demos); :func:`create_dev_solo` makes the ledger it serves.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ledger.crypto import KeyPair
from node.solo import _bound_socket, default_contract_runtime, load_key, serve_app, solo_runtime

log = logging.getLogger("jadechain.solo")

__all__ = ["DevSolo", "SoloNode", "create_dev_solo"]


class SoloNode:
    """A solo node (committer + gateway) on 127.0.0.1 in a background thread with its own loop.

    ``SoloNode(data_dir, ledger_hash, keys).start()`` returns once the server accepts requests;
    ``url`` is its base URL; ``stop()`` shuts it down gracefully and closes the ledger. Starting
    again on the same ``port`` reopens the ledger where it stopped (a node restart).
    """

    def __init__(
        self, data_dir: str, ledger_hash: str, validator_keys: Sequence[KeyPair], *,
        port: int = 0, settings: Any = None, idle_block_ms: int = 20, max_block_txs: int = 2000,
    ) -> None:
        self.data_dir = data_dir
        self.ledger_hash = ledger_hash
        self.validator_keys = list(validator_keys)
        self.port = port
        self.settings = settings
        self.idle_block_ms = idle_block_ms
        self.max_block_txs = max_block_txs
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "SoloNode":
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._main, name="solo-node", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("solo node did not start in time")
        if self._error is not None:
            raise RuntimeError(f"solo node failed to start: {self._error!r}") from self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start()
            self._error = error
            log.exception("solo node crashed")
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        from ledger.store.directory import open_ledger
        from node.gateway.app import GatewaySettings, create_app

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        ledger = open_ledger(self.data_dir, self.ledger_hash, runtime=default_contract_runtime())
        try:
            async with solo_runtime(
                ledger, self.validator_keys, idle_block_ms=self.idle_block_ms, max_block_txs=self.max_block_txs,
            ) as runtime:
                self.runtime = runtime
                app = create_app({self.ledger_hash: runtime}, self.settings or GatewaySettings())
                sock = _bound_socket("127.0.0.1", self.port)
                self.port = sock.getsockname()[1]
                try:
                    await serve_app(app, sock, self._stop, self._ready.set)
                finally:
                    sock.close()
        finally:
            ledger.close()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "SoloNode":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


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
