"""The SDK's values: results, stream messages and the errors a gateway answers (shared by both clients)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import KeyPair
from ledger.errors import JadechainError, TrustAnchorRequired
from ledger.governance import parse_proposal_id
from ledger.proofs import VerificationReport, verify_bundle
from ledger.transactions import TransactionBuilder

__all__ = [
    "ApiError", "CallResult", "GatewaysUnavailable", "StreamMessage", "TxResult", "call_transaction", "plain_value",
    "proposal_key_of", "verify_pinned",
]


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

    @property
    def return_value(self) -> Any:
        """The last operation's result: a one-invocation transaction's return value (None if none)."""
        return self.results[-1] if self.results else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TxResult":
        """From a submit answer (``{tx_hash, committed, result}``)."""
        result = data.get("result") or {}
        return cls(
            tx_hash=data["tx_hash"], committed=bool(data.get("committed")), status=result.get("status"),
            height=result.get("height"), index=result.get("index"), gas_used=result.get("gas_used"),
            results=tuple(plain_value(item) for item in result.get("results") or ()),
        )

    @classmethod
    def from_tx(cls, tx_hash: str, data: dict[str, Any]) -> "TxResult":
        """From a committed transaction as ``GET .../txs/{hash}`` shows it."""
        return cls(tx_hash, True, data["status"], data["height"], data["index"], data["gas_used"],
                   tuple(plain_value(item) for item in data.get("results") or ()))


def plain_value(typed: dict[str, Any]) -> Any:
    """A gateway's ``{type, value}`` as the plain value a contract returned (BYTES travel as hex)."""
    value = typed.get("value")
    return bytes.fromhex(value) if typed.get("type") == "BYTES" and isinstance(value, str) else value


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
    events: tuple[dict[str, Any], ...] = ()
    """The events it would have published."""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CallResult":
        return cls(data["status"], plain_value(data["value"]), data["gas_used"], data["height"],
                   data.get("message"), tuple(data.get("events") or ()))


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

    @property
    def height(self) -> int:
        return int(self.id.split(":")[0])


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
