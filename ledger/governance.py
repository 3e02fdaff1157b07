"""Consortium governance: who may act alone, and how the member organisations decide the rest.

The ledger's participants are organisations that do not trust each other. The rules:

* Every user, data account, event account and contract records the organisation that
  registered it (``AccountRecord.organization``). That organisation administers it alone
  (freeze, unfreeze, revoke, upgrade, grant roles to its users), subject to the usual
  role permissions.
* Anything ledger-wide (roles, participants and validators, ledger settings, accepted
  algorithms) and anything done to another organisation's object needs the member
  organisations' approval under the ledger's policy: either in one transaction signed by
  enough organisations (JD Chain's multi-signature transaction), or by a *proposal* that
  organisations vote on in separate transactions. Both are judged by :func:`decide`; the
  executor runs a proposal's operations in the block where its policy is met.

The member organisations, their weights and the per-operation policy table live in the
ledger settings (``LedgerSettings.governance``, canonical JSON), fixed at genesis and
changed only by a governed ``UpdateLedgerSettings("governance", ...)``::

    {"organizations": {"A": 1, "B": 1, "C": 1},
     "default": "majority",
     "operations": {"ConfigureRole": "two_thirds", "UpdateLedgerSettings.governance": "unanimous"},
     "weighted_threshold": 67,
     "proposal_ttl_ms": 604800000}

Policies: ``majority`` (more than half of the organisations), ``two_thirds`` (at least two
thirds), ``unanimous`` (all), ``weighted`` (approving weight ≥ ``weighted_threshold`` percent
of the total weight, as FISCO BCOS's committee counts). A proposal of several operations
needs every operation's policy.

Proposals are stored as entries of the governance account (:data:`GOVERNANCE_ACCOUNT`),
keyed by the proposal id (hex of the proposing transaction's hash), one entry version per
change: every vote and the outcome are in the state tree, so an entry proof proves them
offline like any other entry.

Everything here is a pure function of its arguments: no clock, no randomness, no set or
dict iteration whose order reaches the output unsorted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Literal, Mapping, Sequence

from ledger.crypto import ED25519, PublicKey, address_from_public_key
from ledger.errors import CryptoError, InvalidOperation, JadechainError
from ledger.types import (
    OPERATION_TAGS,
    AuthorizeUserRoles,
    LedgerSettings,
    Operation,
    ParticipantRecord,
    ParticipantState,
    RegisterParticipant,
    RegisterUser,
    UpdateLedgerSettings,
    UpdateParticipantState,
    UserRolesRecord,
)
from ledger.values import TypedValue, ValueType

POLICIES = ("majority", "two_thirds", "unanimous", "weighted")
"""The policies a rule may name."""

DEFAULT_POLICY = "majority"
DEFAULT_WEIGHTED_THRESHOLD = 67
"""Percent of the total weight a ``weighted`` policy needs unless the settings say otherwise."""
DEFAULT_PROPOSAL_TTL_MS = 7 * 24 * 3600 * 1000
"""How long a proposal stays open when it names no expiry (block time)."""
MAX_REASON_BYTES = 1024
MAX_ORGANIZATION_BYTES = 128



def _nothing_up_my_sleeve_key() -> PublicKey:
    """The first hash of ``jadechain/governance-account/1/<n>`` that is an Ed25519 point.

    Its bytes are a hash, so nobody knows a private key for it.
    """
    counter = 0
    while True:
        raw = hashlib.sha256(f"jadechain/governance-account/1/{counter}".encode()).digest()
        try:
            return PublicKey(ED25519, raw)
        except CryptoError:
            counter += 1


GOVERNANCE_ACCOUNT_KEY = _nothing_up_my_sleeve_key()
"""The governance account's identity: a public key nobody holds the private key of."""
GOVERNANCE_ACCOUNT = str(address_from_public_key(GOVERNANCE_ACCOUNT_KEY))
"""The data account whose entries are the proposals; only the executor writes it."""

Outcome = Literal["met", "open", "rejected"]

STATUS_OPEN = "OPEN"
STATUS_EXECUTED = "EXECUTED"
STATUS_REJECTED = "REJECTED"
STATUS_FAILED = "FAILED"
"""Approved, but an operation failed when it ran (the proposal's ``result`` holds its code)."""
STATUS_EXPIRED = "EXPIRED"
"""Never stored: a query shows an OPEN proposal past its expiry as EXPIRED."""

OPERATION_KINDS = tuple(sorted(tp.__name__ for tp in OPERATION_TAGS.values()))
SETTING_RULES = tuple(
    f"UpdateLedgerSettings.{name}"
    for name in ("consensus", "default_gas_limit", "governance", "max_ops_per_tx", "max_tx_bytes",
                 "signature_algorithms")
)


@dataclass(frozen=True, slots=True)
class Governance:
    """The member organisations and the policy table, as read from the ledger settings."""

    organizations: tuple[tuple[str, int], ...]
    """(name, weight), sorted by name."""
    default: str
    operations: tuple[tuple[str, str], ...]
    """(operation kind or ``UpdateLedgerSettings.<name>``, policy), sorted."""
    weighted_threshold: int
    proposal_ttl_ms: int

    @property
    def active(self) -> bool:
        """False on ledgers built without member organisations (role permissions alone decide)."""
        return bool(self.organizations)

    def is_member(self, organization: str) -> bool:
        return any(name == organization for name, _ in self.organizations)

    def policy_for(self, operation: Operation) -> str:
        """The policy an operation needs (a setting's own rule first, then its kind's, then the default)."""
        table = dict(self.operations)
        kind = type(operation).__name__
        if isinstance(operation, UpdateLedgerSettings):
            specific = table.get(f"{kind}.{operation.name}")
            if specific is not None:
                return specific
        return table.get(kind, self.default)

    def to_json(self) -> dict[str, Any]:
        return {
            "organizations": dict(self.organizations),
            "default": self.default,
            "operations": dict(self.operations),
            "weighted_threshold": self.weighted_threshold,
            "proposal_ttl_ms": self.proposal_ttl_ms,
        }

    def with_organization(self, organization: str, weight: int = 1) -> "Governance":
        """The same governance with one more member organisation (no change if it is one)."""
        if self.is_member(organization):
            return self
        members = tuple(sorted((*self.organizations, (organization, weight))))
        return Governance(members, self.default, self.operations, self.weighted_threshold, self.proposal_ttl_ms)


def governance_from_json(data: object) -> Governance:
    """Check and read a governance table; every problem is an InvalidOperation naming the field."""
    if not isinstance(data, dict):
        raise InvalidOperation("governance must be a JSON object")
    unknown = sorted(set(data) - {"organizations", "default", "operations", "weighted_threshold", "proposal_ttl_ms"})
    if unknown:
        raise InvalidOperation(f"governance: unknown field(s) {', '.join(unknown)}")
    raw_members = data.get("organizations", {})
    if not isinstance(raw_members, dict):
        raise InvalidOperation("governance.organizations must map organisation names to weights")
    members: list[tuple[str, int]] = []
    for name, weight in raw_members.items():
        check_organization_name(name)
        if type(weight) is not int or not 1 <= weight <= 1_000_000:
            raise InvalidOperation(f"governance.organizations.{name}: weight must be an integer 1..1000000")
        members.append((name, weight))
    default = data.get("default", DEFAULT_POLICY)
    _check_policy("governance.default", default)
    raw_rules = data.get("operations", {})
    if not isinstance(raw_rules, dict):
        raise InvalidOperation("governance.operations must map operation kinds to policies")
    rules: list[tuple[str, str]] = []
    for kind, policy in raw_rules.items():
        if kind not in OPERATION_KINDS and kind not in SETTING_RULES:
            raise InvalidOperation(
                f"governance.operations: unknown operation {kind!r}; known: {', '.join(OPERATION_KINDS + SETTING_RULES)}"
            )
        _check_policy(f"governance.operations.{kind}", policy)
        rules.append((kind, policy))
    threshold = data.get("weighted_threshold", DEFAULT_WEIGHTED_THRESHOLD)
    if type(threshold) is not int or not 1 <= threshold <= 100:
        raise InvalidOperation("governance.weighted_threshold must be a percentage 1..100")
    ttl = data.get("proposal_ttl_ms", DEFAULT_PROPOSAL_TTL_MS)
    if type(ttl) is not int or ttl <= 0:
        raise InvalidOperation("governance.proposal_ttl_ms must be a positive integer")
    return Governance(tuple(sorted(members)), str(default), tuple(sorted(rules)), threshold, ttl)


def check_organization_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > MAX_ORGANIZATION_BYTES:
        raise InvalidOperation(f"organisation name must be 1..{MAX_ORGANIZATION_BYTES} bytes of text")
    return name


def _check_policy(label: str, policy: object) -> None:
    if policy not in POLICIES:
        raise InvalidOperation(f"{label}: policy must be one of {', '.join(POLICIES)}")


def governance_of(settings: LedgerSettings) -> Governance:
    """The governance table of the settings (memoised by its bytes)."""
    return _governance_of_bytes(settings.governance.data)


@lru_cache(maxsize=64)
def _governance_of_bytes(data: bytes) -> Governance:
    return governance_from_json(json.loads(data))


def governance_value(governance: Governance) -> TypedValue:
    return TypedValue.json_(governance.to_json())


def is_governance_value(value: TypedValue) -> bool:
    return value.type == ValueType.JSON


# --- counting votes ------------------------------------------------------------------

def tally(governance: Governance, policy: str, approvals: Iterable[str], rejections: Iterable[str]) -> Outcome:
    """Whether the approving organisations meet ``policy``, may still, or never can.

    Only member organisations count; an organisation in both sets counts as approving.
    """
    weights = dict(governance.organizations)
    approving = {org for org in approvals if org in weights}
    rejecting = {org for org in rejections if org in weights} - approving
    total = len(weights)
    if policy == "weighted":
        total_weight = sum(weights.values())
        yes = sum(weights[org] for org in approving)
        possible = total_weight - sum(weights[org] for org in rejecting)
        threshold = governance.weighted_threshold
        if yes * 100 >= threshold * total_weight:
            return "met"
        return "rejected" if possible * 100 < threshold * total_weight else "open"
    possible = total - len(rejecting)

    def enough(count: int) -> bool:
        if policy == "unanimous":
            return count == total
        if policy == "two_thirds":
            return count * 3 >= total * 2
        return count * 2 > total  # majority

    if enough(len(approving)):
        return "met"
    return "open" if enough(possible) else "rejected"


def decide(
    governance: Governance, operations: Sequence[Operation], approvals: Iterable[str], rejections: Iterable[str] = (),
) -> Outcome:
    """The outcome for several operations: met when every one's policy is met, rejected when any can no longer be."""
    approving = tuple(approvals)
    rejecting = tuple(rejections)
    outcomes = [tally(governance, governance.policy_for(op), approving, rejecting) for op in operations]
    if "rejected" in outcomes:
        return "rejected"
    return "met" if all(outcome == "met" for outcome in outcomes) else "open"


def needed_description(governance: Governance, operations: Sequence[Operation]) -> str:
    """Human words for what the operations need, for error messages."""
    policies = sorted({governance.policy_for(op) for op in operations})
    members = len(governance.organizations)
    return f"{' and '.join(policies)} of {members} member organisation(s)"


# --- proposal records (entries of the governance account) --------------------------------

def proposal_key(proposal_id: bytes) -> str:
    return proposal_id.hex()


def parse_proposal_id(text: str) -> str:
    """The governance entry key of a proposal named by hex or by the proposing transaction's base58 hash."""
    from ledger.crypto import from_base58

    candidate = text.strip()
    try:
        raw = bytes.fromhex(candidate)
    except ValueError:
        try:
            raw = from_base58(candidate)
        except (ValueError, JadechainError):
            raise InvalidOperation(f"{text!r} is not a proposal id (hex, or a base58 transaction hash)") from None
    if not 2 < len(raw) <= 66:
        raise InvalidOperation(f"{text!r} is not a proposal id (a transaction hash)")
    return raw.hex()


def proposal_view(record: Mapping[str, Any], block_time: int) -> dict[str, Any]:
    """A proposal as a client sees it at ``block_time``: OPEN past its expiry reads EXPIRED."""
    view = dict(record)
    if view.get("status") == STATUS_OPEN and isinstance(view.get("expiry"), int) and block_time > view["expiry"]:
        view["status"] = STATUS_EXPIRED
    return view


__all__ = [
    "DEFAULT_POLICY", "DEFAULT_PROPOSAL_TTL_MS", "GOVERNANCE_ACCOUNT", "GOVERNANCE_ACCOUNT_KEY", "Governance",
    "OPERATION_KINDS", "POLICIES", "STATUS_EXECUTED", "STATUS_EXPIRED", "STATUS_FAILED", "STATUS_OPEN",
    "STATUS_REJECTED", "check_organization_name", "decide", "governance_from_json", "governance_of",
    "governance_value", "parse_proposal_id", "proposal_key", "proposal_view", "tally",
]


def key_rotation_operations(
    participant: ParticipantRecord, new_public_key: bytes, user_name: str,
    old_user_roles: UserRolesRecord | None = None,
) -> tuple[Operation, ...]:
    """The governed change that moves a validator from its consensus key to ``new_public_key``.

    In order: the new key becomes a user of the node's organisation, with the roles the old key's
    user holds (``old_user_roles``; where the node's key also speaks for its organisation, the new
    one then does too), and a participant with the node's name, address and organisation; it is
    activated and the old key deactivated. Both validator-set changes fall in the same block, so one new epoch
    starts at the next height with the new key in place of the old one: from that height a vote or
    certificate signature by the old key is refused like any outsider's, and light clients follow
    the change through the epoch-change certificate. Run it as a proposal (or one transaction signed
    by enough organisations): participant changes are ledger-wide.
    """
    new_address = address_from_public_key(PublicKey.from_encoded(new_public_key))
    roles: tuple[Operation, ...] = ()
    if old_user_roles is not None and old_user_roles.roles:
        roles = (AuthorizeUserRoles((new_address,), old_user_roles.roles, (), old_user_roles.policy),)
    return (
        RegisterUser(new_public_key, user_name, participant.organization),
        *roles,
        RegisterParticipant(participant.name, new_public_key, participant.network_address, participant.organization),
        UpdateParticipantState(new_address, ParticipantState.CONSENSUS),
        UpdateParticipantState(participant.address, ParticipantState.DEACTIVATED),
    )
