"""Apps of a consortium (traceability, evidence) started on a ledger.

Mount point: each app package ``baas.apps.<kind>`` exposes ``create_app(settings) -> FastAPI``;
the control plane mounts one instance per started app at ``/apps/<kind>/<instance id>`` and passes
an :class:`AppMountSettings` (the ledger, its gateways, the owning organisation, and a signer that
signs with the organisation's key in custody). A record whose package is not installed yet stays
``pending`` and is mounted at the next start of the control plane.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, require_org_role
from baas.errors import Conflict, InvalidRequest
from baas.models import AppInstance, LedgerRecord, Organization
from baas.orchestration import gateway_urls, org_key
from baas.routers.networks import visible_network

log = logging.getLogger("jadechain.baas.apps")
router = APIRouter(prefix="/api/v1", tags=["apps"])

APP_KINDS = {"traceability": "baas.apps.traceability", "evidence": "baas.apps.evidence"}


@dataclass
class AppMountSettings:
    """What a mounted app is given. ``sign(message) -> signature`` uses the organisation's key in custody."""

    instance_id: int
    kind: str
    ledger_hash: str
    gateway_urls: list[str]
    organization: str
    public_key: str
    mount_path: str
    data_dir: str
    sign: Callable[[bytes], bytes] | None = None
    keypair: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AppCreate(BaseModel):
    kind: Literal["traceability", "evidence"]
    ledger_id: int
    organization_id: int | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class AppPublic(BaseModel):
    id: int
    kind: str
    ledger_id: int
    organization_id: int
    status: str
    mount_path: str
    mounted: bool
    created_at: dt.datetime


def app_public(app: FastAPI, instance: AppInstance) -> AppPublic:
    mounted = instance.mount_path in app.state.baas.mounted_apps
    return AppPublic(id=instance.id, kind=instance.kind, ledger_id=instance.ledger_id,
                     organization_id=instance.organization_id, status=instance.status, mount_path=instance.mount_path,
                     mounted=mounted, created_at=instance.created_at)


def mount_instance(app: FastAPI, session: Any, instance: AppInstance) -> bool:
    """Mount the app package's FastAPI app for ``instance``; False if the package is not there yet."""
    state = app.state.baas
    if instance.mount_path in state.mounted_apps:
        return True
    try:
        module = importlib.import_module(APP_KINDS[instance.kind])
        factory = getattr(module, "create_app")
    except (ImportError, AttributeError):
        return False
    ledger = session.get(LedgerRecord, instance.ledger_id)
    org = session.get(Organization, instance.organization_id)
    key = org_key(session, org)
    custody = state.custody
    settings = AppMountSettings(
        instance_id=instance.id, kind=instance.kind, ledger_hash=ledger.ledger_hash,
        gateway_urls=gateway_urls(ledger.network), organization=org.name, public_key=key.public_key,
        mount_path=instance.mount_path, data_dir=str(state.settings.data_dir / "apps" / str(instance.id)),
        sign=functools.partial(custody.sign, key), keypair=functools.partial(custody.keypair, key),
        extra={"network_name": ledger.network.name,
               "public_url": f"http://{state.settings.host}:{state.settings.port}", **(instance.settings or {})},
    )
    try:
        sub_app = factory(settings)
    except Exception:
        log.exception("app %s could not be created", instance.mount_path)
        return False
    app.mount(instance.mount_path, sub_app)
    state.mounted_apps[instance.mount_path] = sub_app
    return True


def remount_apps(app: FastAPI) -> None:
    with app.state.baas.sessions() as session:
        for instance in session.scalars(select(AppInstance).where(AppInstance.status.in_(("started", "pending")))):
            instance.status = "started" if mount_instance(app, session, instance) else "pending"
        session.commit()


@router.get("/apps", response_model=list[AppPublic])
def list_apps(request: Request, session: SessionDep, user: UserDep) -> list[AppPublic]:
    result = []
    for instance in session.scalars(select(AppInstance).order_by(AppInstance.id)):
        ledger = session.get(LedgerRecord, instance.ledger_id)
        try:
            visible_network(session, user, ledger.network_id)
        except Exception:
            continue
        result.append(app_public(request.app, instance))
    return result


@router.post("/apps", response_model=AppPublic, status_code=201, summary="Start an app on a ledger")
def start_app(body: AppCreate, request: Request, session: SessionDep, user: UserDep) -> AppPublic:
    ledger: LedgerRecord = get_or_404(session, LedgerRecord, body.ledger_id, "ledger")
    visible_network(session, user, ledger.network_id)
    owner = body.organization_id if body.organization_id is not None else user.organization_id
    if owner is None:
        raise InvalidRequest("organization_id is required")
    require_org_role(user, owner, ("org_admin", "operator"))
    existing = session.scalar(select(AppInstance).where(AppInstance.kind == body.kind, AppInstance.ledger_id == ledger.id,
                                                        AppInstance.status != "stopped"))
    if existing is not None:
        raise Conflict(f"{body.kind} already runs on this ledger (app {existing.id})")
    instance = AppInstance(kind=body.kind, ledger_id=ledger.id, organization_id=owner, status="pending",
                           mount_path="", settings=body.settings)
    session.add(instance)
    session.flush()
    instance.mount_path = f"/apps/{body.kind}/{instance.id}"
    instance.status = "started" if mount_instance(request.app, session, instance) else "pending"
    audit.record(session, user, "app.started", f"app:{instance.id}", {"kind": body.kind, "ledger": ledger.ledger_hash,
                 "status": instance.status}, organization_id=owner, client=client_of(request))
    return app_public(request.app, instance)


@router.get("/apps/{app_id}", response_model=AppPublic)
def get_app(app_id: int, request: Request, session: SessionDep, user: UserDep) -> AppPublic:
    instance: AppInstance = get_or_404(session, AppInstance, app_id, "app")
    ledger = session.get(LedgerRecord, instance.ledger_id)
    visible_network(session, user, ledger.network_id)
    return app_public(request.app, instance)


@router.post("/apps/{app_id}/stop", response_model=AppPublic, summary="Stop an app (its mount answers 404 after a restart)")
def stop_app(app_id: int, request: Request, session: SessionDep, user: UserDep) -> AppPublic:
    instance: AppInstance = get_or_404(session, AppInstance, app_id, "app")
    require_org_role(user, instance.organization_id, ("org_admin", "operator"))
    instance.status = "stopped"
    state = request.app.state.baas
    if instance.mount_path in state.mounted_apps:
        request.app.router.routes[:] = [r for r in request.app.router.routes if getattr(r, "path", None) != instance.mount_path]
        state.mounted_apps.pop(instance.mount_path, None)
    audit.record(session, user, "app.stopped", f"app:{instance.id}", organization_id=instance.organization_id,
                 client=client_of(request))
    return app_public(request.app, instance)
