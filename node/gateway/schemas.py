"""Output models of the gateway (``XPublic``) and the conversions from ledger records.

JSON conventions: hashes, public keys, signatures and other binary fields are base58 strings;
addresses are already base58; stored values are ``{type, value}`` exactly as in proof bundles
(:func:`ledger.proofs.typed_value_to_json`), so a client compares a query and a proof directly.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from typing import Any, Generic, Sequence, TypeVar

from pydantic import BaseModel, Field

from ledger.crypto import PublicKey, address_from_public_key, algorithm_by_code, to_base58
from ledger.errors import CryptoError, JadechainError
from ledger.proofs import typed_value_to_json
from ledger.types import (
    AccountRecord,
    BlockHeader,
    ContractRecord,
    EntryRecord,
    Event,
    LedgerSettings,
    ParticipantRecord,
    RoleRecord,
    Transaction,
    TransactionInfo,
)
from ledger.values import TypedValue

T = TypeVar("T")


# --- models ----------------------------------------------------------------------------------

class ErrorPublic(BaseModel):
    code: str = Field(description="Stable error code (see ledger.errors).")
    message: str


class Page(BaseModel, Generic[T]):
    total: int = Field(description="Number of items in the whole collection.")
    offset: int
    limit: int
    items: list[T]


class TypedValuePublic(BaseModel):
    type: str
    value: Any


class LedgerSummaryPublic(BaseModel):
    hash: str
    height: int


class SettingsPublic(BaseModel):
    hash_algorithm: str
    signature_algorithms: list[str]
    consensus: Any
    max_tx_bytes: int
    max_ops_per_tx: int
    default_gas_limit: int
    governance: Any = Field(None, description="Member organisations, weights and the per-operation policy table.")
    contract_engine: str = Field("", description="Contract engine identity recorded at genesis (empty: the deprecated legacy sandbox).")


class LedgerPublic(BaseModel):
    hash: str
    height: int
    latest_block_hash: str
    transactions: int = Field(description="Transactions in the accumulator (every executed tx).")
    state_root: str
    accumulator_root: str
    settings: SettingsPublic
    validators: list[str]


class ParticipantPublic(BaseModel):
    address: str
    name: str
    public_key: str
    state: str
    registered_height: int
    organization: str = ""


class BlockPublic(BaseModel):
    height: int
    hash: str
    ledger_hash: str
    previous_hash: str
    tx_root: str
    tx_count: int
    state_root: str = Field(description="State root after the previous block (pipelined).")
    accumulator_root: str
    accumulator_size: int
    time: int
    proposer: str
    epoch: int
    certified: bool


RESULTS_DESCRIPTION = ("One per operation when the transaction succeeded and invoked a contract: an InvokeContract's "
                       "return value, NIL for the other operations; empty otherwise.")


class TxResultPublic(BaseModel):
    tx_hash: str
    status: str
    height: int
    index: int
    gas_used: int
    results: list[TypedValuePublic] = Field(default_factory=list, description=RESULTS_DESCRIPTION)


class TxPublic(BaseModel):
    hash: str
    status: str
    height: int
    index: int
    gas_used: int
    accumulator_index: int
    ledger_hash: str
    time: int
    nonce: str
    expiry: int
    signers: list[str]
    operations: list[dict[str, Any]]
    events: list[dict[str, Any]]
    results: list[TypedValuePublic] = Field(default_factory=list, description=RESULTS_DESCRIPTION)


class SubmitResultPublic(BaseModel):
    tx_hash: str | None
    accepted: bool
    error: ErrorPublic | None = None
    committed: bool = False
    result: TxResultPublic | None = None


class AccountPublic(BaseModel):
    address: str
    kind: str
    public_key: str
    state: str
    owners: list[str]
    created_height: int
    name: str
    write_policy: str
    organization: str = Field("", description="The member organisation that registered and administers it.")


class ContractPublic(BaseModel):
    address: str
    code_hash: str
    version: int
    state: str
    owners: list[str]
    deployed_height: int
    updated_height: int
    source: str | None = None


class EntryPublic(BaseModel):
    account: str
    key: str
    version: int
    value: TypedValuePublic
    height: int
    tx_hash: str


class EntryKeyPublic(BaseModel):
    key: str
    latest_version: int


class EventPublic(BaseModel):
    account: str
    topic: str
    sequence: int
    content: TypedValuePublic
    tx_hash: str
    height: int


class CallResultPublic(BaseModel):
    """A read-only call's answer; nothing of it was written."""

    status: str = Field(description='"SUCCESS" or the stable error code the method failed with.')
    value: TypedValuePublic = Field(description="The method's return value (NIL if it failed).")
    gas_used: int
    message: str | None = Field(None, description="The failure's message.")
    height: int = Field(description="The committed height the call ran on (as the next block would).")
    events: list[EventPublic] = Field(default_factory=list, description="Events it would have published.")


class TopicPublic(BaseModel):
    topic: str
    latest_sequence: int


class RolePublic(BaseModel):
    role: str
    ledger_permissions: list[str]
    tx_permissions: list[str]


class UserRolesPublic(BaseModel):
    user: str
    roles: list[str]
    policy: str


class HealthPublic(BaseModel):
    status: str
    ledgers: dict[str, int]


# --- conversions -----------------------------------------------------------------------------

def to_json(value: Any) -> Any:
    """Generic JSON form of a ledger record: bytes → base58, enums → names, values → {type, value}."""
    if isinstance(value, TypedValue):
        return typed_value_to_json(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (bytes, bytearray)):
        return to_base58(bytes(value)) if value else ""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def operation_to_json(operation: Any) -> dict[str, Any]:
    body = to_json(operation)
    if not isinstance(body, dict):
        raise TypeError(f"{type(operation).__name__} is not an operation record")
    return {"type": type(operation).__name__, **body}


def algorithm_names(codes: tuple[int, ...]) -> list[str]:
    names = []
    for code in codes:
        try:
            names.append(algorithm_by_code(code).name)
        except CryptoError:
            names.append(str(code))
    return names


def settings_public(settings: LedgerSettings) -> SettingsPublic:
    return SettingsPublic(
        hash_algorithm=algorithm_by_code(settings.hash_algorithm).name,
        signature_algorithms=algorithm_names(settings.signature_algorithms),
        consensus=settings.consensus.to_python(),
        max_tx_bytes=settings.max_tx_bytes,
        max_ops_per_tx=settings.max_ops_per_tx,
        default_gas_limit=settings.default_gas_limit,
        governance=settings.governance.to_python(),
        contract_engine=settings.contract_engine,
    )


def block_public(header: BlockHeader, block_hash: bytes, certified: bool) -> BlockPublic:
    return BlockPublic(
        height=header.height, hash=to_base58(block_hash), ledger_hash=to_json(header.ledger_hash),
        previous_hash=to_json(header.previous_hash), tx_root=to_json(header.tx_root),
        tx_count=header.tx_count, state_root=to_json(header.state_root),
        accumulator_root=to_json(header.accumulator_root), accumulator_size=header.accumulator_size,
        time=header.time, proposer=to_json(header.proposer), epoch=header.epoch, certified=certified,
    )


def tx_result_public(info: TransactionInfo) -> TxResultPublic:
    return TxResultPublic(
        tx_hash=to_base58(info.tx_hash), status=info.status, height=info.height, index=info.index,
        gas_used=info.gas_used, results=typed_results(info.results),
    )


def typed_results(values: Sequence[TypedValue]) -> list[TypedValuePublic]:
    return [TypedValuePublic(**typed_value_to_json(value)) for value in values]


def typed_results_plain(values: Sequence[TypedValue]) -> list[dict[str, Any]]:
    """``[r.model_dump() for r in typed_results(values)]``, built directly."""
    return [typed_value_to_json(value) for value in values]


def tx_result_json(info: TransactionInfo) -> str:
    """``tx_result_public(info).model_dump_json()``, written directly (one per transaction in the stream)."""
    results = (json.dumps(typed_results_plain(info.results), ensure_ascii=False, separators=(",", ":"))
               if info.results else "[]")
    return (
        f'{{"tx_hash":"{_tx_hash_text(info.tx_hash)}","status":{_status_json(info.status)},'
        f'"height":{int(info.height)},"index":{int(info.index)},"gas_used":{int(info.gas_used)},'
        f'"results":{results}}}'
    )


_tx_hash_text = functools.lru_cache(maxsize=1 << 14)(to_base58)
"""``to_base58`` of transaction hashes, remembered: a node shows each accepted transaction's hash in
the submit answer and again in its stream message (and the ``wait=commit`` answer) within about a
second; 16,384 hashes is several seconds of traffic at full rate (about 3 MB)."""


@functools.lru_cache(maxsize=512)
def _status_json(status: str) -> str:
    """A status as a JSON string (statuses are "SUCCESS" and the stable error codes: a few dozen)."""
    return json.dumps(status, ensure_ascii=False)


def tx_result_dict(info: TransactionInfo) -> dict[str, Any]:
    """``tx_result_public(info).model_dump()``, built directly."""
    return {"tx_hash": _tx_hash_text(info.tx_hash), "status": info.status, "height": info.height, "index": info.index,
            "gas_used": info.gas_used, "results": typed_results_plain(info.results)}


def submit_result_dict(tx_hash: bytes | None, error: JadechainError | None, info: TransactionInfo | None) -> dict[str, Any]:
    """``SubmitResultPublic`` of one submission as ``model_dump()`` gives it, built directly (one per
    submitted transaction, on the submit path)."""
    return {
        "tx_hash": None if tx_hash is None else _tx_hash_text(tx_hash),
        "accepted": error is None,
        "error": None if error is None else {"code": error.code, "message": error.message},
        "committed": info is not None,
        "result": None if info is None else tx_result_dict(info),
    }


def signer_address(public_key: bytes) -> str:
    try:
        return address_from_public_key(PublicKey.from_encoded(public_key))
    except CryptoError:
        return ""


def event_public(event: Event) -> EventPublic:
    return EventPublic(
        account=event.account, topic=event.topic, sequence=event.sequence,
        content=TypedValuePublic(**typed_value_to_json(event.content)), tx_hash=to_base58(event.tx_hash),
        height=event.height,
    )


def tx_public(tx: Transaction, info: TransactionInfo, accumulator_index: int, events: list[Event]) -> TxPublic:
    return TxPublic(
        hash=to_base58(info.tx_hash), status=info.status, height=info.height, index=info.index,
        gas_used=info.gas_used, accumulator_index=accumulator_index,
        ledger_hash=to_base58(tx.content.ledger_hash), time=tx.content.time,
        nonce=tx.content.nonce.hex(), expiry=tx.content.expiry,
        signers=[signer_address(s.public_key) for s in tx.signatures],
        operations=[operation_to_json(op) for op in tx.content.operations],
        events=[event_public(e).model_dump() for e in events], results=typed_results(info.results),
    )


def account_public(record: AccountRecord) -> AccountPublic:
    return AccountPublic(
        address=record.address, kind=record.kind.name, public_key=to_json(record.public_key),
        state=record.state.name, owners=list(record.owners), created_height=record.created_height,
        name=record.name, write_policy=record.write_policy.name, organization=record.organization,
    )


def contract_public(record: ContractRecord, with_source: bool) -> ContractPublic:
    return ContractPublic(
        address=record.address, code_hash=to_json(record.code_hash), version=record.version,
        state=record.state.name, owners=list(record.owners), deployed_height=record.deployed_height,
        updated_height=record.updated_height, source=record.source if with_source else None,
    )


def entry_public(record: EntryRecord) -> EntryPublic:
    return EntryPublic(
        account=record.account, key=record.key, version=record.version,
        value=TypedValuePublic(**typed_value_to_json(record.value)), height=record.height,
        tx_hash=to_base58(record.tx_hash),
    )


def participant_public(record: ParticipantRecord) -> ParticipantPublic:
    return ParticipantPublic(
        address=record.address, name=record.name, public_key=to_base58(record.public_key),
        state=record.state.name, registered_height=record.registered_height, organization=record.organization,
    )


def role_public(record: RoleRecord) -> RolePublic:
    return RolePublic(
        role=record.role, ledger_permissions=[p.name for p in record.ledger_permissions],
        tx_permissions=[p.name for p in record.tx_permissions],
    )
