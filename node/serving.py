"""Serving an ASGI app with uvicorn: on a socket until an event is set, or in a background thread.

Shared by the validator's gateway (``node.server``), the solo node, the evidence and traceability apps
and the tests and benchmarks that start those in-process: one way to bind, start, report readiness and
shut down gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any, Callable, Literal, Self

__all__ = ["BackgroundServer", "bound_socket", "serve_app"]

log = logging.getLogger("jadechain.serving")


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), inheritable by a restarted process."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP;
    # with proto 0, Nagle + delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve_app(
    app: Any, sock: socket.socket, stop: asyncio.Event, on_ready: Callable[[], None] | None = None,
    graceful_timeout: int = 5, *, lifespan: Literal["auto", "on", "off"] = "off", on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set (``on_stop`` runs then, e.g. to end open streams),
    then shut down gracefully."""
    import uvicorn

    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1, and any local
    # client could pick a fresh rate-limit bucket per request.
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False,
                            timeout_graceful_shutdown=graceful_timeout, proxy_headers=False)
    server = uvicorn.Server(config)
    # Signals are the caller's business (uvicorn would re-raise SIGTERM after serving, killing the
    # process before a committer seals its last block and the ledger is closed).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started and on_ready is not None:
        on_ready()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    if on_stop is not None:
        on_stop()
    try:
        await serving
    finally:
        stopping.cancel()


class BackgroundServer:
    """A server on 127.0.0.1 in a background thread with its own event loop.

    ``start()`` returns once it accepts requests (or raises with the reason it did not start); ``url``
    is its base URL; ``stop()`` shuts it down gracefully. Subclasses implement :meth:`_serve`, which
    binds with :func:`bound_socket`, sets ``self.port`` and runs :func:`serve_app` with ``self._stop``
    and ``self._ready.set``; it may open and close what the server needs around that.
    """

    thread_name = "app-server"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def _serve_app(self, app: Any, stop: asyncio.Event, **options: Any) -> None:
        """Serve ``app`` on ``self.port`` (0: a free port, then recorded) until ``stop`` is set."""
        sock = bound_socket("127.0.0.1", self.port)
        self.port = sock.getsockname()[1]
        try:
            await serve_app(app, sock, stop, self._ready.set, **options)
        finally:
            sock.close()

    def start(self, timeout: float = 30.0) -> Self:
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._main, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"{self.thread_name} did not start in {timeout:.0f} s")
        if self._error is not None:
            raise RuntimeError(f"{self.thread_name} failed to start: {self._error!r}") from self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # reported to start(), logged if it happens later
            self._error = error
            log.exception("%s stopped with an error", self.thread_name)
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self._serve(self._stop)

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
