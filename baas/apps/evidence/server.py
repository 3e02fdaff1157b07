"""Run the evidence app in a background thread (tests, benchmarks); ``__main__`` runs it as a process."""

from __future__ import annotations

import asyncio
from typing import Any

from baas.apps.evidence.app import create_app
from baas.apps.evidence.service import EvidenceSettings
from node.serving import BackgroundServer


class EvidenceServer(BackgroundServer):
    """The evidence app on 127.0.0.1 in a background thread: ``start()``, ``url``, ``stop()``."""

    thread_name = "evidence-app"

    def __init__(self, settings: EvidenceSettings, *, port: int = 0) -> None:
        super().__init__(port)
        self.settings = settings
        self.app = create_app(settings)

    @property
    def service(self) -> Any:
        return self.app.state.evidence.get()

    async def _serve(self, stop: asyncio.Event) -> None:
        try:
            await self._serve_app(self.app, stop)
        finally:
            self.app.state.evidence.service.close()
