"""Transactions: submit (JSON or msgpack, single or batch, optionally waiting for commit) and query."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ledger.errors import CodecError
from ledger.proofs import build_transaction_bundle
from node.gateway.deps import RateLimitDep, RuntimeDep, parse_hash
from node.gateway.errors import BatchTooLarge
from node.gateway.schemas import SubmitResultPublic, TxPublic, submit_result_dict, tx_public
from node.solo import LedgerRuntime

router = APIRouter(prefix="/api/v1/ledgers/{ledger}/txs", tags=["transactions"])

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/octet-stream")

SUBMIT_DOC = """Submit signed transactions.

* `Content-Type: application/json` with `{"tx": "<hex>"}` (one) or `{"txs": ["<hex>", ...]}` or a JSON
  list of hex strings (a batch), each the hex of `codec.encode(Transaction)`;
* `Content-Type: application/msgpack` with the raw encoded transaction (one).

One transaction: 200 with its hash (202 if `wait=commit` timed out), or the error that refused it
(`{code, message}` with that error's status). A batch: 200 with one result per transaction.
`?wait=commit&timeout=S` waits until the transactions are committed and returns their results.
"""


HEX_TX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$", "description": "hex of codec.encode(Transaction)"}
SUBMIT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"oneOf": [
            {"type": "object", "properties": {"tx": HEX_TX}, "required": ["tx"]},
            {"type": "object", "properties": {"txs": {"type": "array", "items": HEX_TX}}, "required": ["txs"]},
            {"type": "array", "items": HEX_TX},
        ]}},
        "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
    },
}


def decode_body(body: bytes, content_type: str) -> tuple[list[bytes], bool]:
    """The encoded transactions in the body and whether it was a batch."""
    if content_type.split(";")[0].strip().lower() in MSGPACK_TYPES:
        return [body], False
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CodecError("body is neither JSON nor application/msgpack") from exc
    batch = True
    if isinstance(document, dict) and "tx" in document:
        items: Any = [document["tx"]]
        batch = False
    elif isinstance(document, dict) and "txs" in document:
        items = document["txs"]
    elif isinstance(document, list):
        items = [item["tx"] if isinstance(item, dict) and "tx" in item else item for item in document]
    else:
        raise CodecError('expected {"tx": "<hex>"}, {"txs": [...]} or a list of hex strings')
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise CodecError("transactions must be hex strings")
    try:
        return [bytes.fromhex(item) for item in items], batch
    except ValueError as exc:
        raise CodecError("a transaction is not valid hex") from exc


async def _submit(runtime: LedgerRuntime, raws: list[bytes]) -> list[Any]:
    results = await run_in_threadpool(runtime.mempool.submit_many, raws, now_ms=int(time.time() * 1000))
    runtime.committer.notify()
    return results


@router.post("", response_model=SubmitResultPublic | list[SubmitResultPublic], description=SUBMIT_DOC,
             dependencies=[RateLimitDep], summary="Submit transactions", openapi_extra={"requestBody": SUBMIT_BODY})
async def submit(
    request: Request, runtime: RuntimeDep,
    wait: Annotated[Literal["none", "commit"], Query(description="commit: wait for the results")] = "none",
    timeout: Annotated[float, Query(gt=0, le=120)] = 30.0,
) -> Any:
    settings = request.app.state.settings
    body = await request.body()
    raws, batch = decode_body(body, request.headers.get("content-type", "application/json"))
    if len(raws) > settings.max_batch_txs:
        raise BatchTooLarge(f"at most {settings.max_batch_txs} transactions per request")
    if not raws:
        return JSONResponse([])
    results = await _submit(runtime, raws)
    accepted = [r.tx_hash for r in results if r.accepted and r.tx_hash is not None]
    infos = {}
    if wait == "commit" and accepted:
        infos = await runtime.committer.wait_for(accepted, timeout)
    # The documented SubmitResultPublic shape, built as plain dicts (pydantic per transaction was a
    # measurable share of a node's CPU per transaction; tests compare the two).
    public = [
        submit_result_dict(result.tx_hash, result.error, infos.get(result.tx_hash) if result.tx_hash else None)
        for result in results
    ]
    request.app.state.metrics.observe_submitted(len(accepted), len(results) - len(accepted))
    if batch:
        return JSONResponse(public)
    single = results[0]
    if single.error is not None:
        raise single.error
    status = 202 if wait == "commit" and not public[0]["committed"] else 200
    return JSONResponse(public[0], status_code=status)


@router.get("/{tx_hash}", response_model=TxPublic, summary="A transaction and its result; ?proof=true for a proof bundle",
            responses={409: {"description": "PROOF_PENDING"}})
async def get_transaction(
    runtime: RuntimeDep, tx_hash: str, proof: bool = False,
    wait: Annotated[Literal["none", "commit"], Query()] = "none",
    timeout: Annotated[float, Query(gt=0, le=120)] = 30.0,
) -> Any:
    ledger = runtime.ledger
    raw_hash = parse_hash(tx_hash, "tx hash")
    if wait == "commit":
        await runtime.committer.wait_for([raw_hash], timeout)
    if proof:
        bundle = await run_in_threadpool(build_transaction_bundle, ledger, raw_hash)
        return JSONResponse(bundle)

    def load() -> TxPublic:
        stored = ledger.get_transaction(raw_hash)
        return tx_public(stored.transaction, stored.info, stored.accumulator_index, ledger.get_tx_events(raw_hash))

    return await run_in_threadpool(load)

