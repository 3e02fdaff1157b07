"""Consortium governance: how many signatures admit a member, what they sign, and the on-chain
admission transaction that a collected quorum becomes.

Every vote is a signature, with the voting organisation's own key, over one canonical statement
of the invitation (consortium, invitee, invitee's public key, expiry). Signatures made in custody
and signatures uploaded from outside are checked the same way, with ``ledger.crypto.verify``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baas import audit
from baas.errors import Conflict, Forbidden, InvalidRequest, NotFoundError
from baas.models import AuditEvent, Consortium, Invitation, Network, Organization, utcnow

POLICIES = ("majority", "all", "any", "threshold")
INVITATION_DOMAIN = "jadechain-baas/invitation/v1"


def required_signatures(consortium: Consortium, member_count: int) -> int:
    """Approvals the policy requires among ``member_count`` members (at least one)."""
    if member_count <= 0:
        return 1
    if consortium.policy == "majority":
        return member_count // 2 + 1
    if consortium.policy == "all":
        return member_count
    if consortium.policy == "any":
        return 1
    if consortium.policy == "threshold":
        if not consortium.threshold or consortium.threshold < 1:
            raise InvalidRequest("a threshold policy needs threshold >= 1")
        return min(consortium.threshold, member_count)
    raise InvalidRequest(f"unknown policy {consortium.policy!r}")


def invitation_statement(invitation: Invitation, consortium: Consortium, invitee: Organization,
                         invitee_public_key: str, decision: str) -> bytes:
    """The exact bytes a member (or the invitee) signs: canonical JSON with a domain tag."""
    body = {
        "domain": INVITATION_DOMAIN, "invitation": invitation.id, "consortium": consortium.name,
        "organization": invitee.name, "organization_public_key": invitee_public_key,
        "expires_at": invitation.expires_at.isoformat(timespec="seconds"), "decision": decision,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# --- control-plane proposals: actions that reach other members' nodes --------------------------
#
# An organisation starts, stops, restarts and removes its own nodes alone. An action on a whole
# network whose nodes belong to several members is a proposal that every affected member's admin
# approves; it runs when the last approval arrives. Proposals live in the audit log itself (one
# hash-chained entry per affected organisation for every step), so each affected member sees the
# proposal, every approval and the outcome in its own audit view, and nothing is decided off the
# record.

NETWORK_ACTIONS = ("stop", "start", "remove-node")
PROPOSAL_OPENED = "network.proposal.opened"
PROPOSAL_APPROVED = "network.proposal.approved"
PROPOSAL_EXECUTED = "network.proposal.executed"
PROPOSAL_ACTIONS = (PROPOSAL_OPENED, PROPOSAL_APPROVED, PROPOSAL_EXECUTED)
PROPOSAL_LIFETIME = dt.timedelta(hours=24)


class ProposalAlreadyApproved(Conflict):
    code = "ALREADY_VOTED"


class ProposalClosed(Conflict):
    code = "PROPOSAL_DECIDED"


class ProposalExpired(Conflict):
    code = "PROPOSAL_EXPIRED"


def affected_organizations(network: Network) -> list[int]:
    """The organisations whose nodes a network-wide action reaches (removed nodes excluded)."""
    return sorted({node.organization_id for node in network.nodes if node.desired_state != "removed"})


def record_for_each(session: Session, actor: Any, action: str, target: str, details: dict[str, Any],
                    organization_ids: list[int], client: str = "") -> None:
    """One audit entry per affected organisation: each sees the action in its own log."""
    for organization_id in organization_ids:
        audit.record(session, actor, action, target, details, organization_id=organization_id, client=client)


def network_proposals(session: Session, network: Network) -> list[dict[str, Any]]:
    """Every control-plane proposal of the network, rebuilt from its audit entries (newest first)."""
    found: dict[str, dict[str, Any]] = {}
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.target == f"network:{network.id}", AuditEvent.action.in_(PROPOSAL_ACTIONS),
    ).order_by(AuditEvent.id))
    now = utcnow()
    for event in events:
        details = event.details or {}
        proposal_id = str(details.get("proposal", ""))
        if event.action == PROPOSAL_OPENED and proposal_id not in found:
            found[proposal_id] = {
                "id": proposal_id, "network_id": network.id, "action": details.get("action"),
                "node_id": details.get("node_id"), "node": details.get("node"),
                "affected": list(details.get("affected", [])), "approvals": list(details.get("approvals", [])),
                "proposed_by": event.actor, "opened_at": event.at, "status": "open", "decided_at": None,
            }
        elif proposal_id in found:
            item = found[proposal_id]
            if event.action == PROPOSAL_APPROVED and details.get("organization_id") not in item["approvals"]:
                item["approvals"].append(details.get("organization_id"))
            elif event.action == PROPOSAL_EXECUTED:
                item["status"], item["decided_at"] = "executed", event.at
    for item in found.values():
        if item["status"] == "open" and now - item["opened_at"] > PROPOSAL_LIFETIME:
            item["status"] = "expired"
        item["waiting_for"] = [org for org in item["affected"] if org not in item["approvals"]]
    return sorted(found.values(), key=lambda p: p["opened_at"], reverse=True)


def open_network_proposal(session: Session, user: Any, network: Network, action: str, client: str,
                          node: Any = None) -> dict[str, Any]:
    """Open a proposal; for ``remove-node`` the affected members are the node's owner and the proposer."""
    if action not in NETWORK_ACTIONS:
        raise InvalidRequest(f"unknown network action {action!r}")
    node_id = node.id if node is not None else None
    for existing in network_proposals(session, network):
        if existing["status"] == "open" and existing["action"] == action and existing["node_id"] == node_id:
            raise Conflict(f"a proposal to {action} is already open", proposal=existing["id"])
    if node is not None:
        affected = sorted({node.organization_id, user.organization_id})
    else:
        affected = affected_organizations(network)
    proposal_id = secrets.token_hex(8)
    details: dict[str, Any] = {
        "proposal": proposal_id, "action": action, "network": network.name, "affected": affected,
        "approvals": [user.organization_id],
    }
    if node is not None:
        details.update(node_id=node.id, node=node.name)
    record_for_each(session, user, PROPOSAL_OPENED, f"network:{network.id}", details, affected, client)
    return next(p for p in network_proposals(session, network) if p["id"] == proposal_id)


def approve_network_proposal(session: Session, user: Any, network: Network, proposal_id: str,
                             client: str) -> dict[str, Any]:
    """Record the user's organisation's approval; returns the proposal (``ready`` when all approved)."""
    proposal = next((p for p in network_proposals(session, network) if p["id"] == proposal_id), None)
    if proposal is None:
        raise NotFoundError(f"no proposal {proposal_id} for network {network.id}")
    if proposal["status"] == "executed":
        raise ProposalClosed("the proposal was already decided")
    if proposal["status"] == "expired":
        raise ProposalExpired("the proposal expired before every affected member approved")
    if user.organization_id not in proposal["affected"] or user.role != "org_admin":
        raise Forbidden("only an admin of an organisation whose nodes the action reaches approves it")
    if user.organization_id in proposal["approvals"]:
        raise ProposalAlreadyApproved("your organisation already approved this proposal")
    record_for_each(session, user, PROPOSAL_APPROVED, f"network:{network.id}", {
        "proposal": proposal_id, "action": proposal["action"], "organization_id": user.organization_id,
    }, proposal["affected"], client)
    proposal = next(p for p in network_proposals(session, network) if p["id"] == proposal_id)
    proposal["ready"] = not proposal["waiting_for"]
    return proposal


def mark_network_proposal_executed(session: Session, user: Any, network: Network, proposal: dict[str, Any],
                                   client: str) -> None:
    record_for_each(session, user, PROPOSAL_EXECUTED, f"network:{network.id}", {
        "proposal": proposal["id"], "action": proposal["action"], "approvals": proposal["approvals"],
    }, proposal["affected"], client)


def proposals_for(session: Session, user: Any) -> list[dict[str, Any]]:
    """Control-plane proposals of every network the user's organisation is a member of (all, for platform admins).

    Each carries ``network`` (its name), ``mine`` (the user's organisation already approved) and
    ``waiting_for_me`` (open, and waiting for the user's organisation).
    """
    from baas.models import ConsortiumMember

    query = select(Network)
    if getattr(user, "role", "") != "platform_admin":
        member_of = select(ConsortiumMember.consortium_id).where(ConsortiumMember.organization_id == user.organization_id)
        query = query.where(Network.consortium_id.in_(member_of))
    found: list[dict[str, Any]] = []
    for network in session.scalars(query.order_by(Network.id)):
        for proposal in network_proposals(session, network):
            proposal["network"] = network.name
            proposal["mine"] = user.organization_id in proposal["approvals"]
            proposal["waiting_for_me"] = proposal["status"] == "open" and user.organization_id in proposal["waiting_for"]
            found.append(proposal)
    return sorted(found, key=lambda p: p["opened_at"], reverse=True)


# --- ledger proposals (on chain), as the control plane shows and votes them ---------------------

def ledger_proposals(ledger: Any, organization_name: str | None, status: str | None = None) -> list[dict[str, Any]]:
    """The ledger's proposals from its nodes, each with ``waiting_for_me``: open, and the
    organisation (a member on chain) has not voted yet."""
    from baas.routers.explorer import gateway_get

    params: dict[str, Any] = {"limit": 1000}
    if status:
        params["status"] = status
    items = list(gateway_get(ledger, "/proposals", params)["items"])
    members: dict[str, Any] = {}
    if organization_name and any(p.get("status") == "OPEN" for p in items):
        settings = gateway_get(ledger, "").get("settings", {})
        members = dict((settings.get("governance") or {}).get("organizations") or {})
    for proposal in items:
        votes = proposal.get("votes") or {}
        proposal["ledger_id"] = ledger.id
        proposal["ledger"] = ledger.name
        proposal["my_vote"] = None if organization_name not in votes else ("for" if votes[organization_name].get("approve") else "against")
        proposal["waiting_for_me"] = (proposal.get("status") == "OPEN" and organization_name in members
                                      and organization_name not in votes)
    return items


def ledger_proposals_for(session: Session, user: Any) -> list[dict[str, Any]]:
    """Open proposals of every ledger of the user's consortia (a ledger whose nodes do not answer
    gives one row with ``error``)."""
    from baas.errors import BaasError
    from baas.models import ConsortiumMember, Organization

    query = select(Network)
    if getattr(user, "role", "") != "platform_admin":
        member_of = select(ConsortiumMember.consortium_id).where(ConsortiumMember.organization_id == user.organization_id)
        query = query.where(Network.consortium_id.in_(member_of))
    org = session.get(Organization, user.organization_id) if user.organization_id is not None else None
    found: list[dict[str, Any]] = []
    for network in session.scalars(query.order_by(Network.id)):
        if network.status not in ("running", "degraded"):
            continue
        for ledger in network.ledgers:
            try:
                found.extend(ledger_proposals(ledger, org.name if org is not None else None, "open"))
            except BaasError as error:
                found.append({"ledger": ledger.name, "ledger_id": ledger.id, "error": error.message})
    return found
