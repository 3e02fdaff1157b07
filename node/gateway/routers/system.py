"""Health, Prometheus metrics and admin endpoints (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from node.gateway.deps import AdminDep
from node.gateway.errors import error_response
from node.gateway.schemas import ErrorPublic, HealthPublic

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthPublic)
def health(request: Request) -> HealthPublic:
    runtimes = request.app.state.runtimes
    status = "stopping" if request.app.state.shutting_down.is_set() else "ok"
    return HealthPublic(status=status, ledgers={name: r.ledger.height for name, r in runtimes.items()})


READY_LAG_BLOCKS = 3
"""A node is caught up when its ledger is at most this many blocks behind the highest height a peer
reported to it (a voter's ledger trails the consensus root by the blocks awaiting attestation)."""
READY_VOTE_WINDOW_SECONDS = 60.0
"""A validator is voting when, within this window, its consensus round moved on (only a quorum's
certificate, QC or TC, moves it) and it signed a vote or a timeout itself. An idle network still
moves rounds by timeout certificates, so an idle validator stays ready."""


def readiness_problems(app: Any, now: float | None = None) -> dict[str, str]:
    """Why this node is not ready, per ledger (empty when ready): shutting down, halted, diverged,
    behind its peers, or a validator that has not taken part in consensus lately. Progress is sampled
    per call (``app.state.vote_samples``: ledger -> (round, signatures, when each last moved))."""
    import time

    when = time.monotonic() if now is None else now
    if app.state.shutting_down.is_set():
        return {"*": "shutting down"}
    samples: dict[str, tuple[int, int, float, float]] = getattr(app.state, "vote_samples", None) or {}
    app.state.vote_samples = samples
    problems: dict[str, str] = {}
    for name, runtime in app.state.runtimes.items():
        committer = runtime.committer
        status = getattr(committer, "status", None)
        if status is None:  # a solo node commits alone: it is its own quorum
            continue
        state = status()
        if state.get("halted"):
            problems[name] = "halted"
            continue
        if state.get("divergence"):
            problems[name] = f"diverged: {state['divergence']}"
            continue
        highest = max(getattr(committer, "peer_heights", {}).values(), default=0)
        if state["height"] + READY_LAG_BLOCKS < highest:
            problems[name] = f"catching up: height {state['height']} of {highest}"
            continue
        if not state.get("validator"):
            continue
        counters = state.get("consensus", {})
        round_ = int(state.get("round", 0))
        signed = int(counters.get("votes_sent", 0)) + int(counters.get("local_timeouts", 0))
        stale = when - READY_VOTE_WINDOW_SECONDS - 1
        previous = samples.get(name)
        if previous is None:
            # First look: what happened since the process started counts as recent.
            previous = (round_, signed, when if round_ > 0 else stale, when if signed > 0 else stale)
        round_moved = when if round_ != previous[0] else previous[2]
        signed_moved = when if signed != previous[1] else previous[3]
        samples[name] = (round_, signed, round_moved, signed_moved)
        if when - signed_moved > READY_VOTE_WINDOW_SECONDS:
            problems[name] = "not voting: no vote or timeout signed in the last %d s" % READY_VOTE_WINDOW_SECONDS
        elif when - round_moved > READY_VOTE_WINDOW_SECONDS:
            problems[name] = "not voting: no quorum certificate moved the round in the last %d s" % READY_VOTE_WINDOW_SECONDS
    return problems


@router.get("/ready", summary="Readiness: every ledger caught up with its peers and, on a validator, voting",
            responses={503: {"model": ErrorPublic}})
def ready(request: Request) -> Response:
    problems = readiness_problems(request.app)
    if problems:
        message = "; ".join(f"{name[:16]}: {reason}" for name, reason in sorted(problems.items()))
        return error_response(503, "NOT_READY", message, {"Retry-After": "5"})
    return JSONResponse({"status": "ready", "ledgers": sorted(request.app.state.runtimes)})


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
