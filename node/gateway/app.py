"""The gateway's FastAPI application factory (OpenAPI at /docs and /openapi.json).

``create_app(runtimes, settings)`` serves the ledgers in ``runtimes`` (base58 ledger hash →
:class:`node.solo.LedgerRuntime`). Middleware order, outermost first: catch-all (never a bare
500), body-size limit (413), then FastAPI's routing with the ``{code, message}`` error handlers.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from node.gateway.deps import TokenBuckets
from node.gateway.errors import BodyLimitMiddleware, CatchAllMiddleware, install_error_handlers
from node.gateway.metrics import GatewayMetrics
from node.gateway.offline_docs import serve_docs_offline
from node.gateway.routers import blocks, calls, ledgers, proofs, stream, system, txs
from node.gateway.schemas import ErrorPublic
from node.solo import LedgerRuntime


@dataclass(frozen=True)
class GatewaySettings:
    max_body_bytes: int = 8 << 20
    """Largest request body (413 REQUEST_TOO_LARGE above)."""
    max_batch_txs: int = 5000
    """Most transactions in one POST."""
    post_rate: float = 200.0
    """POST requests per second per client (token bucket refill); 0 disables the limit."""
    post_burst: float = 400.0
    """Token bucket size: POSTs a client may send at once."""
    admin_token: str | None = None
    """Bearer token for /api/v1/admin/...; None disables the admin endpoints."""
    max_call_gas: int = 1_000_000
    """Highest gas limit of a read-only call (``POST .../call``; 400 CALL_GAS_TOO_HIGH above): a call is
    free and runs on this node only, where it shares the contract engine with block execution."""

    @classmethod
    def from_env(cls) -> "GatewaySettings":
        """Defaults, with the admin token from ``JADECHAIN_ADMIN_TOKEN`` (never from a file in the repo)."""
        return cls(admin_token=os.environ.get("JADECHAIN_ADMIN_TOKEN") or None)


def create_app(runtimes: dict[str, LedgerRuntime], settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    app = FastAPI(
        title="Jadechain gateway",
        version="1",
        description="Query ledgers, submit signed transactions, get proof bundles, follow the chain (SSE). "
                    "Errors are `{code, message}` with stable codes.",
        responses={"default": {"model": ErrorPublic, "description": "Error `{code, message}`"}},
    )
    serve_docs_offline(app)
    app.state.runtimes = runtimes
    app.state.settings = settings
    app.state.post_buckets = TokenBuckets(settings.post_rate, settings.post_burst)
    app.state.shutting_down = asyncio.Event()
    metrics = GatewayMetrics(lambda: app.state.runtimes)
    app.state.metrics = metrics
    for runtime in runtimes.values():
        _chain_on_commit(runtime, metrics)
    install_error_handlers(app)
    for module in (system, ledgers, blocks, txs, calls, proofs, stream):
        app.include_router(module.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    return app


def _chain_on_commit(runtime: LedgerRuntime, metrics: GatewayMetrics) -> None:
    previous = runtime.committer.on_commit

    def on_commit(result: Any, seconds: float, tx_latencies: list[float]) -> None:
        metrics.observe_commit(result, seconds, tx_latencies)
        if previous is not None:
            previous(result, seconds, tx_latencies)

    runtime.committer.on_commit = on_commit
