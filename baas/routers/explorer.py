"""Block and transaction explorer: reads go to the network's node gateways (the ledger is the truth)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from baas.deps import SessionDep, UserDep, get_or_404
from baas.errors import NotFoundError, UpstreamError
from baas.models import LedgerRecord, User
from baas.orchestration import gateway_urls
from baas.routers.networks import visible_network

router = APIRouter(prefix="/api/v1/ledgers/{ledger_id}/explorer", tags=["explorer"])


def _ledger(session: Session, user: User, ledger_id: int) -> LedgerRecord:
    ledger: LedgerRecord = get_or_404(session, LedgerRecord, ledger_id, "ledger")
    visible_network(session, user, ledger.network_id)
    return ledger


def seg(value: object) -> str:
    """One URL path segment (user input never changes the path it is put in)."""
    return quote(str(value), safe="")


def gateway_get(ledger: LedgerRecord, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET ``/api/v1/ledgers/{hash}{path}`` on the first node that answers (``path`` built with ``seg``)."""
    last = "no running node"
    for url in gateway_urls(ledger.network):
        try:
            response = httpx.get(f"{url}/api/v1/ledgers/{ledger.ledger_hash}{path}", params=params, timeout=10)
        except httpx.HTTPError as error:
            last = f"{url}: {type(error).__name__}"
            continue
        if response.status_code == 404:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise NotFoundError(body.get("message", f"{path} not found"))
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise UpstreamError(f"{body.get('code', response.status_code)}: {body.get('message', '')}")
        return response.json()
    raise UpstreamError(f"no node of the network answered ({last})")


@router.get("/summary", summary="Ledger info and the latest blocks")
def summary(ledger_id: int, session: SessionDep, user: UserDep, limit: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    latest = gateway_get(ledger, "/blocks/latest")
    blocks = [latest]
    for height in range(latest["height"] - 1, max(-1, latest["height"] - limit), -1):
        blocks.append(gateway_get(ledger, f"/blocks/{height}"))
    return {"ledger_hash": ledger.ledger_hash, "height": latest["height"], "blocks": blocks}


@router.get("/blocks/{height}")
def block(ledger_id: int, height: int, session: SessionDep, user: UserDep) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    result = gateway_get(ledger, f"/blocks/{height}")
    result["transactions"] = gateway_get(ledger, f"/blocks/{height}/txs", {"limit": 100}).get("items", [])
    return result


def plain_json(value: Any) -> Any:
    """A decoded argument as JSON: bytes as ``0x`` hex, lists item by item."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


def decoded_transaction(tx: dict[str, Any]) -> dict[str, Any]:
    """The gateway's transaction with each contract call's arguments decoded (``args_decoded``), for people.

    Arguments travel as canonical msgpack (base58 on the gateway); arguments that do not decode keep only
    their encoded form, with ``args_error`` saying why.
    """
    from ledger.codec import unpack_canonical
    from ledger.crypto import from_base58
    from ledger.errors import JadechainError

    for operation in tx.get("operations", []):
        encoded = operation.get("args")
        if operation.get("type") != "InvokeContract" or not isinstance(encoded, str):
            continue
        try:
            operation["args_decoded"] = plain_json(unpack_canonical(from_base58(encoded) if encoded else b"\x90"))
        except (JadechainError, ValueError) as error:
            operation["args_error"] = str(error)
    return tx


@router.get("/txs/{tx_hash}", summary="A transaction: operations (contract arguments decoded), signers, result")
def transaction(ledger_id: int, tx_hash: str, session: SessionDep, user: UserDep) -> dict[str, Any]:
    return decoded_transaction(gateway_get(_ledger(session, user, ledger_id), f"/txs/{seg(tx_hash)}"))


@router.get("/accounts/{address}")
def account(ledger_id: int, address: str, session: SessionDep, user: UserDep) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    result = gateway_get(ledger, f"/accounts/{seg(address)}")
    try:
        result["entries"] = gateway_get(ledger, f"/accounts/{seg(address)}/entries", {"limit": 100}).get("items", [])
    except (NotFoundError, UpstreamError):
        result["entries"] = []
    return result


@router.get("/entry")
def entry(ledger_id: int, session: SessionDep, user: UserDep, account: str, key: str) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    result: dict[str, Any] = gateway_get(ledger, f"/accounts/{seg(account)}/entry", {"key": key})
    return result


@router.get("/search", summary="Search by height, transaction hash, account address, or `address/key`")
def search(ledger_id: int, session: SessionDep, user: UserDep, q: str = Query(min_length=1, max_length=500)) -> dict[str, Any]:
    ledger = _ledger(session, user, ledger_id)
    q = q.strip()
    if q.isdigit():
        return {"kind": "block", "result": block(ledger_id, int(q), session, user)}
    if "/" in q:
        address, key = q.split("/", 1)
        return {"kind": "entry", "result": gateway_get(ledger, f"/accounts/{seg(address)}/entry", {"key": key})}
    try:
        return {"kind": "tx", "result": decoded_transaction(gateway_get(ledger, f"/txs/{seg(q)}"))}
    except (NotFoundError, UpstreamError):
        pass
    try:
        return {"kind": "account", "result": account(ledger_id, q, session, user)}
    except (NotFoundError, UpstreamError):
        pass
    try:
        return {"kind": "block", "result": gateway_get(ledger, f"/blocks/hash/{seg(q)}")}
    except (NotFoundError, UpstreamError):
        raise NotFoundError(f"nothing on ledger {ledger.ledger_hash[:12]}… matches {q!r}") from None
