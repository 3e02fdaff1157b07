"""The audit log (read-only through the API; the database refuses changes) and its verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from baas.audit import verify_chain
from baas.deps import SessionDep, UserDep, is_platform_admin, require_platform_admin
from baas.errors import Forbidden
from baas.models import AuditEvent

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditPublic(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    organization_id: int | None
    action: str
    target: str
    details: dict[str, Any]
    client: str
    entry_hash: str


@router.get("", response_model=list[AuditPublic],
            summary="Audit entries, newest first (platform admins: all; organisation admins: their organisation's)")
def list_audit(session: SessionDep, user: UserDep, action: str | None = None, before_id: int | None = None,
               limit: int = Query(100, ge=1, le=1000)) -> list[AuditPublic]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if not is_platform_admin(user):
        if user.role != "org_admin":
            raise Forbidden("the audit log is for administrators")
        query = query.where(AuditEvent.organization_id == user.organization_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return [AuditPublic(id=e.id, at=e.at, actor=e.actor, organization_id=e.organization_id, action=e.action,
                        target=e.target, details=e.details, client=e.client, entry_hash=e.entry_hash)
            for e in session.scalars(query)]


@router.get("/verify", summary="Check the hash chain of the whole log (platform admins)")
def verify(session: SessionDep, user: UserDep) -> dict[str, Any]:
    require_platform_admin(user)
    report = verify_chain(session)
    return {"valid": report.valid, "entries": report.entries, "first_bad_id": report.first_bad_id, "reason": report.reason}
