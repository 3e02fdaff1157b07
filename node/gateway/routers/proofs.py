"""Consistency proofs of the transaction log between two heights (RFC 9162)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ledger.proofs import build_consistency_bundle
from node.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/ledgers/{ledger}/proofs", tags=["proofs"])


@router.get("/consistency", summary="Proof that the log at new_height extends the log at old_height")
def consistency(
    runtime: RuntimeDep,
    old_height: Annotated[int, Query(ge=0, le=2**62)],
    new_height: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict[str, Any]:
    return build_consistency_bundle(runtime.ledger, old_height, new_height)
