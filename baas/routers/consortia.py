"""Consortia and governed invitations: DRAFT → SIGNING → ACCEPTED / REJECTED / EXPIRED.

A member organisation's vote is its signature (with its own key, made in custody on request of
one of its admins, or made outside and uploaded) over the invitation statement. The invitee signs
its acceptance the same way. When the policy's quorum of approvals and the invitee's acceptance
are both present, the organisation joins and, on every running network of the consortium, a
governance transaction (RegisterUser + AuthorizeUserRoles ADMIN for the new member's key, signed
by the approving members' keys) is committed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from baas import audit
from baas.deps import (
    SessionDep, UserDep, client_of, consortium_member_ids, get_or_404, is_platform_admin, require_consortium_access,
    require_org_role,
)
from baas.errors import BaasError, Conflict, Forbidden, InvalidRequest
from baas.governance import invitation_statement, required_signatures
from baas.models import Consortium, ConsortiumMember, CustodyKey, Invitation, InvitationSignature, Network, Organization, User, UtcDateTime, utcnow
from baas.orchestration import org_key, register_org_admins_tx, submit
from ledger.crypto import PublicKey, from_base58, to_base58, verify
from ledger.errors import JadechainError

router = APIRouter(prefix="/api/v1", tags=["consortia"])

Policy = Literal["majority", "all", "any", "threshold"]
READ = ("org_admin", "operator", "viewer")


class ConsortiumCreate(BaseModel):
    name: str = Field(min_length=2, max_length=120, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field("", max_length=2000)
    policy: Policy = "majority"
    threshold: int | None = Field(None, ge=1)
    organization_id: int | None = Field(None, description="Founding member (default: your organisation)")


class MemberPublic(BaseModel):
    organization_id: int
    organization: str
    joined_at: UtcDateTime


class ConsortiumPublic(BaseModel):
    id: int
    name: str
    description: str
    policy: str
    threshold: int | None
    required_signatures: int
    members: list[MemberPublic]
    created_at: UtcDateTime


class InvitationCreate(BaseModel):
    organization_id: int
    message: str = Field("", max_length=2000)
    expires_in_hours: int = Field(72, ge=1, le=24 * 90)
    open: bool = Field(True, description="Open for signatures at once (else stays DRAFT)")


class SignatureBody(BaseModel):
    decision: Literal["approve", "reject"] = "approve"
    signature: str | None = Field(None, description="Base58 signature made outside the service; omitted = sign in custody")


class AcceptBody(BaseModel):
    signature: str | None = None


class SignaturePublic(BaseModel):
    organization_id: int
    organization: str
    decision: str
    public_key: str
    signature: str
    uploaded: bool
    signed_at: UtcDateTime


class InvitationPublic(BaseModel):
    id: int
    consortium_id: int
    consortium: str
    organization_id: int
    organization: str
    status: str
    message: str
    required_signatures: int
    approvals: int
    rejections: int
    accepted_by_invitee: bool
    eligible_signers: list[int]
    expires_at: UtcDateTime
    created_at: UtcDateTime
    decided_at: UtcDateTime | None
    reason: str
    signatures: list[SignaturePublic]
    statements: dict[str, str] = Field(description="Hex of the exact bytes to sign, per decision (approve, reject, accept)")
    onchain: list[dict[str, Any]]


def consortium_public(session: Session, consortium: Consortium) -> ConsortiumPublic:
    members = [MemberPublic(organization_id=m.organization_id, organization=m.organization.name, joined_at=m.joined_at)
               for m in consortium.members]
    return ConsortiumPublic(id=consortium.id, name=consortium.name, description=consortium.description,
                            policy=consortium.policy, threshold=consortium.threshold,
                            required_signatures=required_signatures(consortium, len(members)), members=members,
                            created_at=consortium.created_at)


def _expire(session: Session, invitation: Invitation) -> None:
    if invitation.status in ("DRAFT", "SIGNING") and invitation.expires_at <= utcnow():
        invitation.status, invitation.decided_at, invitation.reason = "EXPIRED", utcnow(), "expired before a decision"
        session.commit()


def invitation_public(session: Session, invitation: Invitation) -> InvitationPublic:
    _expire(session, invitation)
    consortium = session.get(Consortium, invitation.consortium_id)
    invitee = session.get(Organization, invitation.organization_id)
    assert consortium is not None and invitee is not None
    names = {o.id: o.name for o in session.scalars(select(Organization))}
    invitee_key = org_key(session, invitee).public_key if invitee.key_id else ""
    signatures = [SignaturePublic(organization_id=s.organization_id, organization=names.get(s.organization_id, "?"),
                                  decision=s.decision, public_key=s.public_key, signature=s.signature,
                                  uploaded=s.uploaded, signed_at=s.signed_at) for s in invitation.signatures]
    return InvitationPublic(
        id=invitation.id, consortium_id=consortium.id, consortium=consortium.name, organization_id=invitee.id,
        organization=invitee.name, status=invitation.status, message=invitation.message,
        required_signatures=invitation.required_signatures,
        approvals=sum(s.decision == "approve" for s in invitation.signatures),
        rejections=sum(s.decision == "reject" for s in invitation.signatures),
        accepted_by_invitee=any(s.decision == "accept" for s in invitation.signatures),
        eligible_signers=list(invitation.member_org_ids or []), expires_at=invitation.expires_at,
        created_at=invitation.created_at, decided_at=invitation.decided_at, reason=invitation.reason,
        signatures=signatures,
        statements={d: invitation_statement(invitation, consortium, invitee, invitee_key, d).hex()
                    for d in ("approve", "reject", "accept")},
        onchain=list(invitation.onchain or []),
    )


# --- consortia -----------------------------------------------------------------------------------------

@router.get("/consortia", response_model=list[ConsortiumPublic])
def list_consortia(session: SessionDep, user: UserDep) -> list[ConsortiumPublic]:
    query = select(Consortium).order_by(Consortium.id)
    if not is_platform_admin(user):
        query = query.join(ConsortiumMember).where(ConsortiumMember.organization_id == user.organization_id)
    return [consortium_public(session, c) for c in session.scalars(query)]


@router.post("/consortia", response_model=ConsortiumPublic, status_code=201)
def create_consortium(body: ConsortiumCreate, request: Request, session: SessionDep, user: UserDep) -> ConsortiumPublic:
    founder_id = body.organization_id if body.organization_id is not None else user.organization_id
    if founder_id is None:
        raise InvalidRequest("organization_id (the founding member) is required")
    require_org_role(user, founder_id, ("org_admin",))
    founder = get_or_404(session, Organization, founder_id, "organisation")
    if body.policy == "threshold" and not body.threshold:
        raise InvalidRequest("a threshold policy needs threshold")
    if session.scalar(select(Consortium).where(Consortium.name == body.name)) is not None:
        raise Conflict(f"consortium {body.name} exists")
    consortium = Consortium(name=body.name, description=body.description, policy=body.policy,
                            threshold=body.threshold, created_by_org_id=founder.id)
    consortium.members.append(ConsortiumMember(organization_id=founder.id))
    session.add(consortium)
    session.flush()
    audit.record(session, user, "consortium.created", f"consortium:{consortium.id}",
                 {"name": consortium.name, "policy": consortium.policy, "founder": founder.name},
                 organization_id=founder.id, client=client_of(request))
    session.refresh(consortium)
    return consortium_public(session, consortium)


@router.get("/consortia/{consortium_id}", response_model=ConsortiumPublic)
def get_consortium(consortium_id: int, session: SessionDep, user: UserDep) -> ConsortiumPublic:
    consortium = get_or_404(session, Consortium, consortium_id, "consortium")
    require_consortium_access(session, user, consortium, READ)
    return consortium_public(session, consortium)


# --- invitations ---------------------------------------------------------------------------------------

def _open(session: Session, invitation: Invitation, consortium: Consortium) -> None:
    members = consortium_member_ids(session, consortium.id)
    invitation.member_org_ids = members
    invitation.required_signatures = required_signatures(consortium, len(members))
    invitation.status = "SIGNING"


@router.post("/consortia/{consortium_id}/invitations", response_model=InvitationPublic, status_code=201, tags=["invitations"])
def create_invitation(consortium_id: int, body: InvitationCreate, request: Request, session: SessionDep,
                      user: UserDep) -> InvitationPublic:
    consortium: Consortium = get_or_404(session, Consortium, consortium_id, "consortium")
    require_consortium_access(session, user, consortium, ("org_admin",))
    invitee: Organization = get_or_404(session, Organization, body.organization_id, "organisation")
    if invitee.id in consortium_member_ids(session, consortium.id):
        raise Conflict(f"{invitee.name} is already a member")
    pending = session.scalar(select(Invitation).where(
        Invitation.consortium_id == consortium.id, Invitation.organization_id == invitee.id,
        Invitation.status.in_(("DRAFT", "SIGNING")), Invitation.expires_at > utcnow()))
    if pending is not None:
        raise Conflict(f"invitation {pending.id} for {invitee.name} is already open")
    invitation = Invitation(
        consortium_id=consortium.id, organization_id=invitee.id,
        created_by_org_id=user.organization_id or consortium.created_by_org_id, message=body.message,
        expires_at=utcnow() + dt.timedelta(hours=body.expires_in_hours), member_org_ids=[], onchain=[],
    )
    session.add(invitation)
    if body.open:
        _open(session, invitation, consortium)
    session.flush()
    audit.record(session, user, "invitation.created", f"invitation:{invitation.id}",
                 {"consortium": consortium.name, "organization": invitee.name, "status": invitation.status},
                 client=client_of(request))
    session.refresh(invitation)
    return invitation_public(session, invitation)


def _visible(session: Session, user: User, invitation: Invitation) -> None:
    if is_platform_admin(user):
        return
    if user.organization_id == invitation.organization_id:
        return
    if user.organization_id in consortium_member_ids(session, invitation.consortium_id):
        return
    raise Forbidden("this invitation concerns neither your organisation nor its consortia")


@router.get("/invitations", response_model=list[InvitationPublic], tags=["invitations"])
def list_invitations(session: SessionDep, user: UserDep, status: str | None = None) -> list[InvitationPublic]:
    result = []
    for invitation in session.scalars(select(Invitation).order_by(Invitation.id.desc())):
        try:
            _visible(session, user, invitation)
        except Forbidden:
            continue
        public = invitation_public(session, invitation)
        if status is None or public.status == status:
            result.append(public)
    return result


@router.get("/invitations/{invitation_id}", response_model=InvitationPublic, tags=["invitations"])
def get_invitation(invitation_id: int, session: SessionDep, user: UserDep) -> InvitationPublic:
    invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    _visible(session, user, invitation)
    return invitation_public(session, invitation)


@router.post("/invitations/{invitation_id}/open", response_model=InvitationPublic, tags=["invitations"],
             summary="DRAFT → SIGNING: fix the signers and the quorum")
def open_invitation(invitation_id: int, request: Request, session: SessionDep, user: UserDep) -> InvitationPublic:
    invitation: Invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    consortium: Consortium = get_or_404(session, Consortium, invitation.consortium_id, "consortium")
    require_consortium_access(session, user, consortium, ("org_admin",))
    _expire(session, invitation)
    if invitation.status != "DRAFT":
        raise Conflict(f"invitation is {invitation.status}")
    _open(session, invitation, consortium)
    audit.record(session, user, "invitation.opened", f"invitation:{invitation.id}", client=client_of(request))
    return invitation_public(session, invitation)


def _signature(request: Request, session: Session, invitation: Invitation, organization: Organization,
               decision: str, uploaded: str | None) -> tuple[str, str]:
    """Make (in custody) or check (uploaded) ``organization``'s signature on the statement."""
    consortium = session.get(Consortium, invitation.consortium_id)
    invitee = session.get(Organization, invitation.organization_id)
    assert consortium is not None and invitee is not None
    statement = invitation_statement(invitation, consortium, invitee, org_key(session, invitee).public_key, decision)
    key: CustodyKey = org_key(session, organization)
    if uploaded is None:
        return key.public_key, to_base58(request.app.state.baas.custody.sign(key, statement))
    try:
        signature = from_base58(uploaded)
        public = PublicKey.from_base58(key.public_key)
    except (JadechainError, ValueError):
        raise InvalidRequest("signature must be base58") from None
    if not verify(public, statement, signature):
        raise InvalidRequest(f"the signature does not verify with {organization.name}'s key over the {decision} statement")
    return key.public_key, uploaded


def _check_signing(session: Session, invitation: Invitation) -> None:
    _expire(session, invitation)
    if invitation.status != "SIGNING":
        raise Conflict(f"invitation is {invitation.status}, not SIGNING")


@router.post("/invitations/{invitation_id}/signatures", response_model=InvitationPublic, tags=["invitations"],
             summary="A member organisation approves or rejects, signing with its own key")
def sign_invitation(invitation_id: int, body: SignatureBody, request: Request, session: SessionDep,
                    user: UserDep) -> InvitationPublic:
    invitation: Invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    if user.organization_id is None:
        raise Forbidden("votes are cast by member organisations' admins")
    require_org_role(user, user.organization_id, ("org_admin",), platform_admin=False)
    if user.organization_id not in (invitation.member_org_ids or []):
        raise Forbidden("your organisation is not among this invitation's signers")
    _check_signing(session, invitation)
    if any(s.organization_id == user.organization_id and s.decision != "accept" for s in invitation.signatures):
        raise Conflict("your organisation has already voted")
    organization = session.get(Organization, user.organization_id)
    assert organization is not None
    public_key, signature = _signature(request, session, invitation, organization, body.decision, body.signature)
    invitation.signatures.append(InvitationSignature(
        organization_id=organization.id, decision=body.decision, public_key=public_key, signature=signature,
        signed_by_user_id=user.id, uploaded=body.signature is not None))
    session.flush()
    audit.record(session, user, f"invitation.{body.decision}d", f"invitation:{invitation.id}",
                 {"uploaded": body.signature is not None}, client=client_of(request))
    _decide(request, session, user, invitation)
    return invitation_public(session, invitation)


@router.post("/invitations/{invitation_id}/accept", response_model=InvitationPublic, tags=["invitations"],
             summary="The invited organisation accepts, signing with its own key")
def accept_invitation(invitation_id: int, body: AcceptBody, request: Request, session: SessionDep,
                      user: UserDep) -> InvitationPublic:
    invitation: Invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    require_org_role(user, invitation.organization_id, ("org_admin",), platform_admin=False)
    _check_signing(session, invitation)
    if any(s.decision == "accept" for s in invitation.signatures):
        raise Conflict("already accepted")
    invitee = session.get(Organization, invitation.organization_id)
    assert invitee is not None
    public_key, signature = _signature(request, session, invitation, invitee, "accept", body.signature)
    invitation.signatures.append(InvitationSignature(
        organization_id=invitee.id, decision="accept", public_key=public_key, signature=signature,
        signed_by_user_id=user.id, uploaded=body.signature is not None))
    session.flush()
    audit.record(session, user, "invitation.accepted_by_invitee", f"invitation:{invitation.id}", client=client_of(request))
    _decide(request, session, user, invitation)
    return invitation_public(session, invitation)


@router.post("/invitations/{invitation_id}/decline", response_model=InvitationPublic, tags=["invitations"])
def decline_invitation(invitation_id: int, request: Request, session: SessionDep, user: UserDep) -> InvitationPublic:
    invitation: Invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    require_org_role(user, invitation.organization_id, ("org_admin",), platform_admin=False)
    _expire(session, invitation)
    if invitation.status not in ("DRAFT", "SIGNING"):
        raise Conflict(f"invitation is {invitation.status}")
    invitation.status, invitation.decided_at, invitation.reason = "REJECTED", utcnow(), "declined by the invitee"
    audit.record(session, user, "invitation.declined", f"invitation:{invitation.id}", client=client_of(request))
    return invitation_public(session, invitation)


def _decide(request: Request, session: Session, user: User, invitation: Invitation) -> None:
    approvals = [s for s in invitation.signatures if s.decision == "approve"]
    rejections = sum(s.decision == "reject" for s in invitation.signatures)
    eligible = len(invitation.member_org_ids or [])
    if eligible - rejections < invitation.required_signatures:
        invitation.status, invitation.decided_at = "REJECTED", utcnow()
        invitation.reason = f"{rejections} of {eligible} members rejected; {invitation.required_signatures} approvals can no longer be reached"
        audit.record(session, user, "invitation.rejected", f"invitation:{invitation.id}", {"reason": invitation.reason})
        return
    accepted = any(s.decision == "accept" for s in invitation.signatures)
    if len(approvals) < invitation.required_signatures or not accepted:
        session.commit()
        return
    invitation.status, invitation.decided_at = "ACCEPTED", utcnow()
    invitation.reason = f"{len(approvals)} of {eligible} members approved (policy needs {invitation.required_signatures}); invitee accepted"
    session.add(ConsortiumMember(consortium_id=invitation.consortium_id, organization_id=invitation.organization_id,
                                 invitation_id=invitation.id))
    session.flush()
    audit.record(session, user, "consortium.member_admitted", f"invitation:{invitation.id}",
                 {"organization_id": invitation.organization_id, "approvals": [s.organization_id for s in approvals]})
    admit_on_chain(request, session, user, invitation)


def admit_on_chain(request: Request, session: Session, user: User, invitation: Invitation) -> None:
    """Commit the admission on every live network of the consortium, signed by the approvers' keys."""
    custody = request.app.state.baas.custody
    invitee = session.get(Organization, invitation.organization_id)
    assert invitee is not None
    approvers = [session.get(Organization, s.organization_id) for s in invitation.signatures if s.decision == "approve"]
    signers = [custody.keypair(org_key(session, org)) for org in approvers if org is not None]
    public = PublicKey.from_base58(org_key(session, invitee).public_key)
    results = []
    networks = session.scalars(select(Network).where(Network.consortium_id == invitation.consortium_id,
                                                     Network.status.in_(("running", "degraded")))).all()
    for network in networks:
        for ledger in network.ledgers:
            entry: dict[str, Any] = {"network_id": network.id, "network": network.name, "ledger_hash": ledger.ledger_hash}
            try:
                tx = register_org_admins_tx(ledger.ledger_hash, [(invitee.name, public)], signers)
                entry.update(submit(network, ledger.ledger_hash, tx))
            except BaasError as error:
                entry.update({"status": "FAILED", "error": error.message})
            results.append(entry)
    invitation.onchain = results
    audit.record(session, user, "invitation.onchain", f"invitation:{invitation.id}", {"transactions": results})


@router.post("/invitations/{invitation_id}/onchain", response_model=InvitationPublic, tags=["invitations"],
             summary="Retry the on-chain admission of an accepted invitation (e.g. after a network was down)")
def retry_onchain(invitation_id: int, request: Request, session: SessionDep, user: UserDep) -> InvitationPublic:
    invitation: Invitation = get_or_404(session, Invitation, invitation_id, "invitation")
    consortium = get_or_404(session, Consortium, invitation.consortium_id, "consortium")
    require_consortium_access(session, user, consortium, ("org_admin",))
    if invitation.status != "ACCEPTED":
        raise Conflict(f"invitation is {invitation.status}")
    admit_on_chain(request, session, user, invitation)
    return invitation_public(session, invitation)
