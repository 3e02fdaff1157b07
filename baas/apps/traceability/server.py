"""Serve the traceability app on 127.0.0.1 in a background thread (tests, benchmarks, demos)."""

from __future__ import annotations

import asyncio
from typing import Any

from node.serving import BackgroundServer


class AppServer(BackgroundServer):
    """``AppServer(app).start()`` returns once the server accepts connections; ``url``; ``stop()``.

    The app's lifespan runs (it starts and stops the service's chain follower)."""

    thread_name = "trace-app"

    def __init__(self, app: Any, port: int = 0) -> None:
        super().__init__(port)
        self.app = app

    async def _serve(self, stop: asyncio.Event) -> None:
        await self._serve_app(self.app, stop, lifespan="on")
