"""Health, Prometheus metrics and admin endpoints (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from node.gateway.deps import AdminDep
from node.gateway.schemas import HealthPublic

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthPublic)
def health(request: Request) -> HealthPublic:
    runtimes = request.app.state.runtimes
    status = "stopping" if request.app.state.shutting_down.is_set() else "ok"
    return HealthPublic(status=status, ledgers={name: r.ledger.height for name, r in runtimes.items()})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/admin/mempool", dependencies=[AdminDep], summary="Mempool statistics (admin token)")
def mempool_stats(request: Request) -> dict[str, Any]:
    result = {}
    for name, runtime in request.app.state.runtimes.items():
        stats = runtime.mempool.stats()
        result[name] = {
            "pending": stats.pending, "in_flight": stats.in_flight, "verifying": stats.verifying,
            "accepted_total": stats.accepted_total, "rejected_total": stats.rejected_total,
        }
    return result
