"""Apps of a consortium (traceability, evidence) started on a ledger.

Mount point: each app package ``baas.apps.<kind>`` exposes ``create_app(settings) -> FastAPI``;
the control plane mounts one instance per started app at ``/apps/<kind>/<instance id>`` and passes
an :class:`AppMountSettings` (the ledger, its gateways, the owning organisation, and a signer that
signs with the organisation's key in custody). A record whose package is not installed yet stays
``pending`` and is mounted at the next start of the control plane.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, require_org_role
from baas.errors import AppSettingNotAllowed, Conflict, InvalidCertificate, InvalidRequest, NotFoundError, TsaUrlNotAllowed
from baas.external import EXTERNAL, ExternalNetwork
from baas.models import AppInstance, LedgerRecord, Organization, UtcDateTime, utcnow
from baas.orchestration import gateway_urls, org_key
from baas.routers.networks import visible_network

log = logging.getLogger("jadechain.baas.apps")
router = APIRouter(prefix="/api/v1", tags=["apps"])

APP_KINDS = {"traceability": "baas.apps.traceability", "evidence": "baas.apps.evidence"}

# What a user may set, per app kind. Everything else an app is given (its data directory, gateways,
# keys, public URL, account) comes from the control plane; no setting names a server path.
ALLOWED_SETTINGS: dict[str, frozenset[str]] = {
    "traceability": frozenset(),
    "evidence": frozenset({"external_tsa_url", "external_tsa_ca_pem", "max_records_per_organization",
                           "max_kept_bytes_per_organization"}),
}
CREDENTIALS_KEY = "write_credentials"
"""Reserved key of ``AppInstance.settings``: hashes of the write credentials issued for the app."""
CREDENTIAL_PREFIX = "jdapp_"
MAX_CA_PEM = 64 * 1024


def validate_ca_pem(pem: Any) -> str:
    """A PEM of one or more CA certificates (basicConstraints CA=true), re-encoded from the parsed form."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if not isinstance(pem, str) or not pem.strip() or len(pem) > MAX_CA_PEM:
        raise InvalidCertificate("external_tsa_ca_pem: give the PEM text of the TSA's CA certificate (at most 64 KiB)")
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidCertificate("external_tsa_ca_pem: not a PEM X.509 certificate") from exc
    for certificate in certificates:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except (x509.ExtensionNotFound, ValueError) as exc:
            raise InvalidCertificate("external_tsa_ca_pem: a certificate without basicConstraints is not a CA") from exc
        if not constraints.ca:
            raise InvalidCertificate("external_tsa_ca_pem: this is not a CA certificate (basicConstraints CA=false)")
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)


def validate_app_settings(kind: str, settings: dict[str, Any], allowed_tsa_urls: list[str]) -> dict[str, Any]:
    """The settings a user gave, checked against the kind's allow-list; returns them normalised."""
    allowed = ALLOWED_SETTINGS.get(kind, frozenset())
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise AppSettingNotAllowed(f"{kind} apps take no setting {', '.join(unknown)[:200]}; allowed: "
                                   f"{', '.join(sorted(allowed)) or 'none'}")
    result: dict[str, Any] = {}
    if "external_tsa_url" in settings:
        url = settings["external_tsa_url"]
        if not isinstance(url, str) or url not in allowed_tsa_urls:
            raise TsaUrlNotAllowed("external_tsa_url: only a TSA on the platform administrator's allow-list "
                                   "(JADECHAIN_BAAS_EXTERNAL_TSA_URLS)")
        result["external_tsa_url"] = url
    if "external_tsa_ca_pem" in settings:
        result["external_tsa_ca_pem"] = validate_ca_pem(settings["external_tsa_ca_pem"])
    for name in ("max_records_per_organization", "max_kept_bytes_per_organization"):
        if name in settings:
            value = settings[name]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 50:
                raise AppSettingNotAllowed(f"{name}: a non-negative integer")
            result[name] = value
    return result


def digest_credential(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_authorizer(sessions: Any, instance_id: int) -> Callable[[str], str | None]:
    """``authorize(secret) -> organisation name`` for the app's write credentials (read at each call, so
    issuing and revoking act at once on the mounted app)."""

    def authorize(secret: str) -> str | None:
        if not secret.startswith(CREDENTIAL_PREFIX):
            return None
        wanted = digest_credential(secret)
        with sessions() as session:
            instance = session.get(AppInstance, instance_id)
            if instance is None or instance.status == "stopped":
                return None
            for entry in (instance.settings or {}).get(CREDENTIALS_KEY, []):
                if not entry.get("revoked_at") and hmac.compare_digest(str(entry.get("hash", "")), wanted):
                    return str(entry["organization"])
        return None

    return authorize


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
    authorize: Callable[[str], str | None] | None = None
    """``authorize(bearer secret) -> organisation name`` or None: who may write through the app."""


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
    created_at: UtcDateTime


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
        extra={**_checked_settings(state.settings, instance), "network_name": ledger.network.name,
               "public_url": f"http://{state.settings.host}:{state.settings.port}"},
        authorize=credential_authorizer(state.sessions, instance.id),
    )
    try:
        sub_app = factory(settings)
    except Exception:
        log.exception("app %s could not be created", instance.mount_path)
        return False
    app.mount(instance.mount_path, sub_app)
    state.mounted_apps[instance.mount_path] = sub_app
    return True


def _checked_settings(settings: Any, instance: AppInstance) -> dict[str, Any]:
    """The instance's user settings, re-checked (a record saved by an older control plane may hold others)."""
    given = {k: v for k, v in (instance.settings or {}).items() if k != CREDENTIALS_KEY}
    try:
        return validate_app_settings(instance.kind, given, list(settings.external_tsa_urls))
    except Exception as error:
        log.warning("app %s: settings refused, started without them: %s", instance.id, error)
        return {}


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
    checked = validate_app_settings(body.kind, body.settings, list(request.app.state.baas.settings.external_tsa_urls))
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
                           mount_path="", settings=checked)
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
    if instance.status == EXTERNAL:
        raise ExternalNetwork(f"app {instance.id} runs outside the control plane (jadechain up); stop it with jadechain down")
    instance.status = "stopped"
    state = request.app.state.baas
    if instance.mount_path in state.mounted_apps:
        request.app.router.routes[:] = [r for r in request.app.router.routes if getattr(r, "path", None) != instance.mount_path]
        state.mounted_apps.pop(instance.mount_path, None)
    audit.record(session, user, "app.stopped", f"app:{instance.id}", organization_id=instance.organization_id,
                 client=client_of(request))
    return app_public(request.app, instance)


# --- write credentials of an app ---------------------------------------------------------------------------

class CredentialCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    organization_id: int | None = Field(None, description="The organisation that writes with it (default: yours)")


class CredentialPublic(BaseModel):
    id: str
    name: str
    organization_id: int
    organization: str
    created_at: str
    revoked_at: str | None = None


class CredentialCreated(CredentialPublic):
    token: str = Field(description="Send as `Authorization: Bearer <token>` to the app; shown only now")


def _credential_public(entry: dict[str, Any]) -> CredentialPublic:
    return CredentialPublic(id=entry["id"], name=entry["name"], organization_id=entry["organization_id"],
                            organization=entry["organization"], created_at=entry["created_at"],
                            revoked_at=entry.get("revoked_at"))


@router.post("/apps/{app_id}/credentials", response_model=CredentialCreated, status_code=201,
             summary="Issue a write credential of this app for an organisation of its network")
def issue_credential(app_id: int, body: CredentialCreate, request: Request, session: SessionDep,
                     user: UserDep) -> CredentialCreated:
    instance: AppInstance = get_or_404(session, AppInstance, app_id, "app")
    ledger = session.get(LedgerRecord, instance.ledger_id)
    visible_network(session, user, ledger.network_id)
    org_id = body.organization_id if body.organization_id is not None else user.organization_id
    if org_id is None:
        raise InvalidRequest("organization_id is required")
    require_org_role(user, org_id, ("org_admin", "operator"))
    org: Organization = get_or_404(session, Organization, org_id, "organisation")
    from baas.deps import consortium_member_ids

    if org_id != instance.organization_id and org_id not in consortium_member_ids(session, ledger.network.consortium_id):
        raise InvalidRequest("the organisation is not a member of the app's consortium")
    secret = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    entry = {"id": secret[len(CREDENTIAL_PREFIX):][:10], "name": body.name, "organization_id": org.id,
             "organization": org.name, "hash": digest_credential(secret), "created_at": utcnow().isoformat() + "Z"}
    settings = dict(instance.settings or {})
    settings[CREDENTIALS_KEY] = [*settings.get(CREDENTIALS_KEY, []), entry]
    instance.settings = settings
    audit.record(session, user, "app.credential_issued", f"app:{instance.id}", {"credential": entry["id"],
                 "organization": org.name}, organization_id=org.id, client=client_of(request))
    return CredentialCreated(**_credential_public(entry).model_dump(), token=secret)


@router.get("/apps/{app_id}/credentials", response_model=list[CredentialPublic],
            summary="The app's write credentials (yours; all for the app's organisation admins)")
def list_credentials(app_id: int, session: SessionDep, user: UserDep) -> list[CredentialPublic]:
    instance: AppInstance = get_or_404(session, AppInstance, app_id, "app")
    ledger = session.get(LedgerRecord, instance.ledger_id)
    visible_network(session, user, ledger.network_id)
    entries = (instance.settings or {}).get(CREDENTIALS_KEY, [])
    if user.role != "platform_admin" and user.organization_id != instance.organization_id:
        entries = [e for e in entries if e["organization_id"] == user.organization_id]
    return [_credential_public(e) for e in entries]


@router.delete("/apps/{app_id}/credentials/{credential_id}", status_code=204, summary="Revoke a write credential")
def revoke_credential(app_id: int, credential_id: str, request: Request, session: SessionDep, user: UserDep) -> Response:
    instance: AppInstance = get_or_404(session, AppInstance, app_id, "app")
    settings = dict(instance.settings or {})
    entries = [dict(e) for e in settings.get(CREDENTIALS_KEY, [])]
    for entry in entries:
        if entry["id"] == credential_id:
            require_org_role(user, entry["organization_id"], ("org_admin", "operator"))
            entry.setdefault("revoked_at", utcnow().isoformat() + "Z")
            break
    else:
        raise NotFoundError(f"credential {credential_id[:20]} not found")
    settings[CREDENTIALS_KEY] = entries
    instance.settings = settings
    audit.record(session, user, "app.credential_revoked", f"app:{instance.id}", {"credential": credential_id},
                 organization_id=instance.organization_id, client=client_of(request))
    return Response(status_code=204)
