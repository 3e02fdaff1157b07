"""The audit log: who did what, when. Append-only twice over: the database refuses UPDATE and
DELETE (triggers, migration 0002), and every entry carries the hash of the one before it, so an
edit made behind the database's back (a restored file, a superuser) is found by ``verify_chain``."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baas.models import AuditEvent, utcnow

GENESIS_HASH = "0" * 64
_append_lock = threading.Lock()


def entry_digest(previous_hash: str, event: AuditEvent) -> str:
    body = {
        "at": event.at.isoformat(timespec="microseconds"), "actor": event.actor, "actor_user_id": event.actor_user_id,
        "organization_id": event.organization_id, "action": event.action, "target": event.target,
        "details": event.details, "client": event.client,
    }
    data = previous_hash + json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def record(session: Session, actor: Any, action: str, target: str = "", details: dict[str, Any] | None = None,
           organization_id: int | None = None, client: str = "") -> AuditEvent:
    """Append one entry and commit (with the caller's pending changes: the action and its record
    land together or not at all)."""
    with _append_lock:
        last = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        previous = last.entry_hash if last is not None else GENESIS_HASH
        event = AuditEvent(
            at=utcnow(), actor=getattr(actor, "username", None) or str(actor or "system"),
            actor_user_id=getattr(actor, "id", None),
            organization_id=organization_id if organization_id is not None else getattr(actor, "organization_id", None),
            action=action, target=target, details=details or {}, client=client, previous_hash=previous,
        )
        event.entry_hash = entry_digest(previous, event)
        session.add(event)
        session.commit()
        return event


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    entries: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(session: Session) -> ChainReport:
    previous = GENESIS_HASH
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        count += 1
        if event.previous_hash != previous:
            return ChainReport(False, count, event.id, "entry does not link to the entry before it (one was removed or reordered)")
        if entry_digest(previous, event) != event.entry_hash:
            return ChainReport(False, count, event.id, "entry content does not match its hash (it was modified)")
        previous = event.entry_hash
    return ChainReport(True, count)
