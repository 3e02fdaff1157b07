"""The SDK's values: results, stream messages and the errors a gateway answers (shared by both clients).

Every result read from a gateway is a frozen, slotted dataclass built by its ``from_json``, which checks the
answer's shape field by field: a malformed answer raises :class:`MalformedAnswer` (code ``MALFORMED_ANSWER``)
naming the field, never ``KeyError`` or ``TypeError``. Stored values arrive as ``{type, value}`` pairs and are
decoded to their plain Python value (``BYTES`` as ``bytes``); the type name stays beside them. ``raw`` keeps the
gateway's JSON as it came, for anything a model does not name; ``to_json`` gives the gateway's form back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import KeyPair
from ledger.errors import JadechainError, TrustAnchorRequired
from ledger.governance import parse_proposal_id
from ledger.proofs import VerificationReport, verify_bundle
from ledger.transactions import TransactionBuilder
from ledger.values import ValueType

__all__ = [
    "Account", "Answer", "ApiError", "Block", "CallResult", "Entry", "Event", "GatewaysUnavailable", "LedgerInfo", "LedgerSettingsInfo",
    "MalformedAnswer", "Page", "Proposal", "ProposalVote", "StreamMessage", "TransactionRecord", "TxResult",
    "call_transaction", "proposal_key_of", "typed_json", "verify_pinned",
]

T = TypeVar("T")


class ApiError(JadechainError):
    """An error answered by a gateway: its stable ``code``, ``message`` and HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]
        self.http_status = status  # type: ignore[misc]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class GatewaysUnavailable(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("GATEWAYS_UNAVAILABLE", message, 503)


class MalformedAnswer(ApiError):
    """A gateway answered 2xx with JSON that is not the shape of the result asked for (a field missing or of the
    wrong type): the message names the result and the field. HTTP status 502, as a proxy reports a bad upstream."""

    def __init__(self, message: str) -> None:
        super().__init__("MALFORMED_ANSWER", message, 502)


PLAIN_TYPES: dict[str, type | tuple[type, ...]] = {
    ValueType.NIL.name: type(None), ValueType.TEXT.name: str, ValueType.INT64.name: int,
    ValueType.BYTES.name: str, ValueType.JSON.name: object, ValueType.BOOLEAN.name: bool,
}
"""Each stored value type by name, and what its ``value`` is in JSON (BYTES travel as hex text)."""


class Answer:
    """One JSON object of a gateway answer, read field by field: each getter checks the field's type and raises
    :class:`MalformedAnswer` naming ``what`` and the field when it is missing or of another type."""

    def __init__(self, what: str, data: object) -> None:
        if not isinstance(data, dict):
            raise MalformedAnswer(f"{what}: expected a JSON object, got {type(data).__name__}")
        self.what = what
        self.data: dict[str, Any] = data

    def bad(self, name: str, expected: str) -> MalformedAnswer:
        """The error for field ``name`` not being ``expected`` (what it holds named)."""
        found = type(self.data[name]).__name__ if name in self.data else "nothing"
        return MalformedAnswer(f"{self.what}.{name}: expected {expected}, got {found}")

    def _get(self, name: str, kind: type, expected: str) -> Any:
        value = self.data.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.bad(name, expected)
        return value

    def text(self, name: str) -> str:
        value: str = self._get(name, str, "a string")
        return value

    def integer(self, name: str) -> int:
        value: int = self._get(name, int, "an integer")
        return value

    def flag(self, name: str) -> bool:
        value: bool = self._get(name, bool, "true or false")
        return value

    def optional_text(self, name: str, default: str | None = None) -> str | None:
        return default if self.data.get(name) is None else self.text(name)

    def mapping(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = self._get(name, dict, "an object")
        return value

    def texts(self, name: str, *, optional: bool = False) -> tuple[str, ...]:
        items = self.items(name, optional=optional)
        if not all(isinstance(item, str) for item in items):
            raise self.bad(name, "a list of strings")
        return tuple(items)

    def items(self, name: str, *, optional: bool = False) -> list[Any]:
        if optional and self.data.get(name) is None:
            return []
        value: list[Any] = self._get(name, list, "a list")
        return value

    def typed(self, name: str) -> tuple[Any, str]:
        """A ``{type, value}`` pair as (plain value, type name)."""
        return _typed(f"{self.what}.{name}", self.data.get(name))


def _typed(what: str, data: object) -> tuple[Any, str]:
    """A gateway's ``{type, value}`` as (plain value, type name): ``BYTES`` hex becomes bytes."""
    pair = Answer(what, data)
    type_name = pair.text("type")
    if type_name not in PLAIN_TYPES:
        raise MalformedAnswer(f"{what}.type: unknown value type {type_name!r}")
    value = pair.data.get("value")
    if not isinstance(value, PLAIN_TYPES[type_name]) or (type_name == "INT64" and isinstance(value, bool)):
        raise pair.bad("value", f"a {type_name} value")
    if type_name != "BYTES":
        return value, type_name
    try:
        return bytes.fromhex(str(value)), type_name
    except ValueError:
        raise MalformedAnswer(f"{what}.value: BYTES that are not hex") from None


def typed_json(value: Any, type_name: str) -> dict[str, Any]:
    """A plain value and its type name back as the gateway's ``{type, value}`` (``BYTES`` as hex)."""
    return {"type": type_name, "value": value.hex() if isinstance(value, (bytes, bytearray)) else value}


def _raw() -> Any:
    """The ``raw`` field of a result: the gateway's JSON as it came, out of its repr and its equality."""
    return field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TxResult:
    """A submitted transaction: its hash and, once committed, its on-chain result."""

    tx_hash: str
    committed: bool
    status: str | None = None
    """"SUCCESS" or the stable error code recorded on chain; None if not committed yet."""
    height: int | None = None
    index: int | None = None
    gas_used: int | None = None
    results: tuple[Any, ...] = ()
    """What the operations returned (plain values) when the transaction invoked a contract and succeeded:
    an invocation's return value, None for the other operations; empty otherwise."""
    result_types: tuple[str, ...] = ()
    """The stored type of each of ``results`` (NIL, TEXT, INT64, BYTES, JSON or BOOLEAN)."""

    @property
    def return_value(self) -> Any:
        """The last operation's result: a one-invocation transaction's return value (None if none)."""
        return self.results[-1] if self.results else None

    @classmethod
    def from_json(cls, data: object) -> "TxResult":
        """From a submit answer (``{tx_hash, committed, result}``)."""
        answer = Answer("TxResult", data)
        tx_hash, committed = answer.text("tx_hash"), bool(answer.data.get("committed"))
        if answer.data.get("result") is None:
            return cls(tx_hash, committed)
        result = Answer("TxResult.result", answer.data["result"])
        return cls(tx_hash, committed, result.text("status"), result.integer("height"), result.integer("index"),
                   result.integer("gas_used"), *_typed_values(result, "results"))

    @classmethod
    def from_tx(cls, tx_hash: str, data: object) -> "TxResult":
        """From a committed transaction as ``GET .../txs/{hash}`` shows it."""
        answer = Answer("TxResult", data)
        return cls(tx_hash, True, answer.text("status"), answer.integer("height"), answer.integer("index"),
                   answer.integer("gas_used"), *_typed_values(answer, "results"))

    @classmethod
    def from_result_json(cls, data: object) -> "TxResult":
        """From one committed result as a block's transaction page lists it (``{tx_hash, status, ...}``)."""
        return cls.from_tx(Answer("TxResult", data).text("tx_hash"), data)

    def to_json(self) -> dict[str, Any]:
        """A committed result as the gateway lists it (``{tx_hash, status, height, index, gas_used, results}``)."""
        return {"tx_hash": self.tx_hash, "status": self.status, "height": self.height, "index": self.index,
                "gas_used": self.gas_used, "results": _typed_list(self.results, self.result_types)}


def _typed_values(answer: Answer, name: str) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """A list of ``{type, value}`` pairs as (their plain values, their type names); absent: none."""
    pairs = [_typed(f"{answer.what}.{name}[{i}]", pair) for i, pair in enumerate(answer.items(name, optional=True))]
    return tuple(value for value, _ in pairs), tuple(type_name for _, type_name in pairs)


def _typed_list(values: Sequence[Any], type_names: Sequence[str]) -> list[dict[str, Any]]:
    return [typed_json(value, type_name) for value, type_name in zip(values, type_names, strict=True)]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A read-only call's answer (``LedgerClient.call``); nothing of it was written."""

    status: str
    """"SUCCESS" or the stable error code the method failed with."""
    value: Any
    """The method's return value (None if it failed)."""
    gas_used: int
    height: int
    """The committed height the call ran on."""
    message: str | None = None
    events: tuple[Event, ...] = ()
    """The events it would have published."""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"

    @classmethod
    def from_json(cls, data: object) -> "CallResult":
        answer = Answer("CallResult", data)
        value, _ = answer.typed("value")
        return cls(answer.text("status"), value, answer.integer("gas_used"), answer.integer("height"),
                   answer.optional_text("message"),
                   tuple(Event.from_json(event) for event in answer.items("events", optional=True)))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paged collection: ``items`` from ``offset`` of ``total`` (iterate it like its items)."""

    total: int
    """Items in the whole collection."""
    offset: int
    limit: int
    items: tuple[T, ...]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]

    @classmethod
    def from_json(cls, data: object, item: Callable[[object], T]) -> "Page[T]":
        """From ``{total, offset, limit, items}``, each item read by ``item`` (a model's ``from_json``)."""
        answer = Answer("Page", data)
        return cls(answer.integer("total"), answer.integer("offset"), answer.integer("limit"),
                   tuple(item(one) for one in answer.items("items")))


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    """One ledger a gateway hosts, as ``GET /api/v1/ledgers`` lists it."""

    hash: str
    height: int
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "LedgerSummary":
        answer = Answer("LedgerSummary", data)
        return cls(answer.text("hash"), answer.integer("height"), answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "hash": self.hash, "height": self.height}


@dataclass(frozen=True, slots=True)
class LedgerSettingsInfo:
    """A ledger's settings as its gateway reports them (algorithms by name)."""

    hash_algorithm: str
    signature_algorithms: tuple[str, ...]
    max_tx_bytes: int
    max_ops_per_tx: int
    default_gas_limit: int
    consensus: Any
    """The consensus parameters (their JSON form)."""
    governance: Any
    """Member organisations, weights and the per-operation policy table (their JSON form; None if unset)."""
    contract_engine: str
    """The contract engine recorded at genesis (empty: the deprecated legacy sandbox)."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "LedgerSettingsInfo":
        answer = Answer("LedgerSettingsInfo", data)
        return cls(answer.text("hash_algorithm"), answer.texts("signature_algorithms"), answer.integer("max_tx_bytes"),
                   answer.integer("max_ops_per_tx"), answer.integer("default_gas_limit"), answer.data.get("consensus"),
                   answer.data.get("governance"), answer.optional_text("contract_engine", "") or "", answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "hash_algorithm": self.hash_algorithm, "signature_algorithms": list(self.signature_algorithms),
                "max_tx_bytes": self.max_tx_bytes, "max_ops_per_tx": self.max_ops_per_tx,
                "default_gas_limit": self.default_gas_limit, "consensus": self.consensus, "governance": self.governance,
                "contract_engine": self.contract_engine}


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    """A ledger's head and settings (``ledger.info()``)."""

    hash: str
    """The ledger hash (base58): its identity, the hash of its genesis."""
    height: int
    """The latest committed block's height."""
    latest_block_hash: str
    transactions: int
    """Transactions in the accumulator (every executed transaction)."""
    state_root: str
    accumulator_root: str
    settings: LedgerSettingsInfo
    validators: tuple[str, ...]
    """The validators' public keys (base58), as this gateway reports them: pin your own for real trust."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "LedgerInfo":
        answer = Answer("LedgerInfo", data)
        return cls(answer.text("hash"), answer.integer("height"), answer.text("latest_block_hash"),
                   answer.integer("transactions"), answer.text("state_root"), answer.text("accumulator_root"),
                   LedgerSettingsInfo.from_json(answer.mapping("settings")), answer.texts("validators"), answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "hash": self.hash, "height": self.height, "latest_block_hash": self.latest_block_hash,
                "transactions": self.transactions, "state_root": self.state_root,
                "accumulator_root": self.accumulator_root, "settings": self.settings.to_json(),
                "validators": list(self.validators)}


@dataclass(frozen=True, slots=True)
class Block:
    """A block header as a gateway shows it (hashes and keys base58)."""

    height: int
    hash: str
    ledger_hash: str
    previous_hash: str
    tx_root: str
    tx_count: int
    state_root: str
    """The state root after the previous block (execution is pipelined)."""
    accumulator_root: str
    accumulator_size: int
    time: int
    """The proposer's block time, milliseconds since the epoch."""
    proposer: str
    epoch: int
    certified: bool
    """Whether the gateway holds a quorum certificate for it."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "Block":
        answer = Answer("Block", data)
        return cls(answer.integer("height"), answer.text("hash"), answer.text("ledger_hash"),
                   answer.text("previous_hash"), answer.text("tx_root"), answer.integer("tx_count"),
                   answer.text("state_root"), answer.text("accumulator_root"), answer.integer("accumulator_size"),
                   answer.integer("time"), answer.text("proposer"), answer.integer("epoch"), answer.flag("certified"),
                   answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "height": self.height, "hash": self.hash, "ledger_hash": self.ledger_hash,
                "previous_hash": self.previous_hash, "tx_root": self.tx_root, "tx_count": self.tx_count,
                "state_root": self.state_root, "accumulator_root": self.accumulator_root,
                "accumulator_size": self.accumulator_size, "time": self.time, "proposer": self.proposer,
                "epoch": self.epoch, "certified": self.certified}


@dataclass(frozen=True, slots=True)
class Event:
    """One event of an account's topic; ``content`` is its plain value (``BYTES`` as bytes)."""

    account: str
    topic: str
    sequence: int
    """Its position in the topic, from 0."""
    content: Any
    content_type: str
    """The stored type of ``content``: NIL, TEXT, INT64, BYTES, JSON or BOOLEAN."""
    tx_hash: str
    height: int
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "Event":
        answer = Answer("Event", data)
        content, content_type = answer.typed("content")
        return cls(answer.text("account"), answer.text("topic"), answer.integer("sequence"), content, content_type,
                   answer.text("tx_hash"), answer.integer("height"), answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "account": self.account, "topic": self.topic, "sequence": self.sequence,
                "content": typed_json(self.content, self.content_type), "tx_hash": self.tx_hash, "height": self.height}


@dataclass(frozen=True, slots=True)
class Entry:
    """One version of a key-value entry; ``value`` is its plain value (``BYTES`` as bytes, JSON decoded)."""

    account: str
    key: str
    version: int
    """Its version, from 0 (each write adds one)."""
    value: Any
    value_type: str
    """The stored type of ``value``: NIL, TEXT, INT64, BYTES, JSON or BOOLEAN."""
    height: int
    """The block that wrote this version."""
    tx_hash: str
    """The transaction that wrote it (base58)."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "Entry":
        answer = Answer("Entry", data)
        value, value_type = answer.typed("value")
        return cls(answer.text("account"), answer.text("key"), answer.integer("version"), value, value_type,
                   answer.integer("height"), answer.text("tx_hash"), answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "account": self.account, "key": self.key, "version": self.version,
                "value": typed_json(self.value, self.value_type), "height": self.height, "tx_hash": self.tx_hash}


@dataclass(frozen=True, slots=True)
class Account:
    """An account (user, data, event or contract account)."""

    address: str
    kind: str
    """USER, DATA, EVENT or CONTRACT."""
    public_key: str
    state: str
    """NORMAL, FROZEN or REVOKED."""
    owners: tuple[str, ...]
    created_height: int
    name: str
    write_policy: str
    organization: str
    """The member organisation that registered and administers it."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "Account":
        answer = Answer("Account", data)
        return cls(answer.text("address"), answer.text("kind"), answer.text("public_key"), answer.text("state"),
                   answer.texts("owners"), answer.integer("created_height"), answer.text("name"),
                   answer.text("write_policy"), answer.optional_text("organization", "") or "", answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "address": self.address, "kind": self.kind, "public_key": self.public_key,
                "state": self.state, "owners": list(self.owners), "created_height": self.created_height,
                "name": self.name, "write_policy": self.write_policy, "organization": self.organization}


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A committed transaction: what it asked (operations, signers) and what it did (status, events, results)."""

    tx_hash: str
    status: str
    """"SUCCESS" or the stable error code recorded on chain."""
    height: int
    index: int
    """Its position in the block."""
    gas_used: int
    accumulator_index: int
    ledger_hash: str
    time: int
    """The client's timestamp, milliseconds since the epoch."""
    nonce: str
    expiry: int
    signers: tuple[str, ...]
    """The addresses of the keys that signed it."""
    operations: tuple[dict[str, Any], ...]
    """Its decoded operations, each ``{type, ...fields}``."""
    events: tuple[Event, ...]
    results: tuple[Any, ...]
    """What its operations returned (plain values), as :attr:`TxResult.results`."""
    result_types: tuple[str, ...]
    """The stored type of each of ``results``."""
    raw: dict[str, Any] = _raw()

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def return_value(self) -> Any:
        """The last operation's result: a one-invocation transaction's return value (None if none)."""
        return self.results[-1] if self.results else None

    @classmethod
    def from_json(cls, data: object) -> "TransactionRecord":
        answer = Answer("TransactionRecord", data)
        operations = answer.items("operations")
        if not all(isinstance(operation, dict) for operation in operations):
            raise answer.bad("operations", "a list of objects")
        return cls(answer.text("hash"), answer.text("status"), answer.integer("height"), answer.integer("index"),
                   answer.integer("gas_used"), answer.integer("accumulator_index"), answer.text("ledger_hash"),
                   answer.integer("time"), answer.text("nonce"), answer.integer("expiry"), answer.texts("signers"),
                   tuple(operations), tuple(Event.from_json(event) for event in answer.items("events")),
                   *_typed_values(answer, "results"), answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "hash": self.tx_hash, "status": self.status, "height": self.height, "index": self.index,
                "gas_used": self.gas_used, "accumulator_index": self.accumulator_index, "ledger_hash": self.ledger_hash,
                "time": self.time, "nonce": self.nonce, "expiry": self.expiry, "signers": list(self.signers),
                "operations": [dict(operation) for operation in self.operations],
                "events": [event.to_json() for event in self.events],
                "results": _typed_list(self.results, self.result_types)}


@dataclass(frozen=True, slots=True)
class ProposalVote:
    """One organisation's vote on a proposal."""

    approve: bool
    voter: str
    """The address of the user who cast it for the organisation."""
    height: int


@dataclass(frozen=True, slots=True)
class Proposal:
    """A governance proposal with its votes and outcome, as of the latest block."""

    id: str
    """Hex of the proposing transaction's hash (the key of its governance entry)."""
    status: str
    """OPEN, EXECUTED, REJECTED, FAILED or EXPIRED (an OPEN proposal past its expiry)."""
    proposer: str
    organization: str
    """The proposer's organisation: the governed operations run as it."""
    reason: str
    operations: str
    """The proposed operations' canonical encoding (hex)."""
    kinds: tuple[str, ...]
    """The proposed operations' type names."""
    policies: tuple[str, ...]
    """The policy that decides each operation."""
    created_height: int
    expiry: int
    """Block time (ms) after which it can no longer be decided."""
    votes: dict[str, ProposalVote]
    """Organisation → its vote."""
    decided_height: int
    """The height it was decided at; -1 while OPEN."""
    result: str
    """The stable error code a FAILED proposal's operations raised; empty otherwise."""
    raw: dict[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: object) -> "Proposal":
        answer = Answer("Proposal", data)
        votes = {}
        for organization, vote in answer.mapping("votes").items():
            cast = Answer(f"Proposal.votes[{organization!r}]", vote)
            votes[organization] = ProposalVote(cast.flag("approve"), cast.text("voter"), cast.integer("height"))
        return cls(answer.text("id"), answer.text("status"), answer.text("proposer"), answer.text("organization"),
                   answer.optional_text("reason", "") or "", answer.text("operations"),
                   answer.texts("kinds", optional=True), answer.texts("policies", optional=True),
                   answer.integer("created_height"), answer.integer("expiry"), votes, answer.integer("decided_height"),
                   answer.optional_text("result", "") or "", answer.data)

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "id": self.id, "status": self.status, "proposer": self.proposer,
                "organization": self.organization, "reason": self.reason, "operations": self.operations,
                "kinds": list(self.kinds), "policies": list(self.policies), "created_height": self.created_height,
                "expiry": self.expiry,
                "votes": {org: {"approve": v.approve, "voter": v.voter, "height": v.height} for org, v in self.votes.items()},
                "decided_height": self.decided_height, "result": self.result}


def call_transaction(builder: TransactionBuilder, address: str, method: str, args: Sequence[Any],
                     signer: KeyPair, gas_limit: int) -> dict[str, str]:
    """The body of ``POST .../call``: a signed one-invocation transaction, never submitted."""
    tx = builder.invoke(address, method, *args, gas_limit=gas_limit).sign(signer)
    return {"tx": codec.encode(tx).hex()}


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One message of the push stream: ``id`` is ``height:index``; ``kind`` block, tx or event."""

    id: str
    kind: str
    data: dict[str, Any]
    """The message as the gateway sent it; :attr:`value` is the same, typed."""

    @property
    def height(self) -> int:
        return int(self.id.split(":")[0])

    @property
    def value(self) -> "Block | TxResult | Event":
        """The typed message: a :class:`Block` header, a committed :class:`TxResult` or an :class:`Event`
        (``MalformedAnswer`` for another kind or a malformed message)."""
        if self.kind == "block":
            return Block.from_json(self.data)
        if self.kind == "tx":
            return TxResult.from_result_json(self.data)
        if self.kind == "event":
            return Event.from_json(self.data)
        raise MalformedAnswer(f"stream message {self.id}: unknown kind {self.kind!r}")


def proposal_key_of(proposal_id: str) -> str:
    """The governance entry key of a proposal: hex of the proposing transaction's hash (hex or base58 given)."""
    return parse_proposal_id(proposal_id)


def verify_pinned(
    bundle: dict[str, Any], *, ledger_hash: str | bytes | None = None, trusted_validators: ValidatorSet | None = None,
) -> VerificationReport:
    """Check a proof bundle offline (``jadechain.verify``); refuses with ``TrustAnchorRequired`` when nothing is
    pinned: the expected ``ledger_hash`` or a ``trusted_validators`` set you obtained yourself."""
    if ledger_hash is None and trusted_validators is None:
        raise TrustAnchorRequired(
            "pin the ledger you trust: verify(bundle, ledger_hash=EXPECTED_HASH) or trusted_validators=SET"
        )
    return verify_bundle(bundle, ledger_hash=ledger_hash, trusted_validators=trusted_validators)


def _parse_sse_lines() -> Callable[[str], StreamMessage | None]:
    """An incremental SSE parser: feed it lines, it returns a message at each blank line."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []

    def feed(line: str) -> StreamMessage | None:
        nonlocal event_id, kind, data
        if line == "":
            message = StreamMessage(event_id, kind, json.loads("\n".join(data))) if data and event_id is not None else None
            event_id, kind, data = None, "message", []
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        return None

    return feed
