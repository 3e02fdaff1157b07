"""Networks (nodes per organisation, crypto suite, consensus settings), their ledgers and nodes,
and live monitoring (per-node height, last commit age, tx/s, mempool, peers, health)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from baas import audit, governance
from baas.custody import algorithm_for_suite
from baas.deps import (
    SessionDep, UserDep, client_of, consortium_member_ids, get_or_404, is_platform_admin, require_consortium_access,
    require_org_role,
)
from baas.errors import BaasError, Conflict, Forbidden, InvalidRequest
from baas.external import require_managed
from baas.models import Consortium, ConsortiumMember, CustodyKey, LedgerRecord, Network, Node, Organization, User
from baas.monitoring import network_health, view_dict
from baas.orchestration import (
    node_url, make_genesis, member_organizations, new_password, node_spec, org_key, register_org_admins_tx,
    register_participant_tx, submit, wait_healthy,
)
from baas.provisioners.local import LocalProvisioner, allocate_ports, node_server_available
from ledger.crypto import PublicKey
from ledger.errors import JadechainError
from ledger.transactions import TransactionBuilder
from ledger.types import ParticipantState, UpdateParticipantState

router = APIRouter(prefix="/api/v1", tags=["networks"])

READ = ("org_admin", "operator", "viewer")
OPERATE = ("org_admin", "operator")


class NodeAllocation(BaseModel):
    organization_id: int
    count: int = Field(1, ge=1, le=16)


class ConsensusSettings(BaseModel):
    round_timeout_ms: int = Field(1000, ge=50, le=600_000)
    max_round_timeout_ms: int = Field(8000, ge=50, le=3_600_000)
    max_block_txs: int = Field(2000, ge=1, le=100_000)
    idle_block_ms: int = Field(20, ge=0, le=60_000)


class NetworkCreate(BaseModel):
    name: str = Field(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")
    consortium_id: int
    crypto: Literal["classic", "sm"] = "classic"
    nodes: list[NodeAllocation] = Field(min_length=1)
    consensus: ConsensusSettings = Field(default_factory=lambda: ConsensusSettings())  # type: ignore[call-arg]
    ledger_name: str = Field("main", min_length=1, max_length=120)


class NodePublic(BaseModel):
    id: int
    name: str
    network_id: int
    organization_id: int
    organization: str
    public_key: str
    address: str
    grpc_port: int
    gateway_port: int
    gateway_url: str
    desired_state: str
    status: str
    pid: int | None
    restarts: int
    validator: bool
    registration_tx: str | None
    monitor: dict[str, Any] | None = None


class LedgerPublic(BaseModel):
    id: int
    network_id: int
    name: str
    ledger_hash: str
    hash_algorithm: str
    created_at: dt.datetime


class NetworkPublic(BaseModel):
    id: int
    name: str
    consortium_id: int
    crypto: str
    consensus: dict[str, Any]
    provisioner: str
    status: str
    status_reason: str
    nodes: list[NodePublic]
    ledgers: list[LedgerPublic]
    created_at: dt.datetime


class NodeCreate(BaseModel):
    organization_id: int


def node_public(session: Session, node: Node, request: Request | None = None, history: bool = False) -> NodePublic:
    key = session.get(CustodyKey, node.key_id)
    assert key is not None
    url = node_url(node)
    monitor = None
    if request is not None:
        monitor = view_dict(request.app.state.baas.monitor.view(node.id, node.name, url, with_history=history))
    return NodePublic(id=node.id, name=node.name, network_id=node.network_id, organization_id=node.organization_id,
                      organization=node.organization.name, public_key=key.public_key, address=key.address,
                      grpc_port=node.grpc_port, gateway_port=node.gateway_port, gateway_url=url,
                      desired_state=node.desired_state, status=node.status, pid=node.pid, restarts=node.restarts,
                      validator=node.validator, registration_tx=node.registration_tx, monitor=monitor)


def ledger_public(ledger: LedgerRecord) -> LedgerPublic:
    return LedgerPublic(id=ledger.id, network_id=ledger.network_id, name=ledger.name, ledger_hash=ledger.ledger_hash,
                        hash_algorithm=ledger.hash_algorithm, created_at=ledger.created_at)


def network_public(session: Session, network: Network, request: Request | None = None) -> NetworkPublic:
    return NetworkPublic(id=network.id, name=network.name, consortium_id=network.consortium_id, crypto=network.crypto,
                         consensus=network.consensus, provisioner=network.provisioner, status=network.status,
                         status_reason=network.status_reason,
                         nodes=[node_public(session, n, request) for n in network.nodes if n.desired_state != "removed"],
                         ledgers=[ledger_public(ledger) for ledger in network.ledgers], created_at=network.created_at)


def visible_network(session: Session, user: User, network_id: int, roles: tuple[str, ...] = READ) -> Network:
    network: Network = get_or_404(session, Network, network_id, "network")
    consortium: Consortium = get_or_404(session, Consortium, network.consortium_id, "consortium")
    require_consortium_access(session, user, consortium, roles)
    return network


def validator_signers(session: Session, custody: Any, network: Network, exclude: Node | None) -> list[Any]:
    """The current validators' keys (in custody): membership changes need a majority of them.

    Their owners delegated this signature to the control plane when the network was created; the
    request itself comes from a member organisation admitted under the consortium's policy.
    """
    pairs = []
    for other in network.nodes:
        if other is exclude or not other.validator or other.desired_state == "removed":
            continue
        key = session.get(CustodyKey, other.key_id)
        assert key is not None
        pairs.append(custody.keypair(key))
    return pairs


def participant_state_tx(ledger_hash: str, address: str, state: ParticipantState, signers: list[Any]) -> Any:
    from ledger.crypto import from_base58

    builder = TransactionBuilder(from_base58(ledger_hash), time_ms=int(time.time() * 1000))
    return builder.add(UpdateParticipantState(address, state)).sign(*signers)


def _taken_ports(session: Session) -> list[int]:
    ports: list[int] = []
    for node in session.scalars(select(Node)):
        ports += [node.grpc_port, node.gateway_port]
    return ports


def _is_local(request: Request) -> bool:
    return isinstance(request.app.state.baas.provisioner, LocalProvisioner)


def _multi_validator_ready(request: Request) -> bool:
    backend = request.app.state.baas.settings.node_backend
    return backend == "server" or (backend == "auto" and node_server_available()) or not _is_local(request)


@router.get("/networks", response_model=list[NetworkPublic])
def list_networks(request: Request, session: SessionDep, user: UserDep) -> list[NetworkPublic]:
    query = select(Network).order_by(Network.id)
    if not is_platform_admin(user):
        query = query.join(ConsortiumMember, ConsortiumMember.consortium_id == Network.consortium_id).where(
            ConsortiumMember.organization_id == user.organization_id)
    return [network_public(session, n, request) for n in session.scalars(query)]


@router.post("/networks", response_model=NetworkPublic, status_code=201,
             summary="Create a network: keys in custody, genesis ceremony, nodes started, members registered on chain")
def create_network(body: NetworkCreate, request: Request, session: SessionDep, user: UserDep) -> NetworkPublic:
    state = request.app.state.baas
    consortium: Consortium = get_or_404(session, Consortium, body.consortium_id, "consortium")
    require_consortium_access(session, user, consortium, ("org_admin",))
    members = set(consortium_member_ids(session, consortium.id))
    for allocation in body.nodes:
        if allocation.organization_id not in members:
            raise InvalidRequest(f"organisation {allocation.organization_id} is not a member of {consortium.name}")
    total = sum(a.count for a in body.nodes)
    if total > 1 and not _multi_validator_ready(request):
        raise InvalidRequest("several validators need the networked node (python -m node.server), which is not "
                             "installed here; create a one-node network, or set node_backend=server")
    if session.scalar(select(Network).where(Network.name == body.name)) is not None:
        raise Conflict(f"network {body.name} exists")
    custody = state.custody
    password = new_password()
    network = Network(name=body.name, consortium_id=consortium.id, crypto=body.crypto,
                      consensus=body.consensus.model_dump(), provisioner=state.provisioner.name, status="creating",
                      keystore_password=custody.seal(password.encode(), f"network:{body.name}".encode()))
    session.add(network)
    session.flush()
    algorithm = algorithm_for_suite(body.crypto)
    with state.provisioner_lock:
        ports = allocate_ports(2 * total, _taken_ports(session), state.settings.base_port)
        founders = []
        index = 0
        for allocation in body.nodes:
            org = session.get(Organization, allocation.organization_id)
            assert org is not None
            for position in range(allocation.count):
                name = f"{org.name}-{position}"
                key = custody.new_key(session, org.id, "node", f"{network.name}/{name} consensus key", algorithm)
                node = Node(network_id=network.id, organization_id=org.id, name=name, key_id=key.id,
                            grpc_port=ports[2 * index], gateway_port=ports[2 * index + 1])
                session.add(node)
                founders.append((name, custody.keypair(key), org.name))
                index += 1
        ledger_hash, hash_name, genesis = make_genesis(body.ledger_name, body.crypto, founders,
                                                       {"round_timeout_ms": body.consensus.round_timeout_ms,
                                                        "max_block_txs": body.consensus.max_block_txs,
                                                        "idle_block_ms": body.consensus.idle_block_ms})
        session.add(LedgerRecord(network_id=network.id, name=body.ledger_name, ledger_hash=ledger_hash,
                                 hash_algorithm=hash_name, genesis_hex=genesis))
        network.status = "starting"
        session.commit()
        session.refresh(network)
        audit.record(session, user, "network.created", f"network:{network.id}",
                     {"name": network.name, "crypto": network.crypto, "nodes": total, "ledger": ledger_hash},
                     client=client_of(request))
        for node in network.nodes:
            handle = state.provisioner.deploy_node(node_spec(session, custody, node, with_secrets=True))
            node.pid, node.pid_started_at, node.status = handle.pid, handle.pid_started_at, "starting"
            node.gateway_url = handle.url
        session.commit()
    if _is_local(request):
        bootstrap_network(request, session, user, network, [pair for _, pair, _ in founders])
    else:
        network.status, network.status_reason = "applied", "manifests applied to the cluster"
        session.commit()
    session.refresh(network)
    return network_public(session, network, request)


def bootstrap_network(request: Request, session: Session, user: User, network: Network, founder_keys: list[Any]) -> None:
    """Wait for the gateways, then register every member organisation's key as a ledger admin.

    Each admin is registered into its own organisation, which the ledger lets only the members
    decide: the founding nodes' keys (one per founding organisation's node) sign together.
    """
    try:
        wait_healthy(network, timeout=60)
        orgs = member_organizations(session, network.consortium_id)
        entries = [(org.name, PublicKey.from_base58(org_key(session, org).public_key)) for org in orgs if org.key_id]
        results = []
        for ledger in network.ledgers:
            results.append(submit(network, ledger.ledger_hash, register_org_admins_tx(ledger.ledger_hash, entries, founder_keys)))
        for node in network.nodes:
            node.status = "running"
        network.status, network.status_reason = "running", ""
        audit.record(session, user, "network.bootstrapped", f"network:{network.id}",
                     {"members_registered": [name for name, _ in entries], "transactions": results})
    except BaasError as error:
        network.status, network.status_reason = "degraded", f"bootstrap failed: {error.message}"
        session.commit()


@router.get("/networks/{network_id}", response_model=NetworkPublic)
def get_network(network_id: int, request: Request, session: SessionDep, user: UserDep) -> NetworkPublic:
    return network_public(session, visible_network(session, user, network_id), request)


@router.get("/networks/{network_id}/status", summary="Live node table, throughput history and health")
def network_status(network_id: int, request: Request, session: SessionDep, user: UserDep) -> dict[str, Any]:
    network = visible_network(session, user, network_id)
    monitor = request.app.state.baas.monitor
    running = [n for n in network.nodes if n.desired_state == "running"]
    views = [monitor.view(n.id, n.name, node_url(n), with_history=True) for n in running]
    health, reasons = network_health(views, max(0, sum(n.validator for n in running) - 1),
                                     request.app.state.baas.node_errors)
    return {
        "network": network.name, "status": network.status, "health": health, "reasons": reasons,
        "nodes": [node_public(session, n, request, history=True).model_dump() for n in network.nodes
                  if n.desired_state != "removed"],
        "at": time.time(),
    }


def _set_desired(request: Request, session: Session, user: User, network: Network, desired: str, action: str,
                 approved_by: list[int] | None = None) -> None:
    state = request.app.state.baas
    with state.provisioner_lock:
        for node in network.nodes:
            if node.desired_state == "removed":
                continue
            node.desired_state = desired
            spec = node_spec(session, state.custody, node, with_secrets=desired == "running")
            if desired == "running":
                handle = state.provisioner.start_node(spec)
                node.pid, node.pid_started_at, node.status = handle.pid, handle.pid_started_at, "starting"
            else:
                state.provisioner.stop_node(spec, pid=node.pid, started_at=node.pid_started_at)
                node.pid, node.pid_started_at, node.status = None, None, "stopped"
        network.status = "running" if desired == "running" else "stopped"
        network.status_reason = ""
        session.commit()  # before the lock goes: the supervisor must not act on the old desired state
    affected = governance.affected_organizations(network) or [user.organization_id]
    details = {"network": network.name, "approved_by": approved_by} if approved_by else {"network": network.name}
    governance.record_for_each(session, user, action, f"network:{network.id}", details,
                               [org for org in affected if org is not None], client_of(request))
    if None in affected or not affected:
        audit.record(session, user, action, f"network:{network.id}", details, client=client_of(request))


def _network_action(request: Request, session: Session, user: User, network: Network, action: str) -> Any:
    """Run a network-wide action now if only the caller's organisation is affected; else propose it."""
    require_managed(network)
    affected = governance.affected_organizations(network)
    if is_platform_admin(user) or set(affected) <= {user.organization_id}:
        desired = "stopped" if action == "stop" else "running"
        _set_desired(request, session, user, network, desired, "network.stopped" if action == "stop" else "network.started")
        return network_public(session, network, request)
    proposal = governance.open_network_proposal(session, user, network, action, client_of(request))
    return JSONResponse(status_code=202, content=jsonable_encoder({
        "code": "PROPOSAL_REQUIRED",
        "message": f"{action} reaches the nodes of {len(affected)} organisations; each must approve",
        "proposal": proposal,
    }))


@router.post("/networks/{network_id}/stop", response_model=None,
             summary="Stop every node (data kept); a proposal (202) when other members' nodes are affected")
def stop_network(network_id: int, request: Request, session: SessionDep, user: UserDep) -> Any:
    network = visible_network(session, user, network_id, ("org_admin",))
    return _network_action(request, session, user, network, "stop")


@router.post("/networks/{network_id}/start", response_model=None,
             summary="Start every node again; a proposal (202) when other members' nodes are affected")
def start_network(network_id: int, request: Request, session: SessionDep, user: UserDep) -> Any:
    network = visible_network(session, user, network_id, ("org_admin",))
    return _network_action(request, session, user, network, "start")


@router.get("/networks/{network_id}/proposals", summary="Control-plane proposals of the network (newest first)")
def list_network_proposals(network_id: int, session: SessionDep, user: UserDep) -> list[dict[str, Any]]:
    network = visible_network(session, user, network_id)
    return jsonable_encoder(governance.network_proposals(session, network))  # type: ignore[no-any-return]


@router.post("/networks/{network_id}/proposals/{proposal_id}/approve", response_model=None,
             summary="Approve a proposal for your organisation; the action runs with the last approval")
def approve_network_proposal(network_id: int, proposal_id: str, request: Request, session: SessionDep,
                             user: UserDep) -> Any:
    network = visible_network(session, user, network_id, ("org_admin",))
    proposal = governance.approve_network_proposal(session, user, network, proposal_id, client_of(request))
    if proposal["ready"]:
        action = str(proposal["action"])
        if action == "remove-node":
            target: Node = get_or_404(session, Node, int(proposal["node_id"]), "node")
            _remove_node(request, session, user, target, approved_by=list(proposal["approvals"]))
        else:
            desired = "stopped" if action == "stop" else "running"
            _set_desired(request, session, user, network, desired,
                         "network.stopped" if action == "stop" else "network.started",
                         approved_by=list(proposal["approvals"]))
        governance.mark_network_proposal_executed(session, user, network, proposal, client_of(request))
        proposal["status"] = "executed"
    return jsonable_encoder(proposal)


# --- ledgers ---------------------------------------------------------------------------------------------

@router.get("/ledgers", response_model=list[LedgerPublic], tags=["ledgers"])
def list_ledgers(session: SessionDep, user: UserDep) -> list[LedgerPublic]:
    result = []
    for ledger in session.scalars(select(LedgerRecord).order_by(LedgerRecord.id)):
        try:
            visible_network(session, user, ledger.network_id)
        except Forbidden:
            continue
        result.append(ledger_public(ledger))
    return result


class LedgerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)


@router.post("/networks/{network_id}/ledgers", response_model=LedgerPublic, status_code=201, tags=["ledgers"],
             summary="Create another ledger on the network: a genesis signed by its validators, nodes restarted with it")
def create_ledger(network_id: int, body: LedgerCreate, request: Request, session: SessionDep, user: UserDep) -> LedgerPublic:
    state = request.app.state.baas
    network = visible_network(session, user, network_id, ("org_admin",))
    require_managed(network)
    if _is_local(request) and not _multi_validator_ready(request):
        raise Conflict("the single-validator solo node serves one ledger; several ledgers need node.server")
    if any(ledger.name == body.name for ledger in network.ledgers):
        raise Conflict(f"network {network.name} already has a ledger named {body.name}")
    validators = [n for n in network.nodes if n.validator and n.desired_state != "removed"]
    founders = []
    for node in validators:
        key = session.get(CustodyKey, node.key_id)
        assert key is not None
        owner = session.get(Organization, node.organization_id)
        founders.append((node.name, state.custody.keypair(key), owner.name if owner is not None else node.name))
    consensus: dict[str, Any] = {k: network.consensus[k] for k in ("round_timeout_ms", "max_block_txs", "idle_block_ms") if k in network.consensus}
    ledger_hash, hash_name, genesis = make_genesis(body.name, network.crypto, founders, consensus)
    record = LedgerRecord(network_id=network.id, name=body.name, ledger_hash=ledger_hash, hash_algorithm=hash_name,
                          genesis_hex=genesis)
    session.add(record)
    session.commit()
    session.refresh(network)
    with state.provisioner_lock:
        # Stop all, then start all: a new ledger's first rounds need its validators up together.
        running = [n for n in network.nodes if n.desired_state == "running"]
        specs = {n.id: node_spec(session, state.custody, n, with_secrets=True) for n in running}
        for node in running:
            state.provisioner.stop_node(specs[node.id], pid=node.pid, started_at=node.pid_started_at)
        for node in running:
            handle = state.provisioner.deploy_node(specs[node.id])
            node.pid, node.pid_started_at, node.status = handle.pid, handle.pid_started_at, "starting"
        session.commit()
        if _is_local(request):
            wait_healthy(network, timeout=60)
    audit.record(session, user, "ledger.created", f"ledger:{record.id}", {"network": network.name, "ledger": ledger_hash},
                 client=client_of(request))
    if _is_local(request):
        orgs = member_organizations(session, network.consortium_id)
        entries = [(org.name, PublicKey.from_base58(org_key(session, org).public_key)) for org in orgs if org.key_id]
        result = submit(network, ledger_hash, register_org_admins_tx(ledger_hash, entries, [f[1] for f in founders]))
        audit.record(session, user, "ledger.bootstrapped", f"ledger:{record.id}", result, client=client_of(request))
    return ledger_public(record)


@router.get("/ledgers/{ledger_id}", response_model=LedgerPublic, tags=["ledgers"])
def get_ledger(ledger_id: int, session: SessionDep, user: UserDep) -> LedgerPublic:
    ledger: LedgerRecord = get_or_404(session, LedgerRecord, ledger_id, "ledger")
    visible_network(session, user, ledger.network_id)
    return ledger_public(ledger)


@router.get("/ledgers/{ledger_id}/genesis", tags=["ledgers"], summary="The genesis file (for joining nodes run elsewhere)")
def get_genesis(ledger_id: int, session: SessionDep, user: UserDep) -> dict[str, Any]:
    import json

    ledger: LedgerRecord = get_or_404(session, LedgerRecord, ledger_id, "ledger")
    visible_network(session, user, ledger.network_id)
    return json.loads(ledger.genesis_hex)


# --- ledger proposals: read from the nodes, voted with the organisation's key in custody ---------------

class LedgerVote(BaseModel):
    approve: bool = Field(True, description="true: for; false: against")


def _ledger_record(session: Session, user: User, ledger_id: int, roles: tuple[str, ...] = READ) -> LedgerRecord:
    ledger: LedgerRecord = get_or_404(session, LedgerRecord, ledger_id, "ledger")
    visible_network(session, user, ledger.network_id, roles)
    return ledger


def _organization_name(session: Session, user: User) -> str | None:
    org = session.get(Organization, user.organization_id) if user.organization_id is not None else None
    return org.name if org is not None else None


@router.get("/ledgers/{ledger_id}/proposals", tags=["ledgers"],
            summary="The ledger's governance proposals (on chain), with whether each waits for your organisation")
def list_ledger_proposals(ledger_id: int, session: SessionDep, user: UserDep,
                          status: Literal["open", "executed", "rejected", "failed", "expired"] | None = None) -> list[dict[str, Any]]:
    ledger = _ledger_record(session, user, ledger_id)
    return governance.ledger_proposals(ledger, _organization_name(session, user), status)


@router.post("/ledgers/{ledger_id}/proposals/{proposal_id}/vote", tags=["ledgers"], response_model=None,
             summary="Vote for your organisation on a ledger proposal; signed in custody with the organisation's key")
def vote_ledger_proposal(ledger_id: int, proposal_id: str, body: LedgerVote, request: Request, session: SessionDep,
                         user: UserDep) -> Any:
    from baas.custody import decode_intent
    from ledger import codec
    from ledger.governance import parse_proposal_id
    from ledger.transactions import sign_content

    ledger = _ledger_record(session, user, ledger_id, ("org_admin",))
    if user.organization_id is None:
        raise Forbidden("only a member organisation's admin votes")
    try:
        proposal_key = parse_proposal_id(proposal_id)
    except JadechainError as error:
        raise InvalidRequest(error.message) from None
    org = get_or_404(session, Organization, user.organization_id, "organisation")
    content = _ledger_builder(ledger).vote(proposal_key, body.approve).content()
    intent = decode_intent("vote", codec.encode(content), user.role)
    tx = sign_content(content, request.app.state.baas.custody.keypair(org_key(session, org)))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    audit.record(session, user, "ledger.proposal.voted", f"ledger:{ledger.id}",
                 {"proposal": proposal_key, "approve": body.approve, "summary": list(intent.summary), **result},
                 organization_id=org.id, client=client_of(request))
    if result.get("status") != "SUCCESS":  # the ledger's own code: PROPOSAL_DECIDED, PROPOSAL_EXPIRED, ...
        return JSONResponse(status_code=409, content=jsonable_encoder({
            "code": str(result.get("status")), "message": f"the ledger refused the vote: {result.get('status')}",
            "details": result,
        }))
    return result


def _ledger_builder(ledger: LedgerRecord) -> TransactionBuilder:
    from ledger.crypto import from_base58

    return TransactionBuilder(from_base58(ledger.ledger_hash), time_ms=int(time.time() * 1000))


# --- nodes -------------------------------------------------------------------------------------------------

def _node(session: Session, user: User, node_id: int, roles: tuple[str, ...]) -> Node:
    node: Node = get_or_404(session, Node, node_id, "node")
    require_managed(visible_network(session, user, node.network_id))
    require_org_role(user, node.organization_id, roles)
    return node


@router.get("/networks/{network_id}/nodes", response_model=list[NodePublic], tags=["nodes"])
def list_nodes(network_id: int, request: Request, session: SessionDep, user: UserDep) -> list[NodePublic]:
    network = visible_network(session, user, network_id)
    return [node_public(session, n, request) for n in network.nodes if n.desired_state != "removed"]


@router.get("/nodes/{node_id}", response_model=NodePublic, tags=["nodes"])
def get_node(node_id: int, request: Request, session: SessionDep, user: UserDep) -> NodePublic:
    node: Node = get_or_404(session, Node, node_id, "node")
    visible_network(session, user, node.network_id)
    return node_public(session, node, request, history=True)


@router.post("/networks/{network_id}/nodes", response_model=NodePublic, status_code=201, tags=["nodes"],
             summary="Add a node for an organisation: key in custody, RegisterParticipant on chain, process started")
def add_node(network_id: int, body: NodeCreate, request: Request, session: SessionDep, user: UserDep) -> NodePublic:
    state = request.app.state.baas
    network = visible_network(session, user, network_id, OPERATE)
    require_managed(network)
    require_org_role(user, body.organization_id, OPERATE)
    if body.organization_id not in consortium_member_ids(session, network.consortium_id):
        raise InvalidRequest("the organisation is not a member of the network's consortium")
    if not _multi_validator_ready(request):
        raise Conflict("a network of several nodes needs the networked node (python -m node.server), not installed here")
    org = session.get(Organization, body.organization_id)
    assert org is not None
    existing = {n.name for n in network.nodes}
    position = 0
    while f"{org.name}-{position}" in existing:
        position += 1
    name = f"{org.name}-{position}"
    with state.provisioner_lock:
        key = state.custody.new_key(session, org.id, "node", f"{network.name}/{name} consensus key",
                                    algorithm_for_suite(network.crypto))
        grpc_port, gateway_port = allocate_ports(2, _taken_ports(session), state.settings.base_port)
        node = Node(network_id=network.id, organization_id=org.id, name=name, key_id=key.id, grpc_port=grpc_port,
                    gateway_port=gateway_port, validator=False)
        session.add(node)
        session.flush()
        signers = [state.custody.keypair(org_key(session, org))] + validator_signers(session, state.custody, network, node)
        public = PublicKey.from_base58(key.public_key)
        for ledger in network.ledgers:
            result = submit(network, ledger.ledger_hash, register_participant_tx(ledger.ledger_hash, name, public, signers,
                                                                          address=f"127.0.0.1:{node.grpc_port}",
                                                                          organization=org.name))
            if result["status"] != "SUCCESS":
                session.rollback()
                raise Conflict(f"the ledger refused the new participant: {result['status']}", **result)
            node.registration_tx = result["tx_hash"]
            # Activation: the node joins the validator set at the next epoch (next height).
            activation = participant_state_tx(ledger.ledger_hash, key.address, ParticipantState.CONSENSUS, signers)
            result = submit(network, ledger.ledger_hash, activation)
            if result["status"] != "SUCCESS":
                session.rollback()
                raise Conflict(f"the ledger refused to activate the new validator: {result['status']}", **result)
        node.validator = True
        session.commit()
        session.refresh(network)
        handle = state.provisioner.deploy_node(node_spec(session, state.custody, node, with_secrets=True))
        node.pid, node.pid_started_at, node.status = handle.pid, handle.pid_started_at, "starting"
        node.gateway_url = handle.url
    audit.record(session, user, "node.added", f"node:{node.id}",
                 {"network": network.name, "node": name, "public_key": key.public_key, "tx": node.registration_tx},
                 organization_id=org.id, client=client_of(request))
    return node_public(session, node, request)


@router.post("/nodes/{node_id}/restart", response_model=NodePublic, tags=["nodes"])
def restart_node(node_id: int, request: Request, session: SessionDep, user: UserDep) -> NodePublic:
    state = request.app.state.baas
    node = _node(session, user, node_id, OPERATE)
    if node.desired_state == "removed":
        raise Conflict("the node was removed")
    with state.provisioner_lock:
        spec = node_spec(session, state.custody, node, with_secrets=True)
        state.provisioner.stop_node(spec, pid=node.pid, started_at=node.pid_started_at)
        handle = state.provisioner.start_node(spec)
        node.desired_state = "running"
        node.pid, node.pid_started_at, node.status = handle.pid, handle.pid_started_at, "starting"
        session.commit()
    audit.record(session, user, "node.restarted", f"node:{node.id}", {"network": node.network.name, "node": node.name},
                 organization_id=node.organization_id, client=client_of(request))
    return node_public(session, node, request)


@router.post("/nodes/{node_id}/stop", response_model=NodePublic, tags=["nodes"])
def stop_node(node_id: int, request: Request, session: SessionDep, user: UserDep) -> NodePublic:
    state = request.app.state.baas
    node = _node(session, user, node_id, OPERATE)
    with state.provisioner_lock:
        state.provisioner.stop_node(node_spec(session, state.custody, node), pid=node.pid, started_at=node.pid_started_at)
        node.desired_state, node.status, node.pid, node.pid_started_at = "stopped", "stopped", None, None
        session.commit()
    audit.record(session, user, "node.stopped", f"node:{node.id}", organization_id=node.organization_id,
                 client=client_of(request))
    return node_public(session, node, request)


@router.post("/nodes/{node_id}/start", response_model=NodePublic, tags=["nodes"])
def start_node(node_id: int, request: Request, session: SessionDep, user: UserDep) -> NodePublic:
    state = request.app.state.baas
    node = _node(session, user, node_id, OPERATE)
    if node.desired_state == "removed":
        raise Conflict("the node was removed")
    with state.provisioner_lock:
        handle = state.provisioner.start_node(node_spec(session, state.custody, node, with_secrets=True))
        node.desired_state, node.status = "running", "starting"
        node.pid, node.pid_started_at = handle.pid, handle.pid_started_at
        session.commit()
    audit.record(session, user, "node.started", f"node:{node.id}", organization_id=node.organization_id,
                 client=client_of(request))
    return node_public(session, node, request)


@router.delete("/nodes/{node_id}", status_code=200, response_model=None, tags=["nodes"],
               summary="Remove a node: participant deactivated on chain, process stopped; another member's node "
                       "needs its owner's approval (202, a proposal)")
def remove_node(node_id: int, request: Request, session: SessionDep, user: UserDep) -> Any:
    node: Node = get_or_404(session, Node, node_id, "node")
    network = visible_network(session, user, node.network_id, ("org_admin",))
    require_managed(network)
    if node.desired_state == "removed":
        raise Conflict("the node was already removed")
    if is_platform_admin(user) or user.organization_id == node.organization_id:
        _remove_node(request, session, user, node)
        return node_public(session, node, request)
    proposal = governance.open_network_proposal(session, user, network, "remove-node", client_of(request), node=node)
    return JSONResponse(status_code=202, content=jsonable_encoder({
        "code": "PROPOSAL_REQUIRED",
        "message": f"node {node.name} belongs to another organisation; its admin must approve the removal",
        "proposal": proposal,
    }))


def _remove_node(request: Request, session: Session, user: User, node: Node,
                 approved_by: list[int] | None = None) -> None:
    state = request.app.state.baas
    network = node.network
    others = [n for n in network.nodes if n.id != node.id and n.desired_state == "running"]
    if not others:
        raise Conflict("this is the network's last running node; stop the network instead")
    key = session.get(CustodyKey, node.key_id)
    assert key is not None
    org = session.get(Organization, node.organization_id)
    assert org is not None
    signers = [state.custody.keypair(org_key(session, org))] + validator_signers(session, state.custody, network, None)
    onchain = []
    with state.provisioner_lock:
        for ledger in network.ledgers:
            result = submit(network, ledger.ledger_hash,
                            participant_state_tx(ledger.ledger_hash, key.address, ParticipantState.DEACTIVATED, signers))
            if result["status"] != "SUCCESS":
                session.rollback()
                raise Conflict(f"the ledger refused to deactivate the participant: {result['status']}", **result)
            onchain.append(result)
        node.desired_state, node.validator = "removed", False
        state.provisioner.remove_node(node_spec(session, state.custody, node), pid=node.pid, started_at=node.pid_started_at)
        node.status, node.pid, node.pid_started_at = "removed", None, None
        session.commit()
    details: dict[str, Any] = {"network": network.name, "transactions": onchain}
    if approved_by:
        details["approved_by"] = approved_by
    affected = sorted({node.organization_id, *(approved_by or [])})
    governance.record_for_each(session, user, "node.removed", f"node:{node.id}", details, affected, client_of(request))


@router.get("/nodes/{node_id}/logs", tags=["nodes"], summary="The tail of the node's log")
def node_logs(node_id: int, request: Request, session: SessionDep, user: UserDep, max_bytes: int = 16384) -> dict[str, str]:
    state = request.app.state.baas
    node = _node(session, user, node_id, OPERATE)
    provisioner = state.provisioner
    text = provisioner.log_tail(node_spec(session, state.custody, node), min(max_bytes, 1 << 20)) \
        if hasattr(provisioner, "log_tail") else ""
    return {"node": node.name, "log": text}
