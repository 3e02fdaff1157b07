"""Ledgers, their settings and participants, accounts, entries, contracts, events and roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from ledger.crypto import to_base58
from ledger.errors import NotFound
from ledger.governance import GOVERNANCE_ACCOUNT, parse_proposal_id, proposal_view
from ledger.proofs import build_entry_bundle, build_event_bundle
from ledger.types import AccountKind
from node.gateway.deps import AddressPath, RuntimeDep
from node.gateway.schemas import (
    AccountPublic,
    ContractPublic,
    EntryKeyPublic,
    EntryPublic,
    EventPublic,
    LedgerPublic,
    LedgerSummaryPublic,
    Page,
    ParticipantPublic,
    RolePublic,
    TopicPublic,
    UserRolesPublic,
    account_public,
    contract_public,
    entry_public,
    event_public,
    participant_public,
    role_public,
    settings_public,
)

router = APIRouter(prefix="/api/v1/ledgers", tags=["ledgers"])

Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items to return (at most 1000).")]
ProofFlag = Annotated[bool, Query(description="Return a proof bundle instead of the record.")]
Key = Annotated[str, Query(min_length=1, max_length=1024)]

PROOF_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "PROOF_PENDING: committed but not yet certified by a later block."},
}


@router.get("", response_model=list[LedgerSummaryPublic], summary="Ledgers hosted by this node")
def list_ledgers(request: Request) -> list[LedgerSummaryPublic]:
    return [
        LedgerSummaryPublic(hash=name, height=runtime.ledger.height)
        for name, runtime in sorted(request.app.state.runtimes.items())
    ]


@router.get("/{ledger}", response_model=LedgerPublic, summary="Ledger info, settings and crypto settings")
def ledger_info(runtime: RuntimeDep) -> LedgerPublic:
    ledger = runtime.ledger
    header = ledger.last_header
    roots = ledger.roots
    return LedgerPublic(
        hash=to_base58(ledger.ledger_hash), height=header.height,
        latest_block_hash=to_base58(ledger.hash_header(header)), transactions=roots.accumulator_size,
        state_root=to_base58(roots.state_root), accumulator_root=to_base58(roots.accumulator_root),
        settings=settings_public(ledger.settings),
        validators=[to_base58(key) for key in ledger.validator_set().public_keys],
    )


@router.get("/{ledger}/validators", summary="The validator set (what proof bundles are checked against)")
def validators(runtime: RuntimeDep) -> dict[str, Any]:
    validator_set = runtime.ledger.validator_set()
    return {"epoch": validator_set.epoch, "public_keys": [to_base58(k) for k in validator_set.public_keys]}


@router.get("/{ledger}/participants", response_model=list[ParticipantPublic])
def participants(runtime: RuntimeDep) -> list[ParticipantPublic]:
    return [participant_public(p) for p in runtime.ledger.list_participants()]


def _accounts(runtime: RuntimeDep, kind: AccountKind, offset: int, limit: int) -> Page[AccountPublic]:
    ledger = runtime.ledger
    return Page[AccountPublic](
        total=ledger.count_accounts(kind), offset=offset, limit=limit,
        items=[account_public(a) for a in ledger.list_accounts(kind, offset, limit)],
    )


@router.get("/{ledger}/users", response_model=Page[AccountPublic], summary="Users (paged, with total count)")
def users(runtime: RuntimeDep, offset: Offset = 0, limit: Limit = 100) -> Page[AccountPublic]:
    return _accounts(runtime, AccountKind.USER, offset, limit)


@router.get("/{ledger}/data-accounts", response_model=Page[AccountPublic])
def data_accounts(runtime: RuntimeDep, offset: Offset = 0, limit: Limit = 100) -> Page[AccountPublic]:
    return _accounts(runtime, AccountKind.DATA, offset, limit)


@router.get("/{ledger}/event-accounts", response_model=Page[AccountPublic])
def event_accounts(runtime: RuntimeDep, offset: Offset = 0, limit: Limit = 100) -> Page[AccountPublic]:
    return _accounts(runtime, AccountKind.EVENT, offset, limit)


@router.get("/{ledger}/contracts", response_model=Page[AccountPublic])
def contracts(runtime: RuntimeDep, offset: Offset = 0, limit: Limit = 100) -> Page[AccountPublic]:
    return _accounts(runtime, AccountKind.CONTRACT, offset, limit)


@router.get("/{ledger}/contracts/{address}", response_model=ContractPublic, summary="A contract and its source")
def contract(runtime: RuntimeDep, address: AddressPath, source: bool = True) -> ContractPublic:
    return contract_public(runtime.ledger.get_contract(address), source)


@router.get("/{ledger}/accounts/{address}", response_model=AccountPublic)
def account(runtime: RuntimeDep, address: AddressPath) -> AccountPublic:
    return account_public(runtime.ledger.get_account(address))


@router.get("/{ledger}/accounts/{address}/entries", response_model=Page[EntryKeyPublic],
            summary="An account's entry keys with their latest versions (paged)")
def entries(runtime: RuntimeDep, address: AddressPath, offset: Offset = 0, limit: Limit = 100) -> Page[EntryKeyPublic]:
    ledger = runtime.ledger
    ledger.get_account(address)
    keys = ledger.list_entry_keys(address, offset, limit)
    total = len(ledger.list_entry_keys(address, 0, 10**9))
    return Page[EntryKeyPublic](
        total=total, offset=offset, limit=limit,
        items=[EntryKeyPublic(key=key, latest_version=version) for key, version in keys],
    )


@router.get("/{ledger}/accounts/{address}/entry", response_model=EntryPublic, responses=PROOF_RESPONSES,
            summary="An entry at its latest version or at ?version=; ?proof=true for a proof bundle")
def entry(
    runtime: RuntimeDep, address: AddressPath, key: Key,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None, proof: ProofFlag = False,
) -> Any:
    ledger = runtime.ledger
    if proof:
        return JSONResponse(build_entry_bundle(ledger, address, key, version))
    return entry_public(ledger.get_entry(address, key, version))


@router.get("/{ledger}/accounts/{address}/entry/versions", response_model=Page[EntryPublic],
            summary="Every version of an entry, oldest first (paged)")
def entry_versions(runtime: RuntimeDep, address: AddressPath, key: Key, offset: Offset = 0, limit: Limit = 100) -> Page[EntryPublic]:
    ledger = runtime.ledger
    latest = ledger.get_latest_version(address, key)
    if latest < 0:
        raise NotFound(f"no entry {key!r} in {address}")
    items: list[EntryPublic] = []
    for position, record in enumerate(ledger.iterate_entry_versions(address, key)):
        if position < offset:
            continue
        if len(items) >= limit:
            break
        items.append(entry_public(record))
    return Page[EntryPublic](total=latest + 1, offset=offset, limit=limit, items=items)


@router.get("/{ledger}/accounts/{address}/topics", response_model=list[TopicPublic])
def topics(runtime: RuntimeDep, address: AddressPath) -> list[TopicPublic]:
    return [TopicPublic(topic=t, latest_sequence=s) for t, s in runtime.ledger.list_topics(address)]


@router.get("/{ledger}/accounts/{address}/events", response_model=list[EventPublic],
            summary="Events of a topic from sequence ?from=")
def events(
    runtime: RuntimeDep, address: AddressPath, topic: Annotated[str, Query(min_length=1, max_length=256)],
    from_: Annotated[int, Query(alias="from", ge=0, le=2**62)] = 0, limit: Limit = 100,
) -> list[EventPublic]:
    return [event_public(e) for e in runtime.ledger.get_events(address, topic, from_, limit)]


@router.get("/{ledger}/accounts/{address}/events/{sequence}", response_model=EventPublic, responses=PROOF_RESPONSES,
            summary="One event; ?proof=true for a proof bundle")
def event(
    runtime: RuntimeDep, address: AddressPath, sequence: Annotated[int, Path(ge=0, le=2**62)],
    topic: Annotated[str, Query(min_length=1, max_length=256)], proof: ProofFlag = False,
) -> Any:
    ledger = runtime.ledger
    if proof:
        return JSONResponse(build_event_bundle(ledger, address, topic, sequence))
    found = ledger.get_events(address, topic, sequence, 1)
    if not found or found[0].sequence != sequence:
        raise NotFound(f"no event {sequence} on topic {topic!r} of {address}")
    return event_public(found[0])


@router.get("/{ledger}/roles", response_model=list[RolePublic])
def roles(runtime: RuntimeDep) -> list[RolePublic]:
    return [role_public(r) for r in runtime.ledger.list_roles()]


@router.get("/{ledger}/roles/{role}", response_model=RolePublic)
def role(runtime: RuntimeDep, role: str) -> RolePublic:
    return role_public(runtime.ledger.get_role(role))


@router.get("/{ledger}/users/{address}/roles", response_model=UserRolesPublic, summary="A user's roles and policy")
def user_roles(runtime: RuntimeDep, address: AddressPath) -> UserRolesPublic:
    ledger = runtime.ledger
    ledger.get_account(address)
    record = ledger.get_user_roles(address)
    if record is None:
        return UserRolesPublic(user=address, roles=[], policy="UNION")
    return UserRolesPublic(user=record.user, roles=list(record.roles), policy=record.policy.name)


# --- governance proposals (entries of the governance account; proofs as for any entry) ----------

def _proposal_records(ledger: Any) -> list[dict[str, Any]]:
    keys = ledger.list_entry_keys(GOVERNANCE_ACCOUNT, 0, 10**9)
    now = ledger.last_header.time
    records = [proposal_view(ledger.get_entry(GOVERNANCE_ACCOUNT, key).value.to_python(), now) for key, _ in keys]
    return sorted(records, key=lambda p: (-int(p.get("created_height", 0)), str(p.get("id"))))


@router.get("/{ledger}/proposals", summary="Governance proposals, newest first (?status=OPEN|EXECUTED|REJECTED|FAILED|EXPIRED)")
def proposals(
    runtime: RuntimeDep, offset: Offset = 0, limit: Limit = 100,
    status: Annotated[str | None, Query(pattern="^(?i:open|executed|rejected|failed|expired)$")] = None,
) -> dict[str, Any]:
    found = [p for p in _proposal_records(runtime.ledger) if status is None or p.get("status") == status.upper()]
    return {"total": len(found), "offset": offset, "limit": limit, "items": found[offset:offset + limit]}


@router.get("/{ledger}/proposals/{proposal}", responses=PROOF_RESPONSES,
            summary="One proposal with its votes and outcome; ?proof=true for a proof bundle of it")
def proposal(
    runtime: RuntimeDep, proposal: Annotated[str, Path(min_length=4, max_length=200)], proof: ProofFlag = False,
) -> Any:
    ledger = runtime.ledger
    key = parse_proposal_id(proposal)
    if ledger.get_latest_version(GOVERNANCE_ACCOUNT, key) < 0:
        raise NotFound(f"no proposal {key}")
    if proof:
        return JSONResponse(build_entry_bundle(ledger, GOVERNANCE_ACCOUNT, key))
    return proposal_view(ledger.get_entry(GOVERNANCE_ACCOUNT, key).value.to_python(), ledger.last_header.time)
