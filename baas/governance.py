"""Consortium governance: how many signatures admit a member, what they sign, and the on-chain
admission transaction that a collected quorum becomes.

Every vote is a signature, with the voting organisation's own key, over one canonical statement
of the invitation (consortium, invitee, invitee's public key, expiry). Signatures made in custody
and signatures uploaded from outside are checked the same way, with ``ledger.crypto.verify``.
"""

from __future__ import annotations

import json

from baas.errors import InvalidRequest
from baas.models import Consortium, Invitation, Organization

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
