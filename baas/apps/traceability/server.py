"""Serve the traceability app on 127.0.0.1 in a background thread (tests, benchmarks, demos)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any


class AppServer:
    """``AppServer(app).start()`` returns once the server accepts connections; ``url``; ``stop()``."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "AppServer":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            async def serve() -> None:
                task = asyncio.create_task(self._server.serve(sockets=[sock]))
                while not self._server.started and not task.done():
                    await asyncio.sleep(0.01)
                ready.set()
                await task

            try:
                asyncio.run(serve())
            finally:
                ready.set()
                sock.close()

        self._thread = threading.Thread(target=run, name="trace-app", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or not self._server.started:
            raise RuntimeError("the traceability app did not start")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
