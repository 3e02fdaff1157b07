"""Organisations and their keys in custody (an organisation never sees another's keys)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, require_org_role, require_platform_admin
from baas.custody import decode_intent
from baas.errors import BaasError, Conflict, Forbidden, InvalidRequest
from baas.models import CustodyKey, Organization, User, UtcDateTime
from baas.security import hash_password
from ledger.crypto import encrypt_private_key, from_base58, to_base58
from ledger.errors import JadechainError

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])

Algorithm = Literal["ED25519", "SM2", "ECDSA"]


class AdminCreate(BaseModel):
    username: str = Field(min_length=2, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=500)


class OrganizationCreate(BaseModel):
    name: str = Field(min_length=2, max_length=120, pattern=r"^[a-z0-9][a-z0-9-]*$")
    display_name: str = Field("", max_length=200)
    algorithm: Algorithm = "ED25519"
    import_private_key: str | None = Field(None, description="Base58 encoded private key to import instead of generating one")
    admin: AdminCreate | None = Field(None, description="Create the organisation's first admin user")


class OrganizationPublic(BaseModel):
    id: int
    name: str
    display_name: str
    public_key: str | None
    address: str | None
    created_at: UtcDateTime


class KeyCreate(BaseModel):
    label: str = Field(min_length=1, max_length=200)
    algorithm: Algorithm = "ED25519"
    import_private_key: str | None = None
    make_primary: bool = False


class KeyPublic(BaseModel):
    id: int
    organization_id: int
    purpose: str
    label: str
    algorithm: str
    public_key: str
    address: str
    imported: bool
    primary: bool
    created_at: UtcDateTime


class SignRequest(BaseModel):
    message_hex: str = Field(max_length=1 << 20, description="Hex of what to sign: an encoded transaction content, "
                             "or an invitation statement (see intent)")
    intent: Literal["transaction", "vote", "invitation", "raw"] = Field(
        "transaction", description="What the bytes are; custody decodes them and refuses what it cannot read. "
        "raw is off by default and needs the organisation admin.")


class ExportRequest(BaseModel):
    password: str = Field(min_length=10, max_length=500, description="The exported keystore is encrypted with it")


def org_public(session: Any, org: Organization) -> OrganizationPublic:
    key = session.get(CustodyKey, org.key_id) if org.key_id else None
    return OrganizationPublic(id=org.id, name=org.name, display_name=org.display_name,
                              public_key=key.public_key if key else None, address=key.address if key else None,
                              created_at=org.created_at)


def key_public(key: CustodyKey, org: Organization) -> KeyPublic:
    return KeyPublic(id=key.id, organization_id=key.organization_id, purpose=key.purpose, label=key.label,
                     algorithm=key.algorithm, public_key=key.public_key, address=key.address, imported=key.imported,
                     primary=org.key_id == key.id, created_at=key.created_at)


def _private(text: str | None, session: Any = None) -> bytes | None:
    """The private key to import; refused if a key with its public key is already in custody."""
    if text is None:
        return None
    try:
        encoded = from_base58(text)
    except (JadechainError, ValueError):
        raise InvalidRequest("import_private_key must be base58") from None
    if session is not None:
        from ledger.crypto import PrivateKey, keypair_from_private

        from baas.models import CustodyKey

        try:
            public = keypair_from_private(PrivateKey.from_encoded(encoded)).public.base58
        except JadechainError:
            return encoded  # custody reports the bad key with its own message
        if session.scalar(select(CustodyKey.id).where(CustodyKey.public_key == public)) is not None:
            raise KeyAlreadyHeld("this key is already in custody (keys are not shared between organisations)")
    return encoded


class KeyAlreadyHeld(Conflict):
    code = "KEY_ALREADY_HELD"


@router.get("", response_model=list[OrganizationPublic], summary="The organisation directory (names and public keys)")
def list_organizations(session: SessionDep, user: UserDep) -> list[OrganizationPublic]:
    return [org_public(session, o) for o in session.scalars(select(Organization).order_by(Organization.id))]


@router.post("", response_model=OrganizationPublic, status_code=201, summary="Create an organisation (platform admin)")
def create_organization(body: OrganizationCreate, request: Request, session: SessionDep, user: UserDep) -> OrganizationPublic:
    require_platform_admin(user)
    if session.scalar(select(Organization).where(Organization.name == body.name)) is not None:
        raise Conflict(f"organisation {body.name} exists")
    if body.admin:
        from baas.routers.accounts import check_password

        check_password(body.admin.password, body.admin.username)
    if body.admin and session.scalar(select(User).where(User.username == body.admin.username)) is not None:
        raise Conflict(f"user {body.admin.username} exists")
    org = Organization(name=body.name, display_name=body.display_name or body.name)
    session.add(org)
    session.flush()
    custody = request.app.state.baas.custody
    key = custody.new_key(session, org.id, "organization", f"{org.name} signing key", body.algorithm,
                          _private(body.import_private_key, session))
    org.key_id = key.id
    if body.admin:
        session.add(User(username=body.admin.username, password_hash=hash_password(body.admin.password),
                         role="org_admin", organization_id=org.id))
    audit.record(session, user, "organization.created", f"organization:{org.id}",
                 {"name": org.name, "key": key.public_key, "imported": key.imported,
                  "admin": body.admin.username if body.admin else None}, organization_id=org.id, client=client_of(request))
    return org_public(session, org)


@router.get("/{organization_id}", response_model=OrganizationPublic)
def get_organization(organization_id: int, session: SessionDep, user: UserDep) -> OrganizationPublic:
    return org_public(session, get_or_404(session, Organization, organization_id, "organisation"))


# --- keys in custody -----------------------------------------------------------------------------------

def _org_key(session: Any, user: User, organization_id: int, key_id: int) -> tuple[Organization, CustodyKey]:
    org: Organization = get_or_404(session, Organization, organization_id, "organisation")
    key: CustodyKey = get_or_404(session, CustodyKey, key_id, "key")
    if key.organization_id != org.id:
        raise Forbidden("that key belongs to another organisation")
    return org, key


@router.get("/{organization_id}/keys", response_model=list[KeyPublic], tags=["keys"],
            summary="Keys held in custody for the organisation (metadata and public keys only)")
def list_keys(organization_id: int, session: SessionDep, user: UserDep) -> list[KeyPublic]:
    require_org_role(user, organization_id, ("org_admin", "operator", "viewer"))
    org = get_or_404(session, Organization, organization_id, "organisation")
    keys = session.scalars(select(CustodyKey).where(CustodyKey.organization_id == organization_id).order_by(CustodyKey.id))
    return [key_public(k, org) for k in keys]


@router.post("/{organization_id}/keys", response_model=KeyPublic, status_code=201, tags=["keys"],
             summary="Generate a key in custody, or import one")
def create_key(organization_id: int, body: KeyCreate, request: Request, session: SessionDep, user: UserDep) -> KeyPublic:
    require_org_role(user, organization_id, ("org_admin",), platform_admin=False)
    org: Organization = get_or_404(session, Organization, organization_id, "organisation")
    key = request.app.state.baas.custody.new_key(session, org.id, "organization", body.label, body.algorithm,
                                                 _private(body.import_private_key, session))
    if body.make_primary:
        org.key_id = key.id
    audit.record(session, user, "key.imported" if key.imported else "key.generated", f"key:{key.id}",
                 {"public_key": key.public_key, "primary": body.make_primary}, organization_id=org.id,
                 client=client_of(request))
    return key_public(key, org)


@router.post("/{organization_id}/keys/{key_id}/sign", tags=["keys"],
             summary="Sign an intent (a transaction, a vote, an invitation decision) with a key in custody")
def sign_message(organization_id: int, key_id: int, body: SignRequest, request: Request, session: SessionDep,
                 user: UserDep) -> dict[str, Any]:
    """Custody decodes what it is asked to sign and checks it against the requesting role's rules.

    Organisation admins may have anything decodable signed; operators only their organisation's
    data and contract operations. Every signature and every refusal is in the audit log, in words.
    """
    require_org_role(user, organization_id, ("org_admin", "operator"), platform_admin=False)
    _, key = _org_key(session, user, organization_id, key_id)
    if key.purpose != "organization":
        raise Forbidden("node keys sign only consensus messages, inside the node")
    try:
        message = bytes.fromhex(body.message_hex)
    except ValueError:
        raise InvalidRequest("message_hex is not hex") from None
    try:
        intent = decode_intent(body.intent, message, user.role)
    except BaasError as error:
        audit.record(session, user, "key.sign_refused", f"key:{key.id}",
                     {"intent": body.intent, "code": error.code, "reason": error.message, "bytes": len(message)},
                     organization_id=organization_id, client=client_of(request))
        raise
    signature = request.app.state.baas.custody.sign(key, intent.message)
    audit.record(session, user, "key.signed", f"key:{key.id}",
                 {"intent": intent.kind, "summary": list(intent.summary), "operations": list(intent.operations),
                  "ledger_hash": intent.ledger_hash, "tx_hash": intent.tx_hash},
                 organization_id=organization_id, client=client_of(request))
    return {"public_key": key.public_key, "signature": to_base58(signature), "intent": intent.kind,
            "signed": intent.message.hex(), "summary": list(intent.summary)}


@router.post("/{organization_id}/keys/{key_id}/export", tags=["keys"],
             summary="Export a key as an encrypted keystore (only the owning organisation's admins)")
def export_key(organization_id: int, key_id: int, body: ExportRequest, request: Request, session: SessionDep,
               user: UserDep) -> dict[str, Any]:
    require_org_role(user, organization_id, ("org_admin",), platform_admin=False)
    _, key = _org_key(session, user, organization_id, key_id)
    pair = request.app.state.baas.custody.keypair(key)
    document = encrypt_private_key(pair.private, body.password)
    audit.record(session, user, "key.exported", f"key:{key.id}", {"public_key": key.public_key},
                 organization_id=organization_id, client=client_of(request))
    return {"public_key": key.public_key, "keystore": document}

