"""Read-only contract calls: run a method against committed state without a transaction (web3's ``call``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ledger import codec
from ledger.contract_api import ContractEngineMismatch
from ledger.errors import InvalidTransaction, JadechainError
from ledger.types import InvokeContract, Transaction
from node.gateway.deps import RateLimitDep, RuntimeDep
from node.gateway.routers.txs import HEX_TX, decode_body
from node.gateway.schemas import CallResultPublic, event_public, typed_results
from node.mempool import TransactionTooLarge

class CallGasTooHigh(JadechainError):
    code = "CALL_GAS_TOO_HIGH"
    http_status = 400


class EngineUnavailable(JadechainError):
    code = "CONTRACT_ENGINE_MISMATCH"
    http_status = 503


CALL_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {"tx": HEX_TX}, "required": ["tx"]}},
        "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
    },
}

router = APIRouter(prefix="/api/v1/ledgers/{ledger}/call", tags=["contracts"])

CALL_DOC = """Run a contract method against the ledger's committed state and return its value; nothing is written.

The body is a signed transaction of exactly one `InvokeContract` operation, sent as for `POST .../txs`
(`{"tx": "<hex>"}` or `application/msgpack`), and never submitted: the call is refused (with the code
ingress would give) unless its signer may send that transaction: a registered user holding the
CONTRACT_OPERATION transaction permission, valid signatures, this ledger, not expired. The contract
sees the signer as `caller`, the next height as `block_height` and the last block's time.
Its gas limit may not exceed this gateway's `max_call_gas` (400 CALL_GAS_TOO_HIGH) nor the ledger's
`default_gas_limit`. A failure of the method itself is an
answer (`status` is its code, with `gas_used` and `message`); its writes and events are discarded.
"""


@router.post("", response_model=CallResultPublic, description=CALL_DOC, dependencies=[RateLimitDep],
             summary="Call a contract read-only", openapi_extra={"requestBody": CALL_BODY})
async def call(request: Request, runtime: RuntimeDep) -> Any:
    raws, batch = decode_body(await request.body(), request.headers.get("content-type", "application/json"))
    if batch or len(raws) != 1:
        raise InvalidTransaction('a call takes one transaction ({"tx": "<hex>"})')
    ledger = runtime.ledger
    if len(raws[0]) > ledger.settings.max_tx_bytes:
        raise TransactionTooLarge(f"transaction of {len(raws[0])} bytes exceeds {ledger.settings.max_tx_bytes}")
    tx = codec.decode(Transaction, raws[0])
    limit = request.app.state.settings.max_call_gas
    for operation in tx.content.operations:
        if isinstance(operation, InvokeContract) and operation.gas_limit > limit:
            raise CallGasTooHigh(f"a read-only call on this gateway may use at most {limit} gas")
    try:
        outcome = await run_in_threadpool(ledger.call, tx)
    except ContractEngineMismatch as exc:  # this node cannot run the ledger's contracts (nor its blocks)
        raise EngineUnavailable(str(exc)) from None
    return CallResultPublic(
        status=outcome.status, value=typed_results([outcome.value])[0], gas_used=outcome.gas_used,
        message=outcome.message or None, height=outcome.height, events=[event_public(e) for e in outcome.events],
    )
