"""Contracts: upload (validated by the sandbox policy, with line, column and rule of any violation),
deploy, upgrade, freeze and unfreeze, invoke — transactions signed by the owning organisation's key."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, require_org_role
from baas.errors import BaasError, Conflict, InvalidRequest
from baas.models import Contract, CustodyKey, LedgerRecord, Organization, User, UtcDateTime
from baas.orchestration import gateway_urls, org_key, submit
from baas.routers.networks import visible_network
from ledger.crypto import PublicKey, from_base58
from ledger.errors import JadechainError
from ledger.transactions import TransactionBuilder
from ledger.types import AccountState, UpdateAccountState, UpgradeContract

router = APIRouter(prefix="/api/v1", tags=["contracts"])

OPERATE = ("org_admin", "operator")


class ContractInvalid(BaasError):
    code, http_status = "CONTRACT_INVALID", 422


class SourceBody(BaseModel):
    source: str = Field(max_length=256 * 1024)


class ContractCreate(SourceBody):
    name: str = Field(min_length=1, max_length=120)
    organization_id: int | None = Field(None, description="Owning organisation (default: yours)")


class InvokeBody(BaseModel):
    method: str = Field(min_length=1, max_length=120)
    args: list[Any] = Field(default_factory=list)
    gas_limit: int = Field(1_000_000, ge=1, le=10_000_000)  # a ledger's default_gas_limit; the executor refuses more


class ContractPublic(BaseModel):
    id: int
    ledger_id: int
    organization_id: int
    name: str
    version: int
    address: str | None
    status: str
    methods: list[str]
    last_tx: str | None
    created_at: UtcDateTime
    source: str | None = None


def contract_public(contract: Contract, source: bool = False) -> ContractPublic:
    return ContractPublic(id=contract.id, ledger_id=contract.ledger_id, organization_id=contract.organization_id,
                          name=contract.name, version=contract.version, address=contract.address, status=contract.status,
                          methods=list(contract.methods or []), last_tx=contract.last_tx, created_at=contract.created_at,
                          source=contract.source if source else None)


def validate(source: str, ledger: LedgerRecord | None = None) -> dict[str, Any]:
    """``{valid, methods}`` or ``{valid: false, error: {message, line, column, rule}}``.

    Checked by the rules of the engine the ledger recorded at genesis (without a ledger: the
    WebAssembly engine every new ledger records).
    """
    from contracts.engines import validate_for_engine
    from contracts.vm import engine_identity

    engine = engine_identity()
    if ledger is not None:  # its genesis document, as the control plane stored it (baas.orchestration.make_genesis)
        import json

        from ledger import codec
        from ledger.genesis import genesis_contract_engine
        from ledger.types import Block

        block = bytes.fromhex(json.loads(ledger.genesis_hex)["block"])
        engine = genesis_contract_engine(codec.decode(Block, block))
    try:
        spec = validate_for_engine(source, engine)
    except JadechainError as error:
        details = getattr(error, "details", {}) or {}
        return {"valid": False, "error": {"message": error.message, "line": details.get("line", 0),
                                          "column": details.get("column", 0), "rule": details.get("rule", "")}}
    methods = [f"{m.name}({', '.join(f'{n}: {t}' for n, t in m.parameters)})" for m in spec.callables.values()]
    return {"valid": True, "class_name": spec.class_name, "methods": methods}


def _ledger(session: Session, user: User, ledger_id: int) -> LedgerRecord:
    ledger: LedgerRecord = get_or_404(session, LedgerRecord, ledger_id, "ledger")
    visible_network(session, user, ledger.network_id)
    return ledger


def _contract(session: Session, user: User, contract_id: int, roles: tuple[str, ...] = OPERATE) -> tuple[Contract, LedgerRecord]:
    contract: Contract = get_or_404(session, Contract, contract_id, "contract")
    ledger = _ledger(session, user, contract.ledger_id)
    require_org_role(user, contract.organization_id, roles)
    return contract, ledger


def _signer(request: Request, session: Session, contract: Contract) -> Any:
    org = session.get(Organization, contract.organization_id)
    assert org is not None
    return request.app.state.baas.custody.keypair(org_key(session, org))


def _builder(ledger: LedgerRecord) -> TransactionBuilder:
    return TransactionBuilder(from_base58(ledger.ledger_hash), time_ms=int(time.time() * 1000))


def _committed(result: dict[str, Any], what: str) -> None:
    if result.get("status") != "SUCCESS":
        raise InvalidRequest(f"{what} was committed but failed on chain: {result.get('status')}", **result)


class DataAccountCreate(BaseModel):
    organization_id: int | None = Field(None, description="Owner (default: your organisation)")
    label: str = Field("data account", max_length=200)


@router.post("/ledgers/{ledger_id}/data-accounts", status_code=201, tags=["ledgers"],
             summary="Register a data account owned by the organisation (its key stays in custody)")
def create_data_account(ledger_id: int, body: DataAccountCreate, request: Request, session: SessionDep,
                        user: UserDep) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    owner = body.organization_id if body.organization_id is not None else user.organization_id
    if owner is None:
        raise InvalidRequest("organization_id is required")
    require_org_role(user, owner, OPERATE)
    org = session.get(Organization, owner)
    assert org is not None
    custody = request.app.state.baas.custody
    key: CustodyKey = custody.new_key(session, owner, "data", body.label, "ED25519")
    tx = _builder(ledger).register_data_account(PublicKey.from_base58(key.public_key).encoded).sign(
        custody.keypair(org_key(session, org)))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    _committed(result, "the registration")
    audit.record(session, user, "data_account.registered", f"key:{key.id}", {"address": key.address, **result},
                 organization_id=owner, client=client_of(request))
    return {"address": key.address, "public_key": key.public_key, **result}


@router.post("/contracts/validate", summary="Check a contract against the sandbox policy (nothing stored)")
def validate_contract(body: SourceBody, user: UserDep) -> dict[str, Any]:
    return validate(body.source)


@router.get("/ledgers/{ledger_id}/contracts", response_model=list[ContractPublic])
def list_contracts(ledger_id: int, session: SessionDep, user: UserDep) -> list[ContractPublic]:
    ledger = _ledger(session, user, ledger_id)
    contracts = list(session.scalars(select(Contract).where(Contract.ledger_id == ledger_id).order_by(Contract.id)))
    refresh_from_chain(session, ledger, contracts)
    return [contract_public(c) for c in contracts]


CHAIN_STATES = {"NORMAL": "deployed", "FROZEN": "frozen", "REVOKED": "revoked"}


def refresh_from_chain(session: Session, ledger: LedgerRecord, contracts: list[Contract]) -> None:
    """The ledger decides a deployed contract's state: a freeze or revoke passed by governance (other members'
    votes, not this control plane) shows here too. Unreachable nodes leave the last known state."""
    import httpx

    deployed = [c for c in contracts if c.address is not None and c.status != "uploaded"]
    urls = gateway_urls(ledger.network) if deployed else []
    if not urls:
        return
    with httpx.Client(base_url=urls[0], timeout=3.0) as gateway:
        for contract in deployed:
            try:
                response = gateway.get(f"/api/v1/ledgers/{ledger.ledger_hash}/contracts/{contract.address}",
                                       params={"source": "false"})
            except httpx.HTTPError:
                return
            state = CHAIN_STATES.get(response.json().get("state", "")) if response.status_code == 200 else None
            if state is not None and state != contract.status:
                contract.status = state
    session.commit()


@router.post("/ledgers/{ledger_id}/contracts", response_model=ContractPublic, status_code=201,
             summary="Upload a contract (validated; 422 with line, column and rule when the policy refuses it)")
def upload_contract(ledger_id: int, body: ContractCreate, request: Request, session: SessionDep, user: UserDep) -> ContractPublic:
    ledger = _ledger(session, user, ledger_id)
    owner = body.organization_id if body.organization_id is not None else user.organization_id
    if owner is None:
        raise InvalidRequest("organization_id is required")
    require_org_role(user, owner, OPERATE)
    check = validate(body.source, ledger)
    if not check["valid"]:
        raise ContractInvalid(check["error"]["message"], **check["error"])
    contract = Contract(ledger_id=ledger.id, organization_id=owner, name=body.name, source=body.source, version=1,
                        status="uploaded", methods=check["methods"])
    session.add(contract)
    session.flush()
    audit.record(session, user, "contract.uploaded", f"contract:{contract.id}", {"name": body.name},
                 organization_id=owner, client=client_of(request))
    return contract_public(contract)


@router.get("/contracts/{contract_id}", response_model=ContractPublic)
def get_contract(contract_id: int, session: SessionDep, user: UserDep) -> ContractPublic:
    contract: Contract = get_or_404(session, Contract, contract_id, "contract")
    refresh_from_chain(session, _ledger(session, user, contract.ledger_id), [contract])
    # Source on chain is public to the members; a draft stays its organisation's until deployed.
    owner = user.role == "platform_admin" or user.organization_id == contract.organization_id
    return contract_public(contract, source=owner or contract.status != "uploaded")


@router.post("/contracts/{contract_id}/deploy", response_model=ContractPublic)
def deploy_contract(contract_id: int, request: Request, session: SessionDep, user: UserDep) -> ContractPublic:
    contract, ledger = _contract(session, user, contract_id)
    if contract.status != "uploaded":
        raise Conflict(f"contract is {contract.status}")
    custody = request.app.state.baas.custody
    key: CustodyKey = custody.new_key(session, contract.organization_id, "contract", f"contract {contract.name}",
                                      "ED25519")
    tx = _builder(ledger).deploy_contract(PublicKey.from_base58(key.public_key).encoded, contract.source,
                                          contract.version).sign(_signer(request, session, contract))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    _committed(result, "the deployment")
    contract.contract_key_id, contract.address, contract.status, contract.last_tx = key.id, key.address, "deployed", result["tx_hash"]
    audit.record(session, user, "contract.deployed", f"contract:{contract.id}",
                 {"address": key.address, "tx": result["tx_hash"], "version": contract.version},
                 organization_id=contract.organization_id, client=client_of(request))
    return contract_public(contract)


@router.post("/contracts/{contract_id}/upgrade", response_model=ContractPublic)
def upgrade_contract(contract_id: int, body: SourceBody, request: Request, session: SessionDep, user: UserDep) -> ContractPublic:
    contract, ledger = _contract(session, user, contract_id)
    if contract.status not in ("deployed",) or contract.address is None:
        raise Conflict(f"only a deployed (not frozen) contract can be upgraded; it is {contract.status}")
    check = validate(body.source, ledger)
    if not check["valid"]:
        raise ContractInvalid(check["error"]["message"], **check["error"])
    version = contract.version + 1
    tx = _builder(ledger).add(UpgradeContract(contract.address, body.source, version)).sign(_signer(request, session, contract))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    _committed(result, "the upgrade")
    contract.source, contract.version, contract.methods, contract.last_tx = body.source, version, check["methods"], result["tx_hash"]
    audit.record(session, user, "contract.upgraded", f"contract:{contract.id}", {"version": version, "tx": result["tx_hash"]},
                 organization_id=contract.organization_id, client=client_of(request))
    return contract_public(contract)


def _set_state(request: Request, session: Session, user: User, contract_id: int, state: AccountState) -> ContractPublic:
    contract, ledger = _contract(session, user, contract_id)
    if contract.address is None:
        raise Conflict("the contract is not deployed")
    tx = _builder(ledger).add(UpdateAccountState(contract.address, state)).sign(_signer(request, session, contract))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    _committed(result, "the state change")
    contract.status, contract.last_tx = ("frozen" if state == AccountState.FROZEN else "deployed"), result["tx_hash"]
    audit.record(session, user, f"contract.{contract.status}", f"contract:{contract.id}", {"tx": result["tx_hash"]},
                 organization_id=contract.organization_id, client=client_of(request))
    return contract_public(contract)


@router.post("/contracts/{contract_id}/freeze", response_model=ContractPublic)
def freeze_contract(contract_id: int, request: Request, session: SessionDep, user: UserDep) -> ContractPublic:
    return _set_state(request, session, user, contract_id, AccountState.FROZEN)


@router.post("/contracts/{contract_id}/unfreeze", response_model=ContractPublic)
def unfreeze_contract(contract_id: int, request: Request, session: SessionDep, user: UserDep) -> ContractPublic:
    return _set_state(request, session, user, contract_id, AccountState.NORMAL)


@router.post("/contracts/{contract_id}/invoke", summary="Invoke a method, signed by the owning organisation's key")
def invoke_contract(contract_id: int, body: InvokeBody, request: Request, session: SessionDep, user: UserDep) -> dict[str, Any]:
    contract, ledger = _contract(session, user, contract_id)
    if contract.address is None:
        raise Conflict("the contract is not deployed")
    tx = _builder(ledger).invoke(contract.address, body.method, *body.args, gas_limit=body.gas_limit).sign(
        _signer(request, session, contract))
    result = submit(ledger.network, ledger.ledger_hash, tx)
    audit.record(session, user, "contract.invoked", f"contract:{contract.id}", {"method": body.method, **result},
                 organization_id=contract.organization_id, client=client_of(request))
    return result
