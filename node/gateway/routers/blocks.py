"""Blocks: latest, by height, by hash, and a block's transactions (paged)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ledger.ledger import Ledger
from node.gateway.deps import RuntimeDep, parse_hash
from node.gateway.schemas import BlockPublic, Page, TxResultPublic, block_public, tx_result_public

router = APIRouter(prefix="/api/v1/ledgers/{ledger}/blocks", tags=["blocks"])

Height = Annotated[int, Path(ge=0, le=2**62, description="Block height.")]


def _block(ledger: Ledger, height: int) -> BlockPublic:
    header = ledger.get_header(height)
    return block_public(header, ledger.hash_header(header), ledger.get_certificate(height) is not None)


@router.get("/latest", response_model=BlockPublic)
def latest_block(runtime: RuntimeDep) -> BlockPublic:
    return _block(runtime.ledger, runtime.ledger.height)


@router.get("/hash/{block_hash}", response_model=BlockPublic, summary="A block by its hash (base58)")
def block_by_hash(runtime: RuntimeDep, block_hash: Annotated[str, Path(max_length=200)]) -> BlockPublic:
    ledger = runtime.ledger
    return _block(ledger, ledger.get_height_by_hash(parse_hash(block_hash, "block hash")))


@router.get("/{height}", response_model=BlockPublic)
def block_by_height(runtime: RuntimeDep, height: Height) -> BlockPublic:
    return _block(runtime.ledger, height)


@router.get("/{height}/txs", response_model=Page[TxResultPublic],
            summary="The results of a block's executed transactions (paged)")
def block_transactions(
    runtime: RuntimeDep, height: Height,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[TxResultPublic]:
    ledger = runtime.ledger
    hashes = ledger.get_block_tx_hashes(height)
    items = [tx_result_public(ledger.get_transaction(h).info) for h in hashes[offset:offset + limit]]
    return Page[TxResultPublic](total=len(hashes), offset=offset, limit=limit, items=items)

