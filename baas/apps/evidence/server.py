"""Run the evidence app: in a background thread (tests, benchmarks) or as a process (``__main__``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

from baas.apps.evidence.app import create_app
from baas.apps.evidence.service import EvidenceSettings


def _bound_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted sockets (no Nagle + delayed-ACK stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(app: Any, sock: socket.socket, stop: asyncio.Event, on_ready: Any = None,
                graceful_timeout: int = 5) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set, then shut down gracefully."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=graceful_timeout))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started and on_ready is not None:
        on_ready()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    try:
        await serving
    finally:
        stopping.cancel()


class EvidenceServer:
    """The evidence app on 127.0.0.1 in a background thread: ``start()``, ``url``, ``stop()``."""

    def __init__(self, settings: EvidenceSettings, *, port: int = 0) -> None:
        self.settings = settings
        self.port = port
        self.app = create_app(settings)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def service(self) -> Any:
        return self.app.state.evidence.get()

    def start(self, timeout: float = 30.0) -> "EvidenceServer":
        self._thread = threading.Thread(target=self._main, name="evidence-app", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"evidence app did not start: {self._error!r}")
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start()
            self._error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sock = _bound_socket("127.0.0.1", self.port)
        self.port = sock.getsockname()[1]
        try:
            await serve(self.app, sock, self._stop, self._ready.set)
        finally:
            sock.close()
            self.app.state.evidence.service.close()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "EvidenceServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
