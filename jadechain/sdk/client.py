"""The synchronous SDK client (httpx). See :mod:`jadechain.sdk` for an overview."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import httpx

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import KeyPair, from_base58, to_base58
from ledger.errors import JadechainError, TrustAnchorRequired
from ledger.governance import parse_proposal_id
from ledger.proofs import VerificationReport, validators_from_json, verify_bundle
from ledger.transactions import TransactionBuilder, hash_transaction_content
from ledger.types import Transaction
from jadechain.sdk.private import PrivateRecordsMixin

__all__ = ["ApiError", "CallResult", "JadechainClient", "LedgerClient", "StreamMessage", "TxResult"]


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


@dataclass
class JadechainClient:
    """A client of one or several gateways (base URLs), failing over on connection errors."""

    gateways: Sequence[str]
    timeout: float = 30.0
    retry_timeout: float = 30.0
    """How long to keep cycling through the gateways when none answers."""
    backoff: float = 0.2
    _current: int = 0
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.gateways:
            raise ValueError("at least one gateway URL is needed")
        self.gateways = [url.rstrip("/") for url in self.gateways]
        self._http = httpx.Client(timeout=self.timeout)

    # --- plumbing --------------------------------------------------------------------------

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Send a request with failover; return the decoded JSON, or raise :class:`ApiError`."""
        response = self._send(method, path, timeout=timeout, **kwargs)
        return self._json(response)

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.retry_timeout
        last_error: Exception | None = None
        attempts = 0
        while True:
            url = self.gateways[self._current] + path
            try:
                response = self._http.request(
                    method, url, timeout=self.timeout if timeout is None else timeout, **kwargs
                )
            except httpx.TransportError as error:
                last_error = error
                attempts += 1
                self._current = (self._current + 1) % len(self.gateways)
                if time.monotonic() >= deadline:
                    raise GatewaysUnavailable(f"no gateway answered ({last_error!r})") from error
                if attempts % len(self.gateways) == 0:
                    time.sleep(self.backoff)
                continue
            if response.status_code == 503 and time.monotonic() < deadline and \
                    self._error_code(response) in ("MEMPOOL_FULL", "INTERNAL_ERROR", "STORAGE_ERROR"):
                time.sleep(self.backoff)
                continue
            if response.status_code == 429 and time.monotonic() < deadline:
                time.sleep(float(response.headers.get("retry-after", "1")) * 0.2)
                continue
            return response

    @staticmethod
    def _error_code(response: httpx.Response) -> str:
        try:
            return str(response.json().get("code", ""))
        except (ValueError, AttributeError):
            return ""

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            if isinstance(body, dict) and "code" in body:
                raise ApiError(str(body["code"]), str(body.get("message", "")), response.status_code)
            raise ApiError("HTTP_ERROR", f"HTTP {response.status_code}", response.status_code)
        return body

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "JadechainClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- top level -------------------------------------------------------------------------

    def ledgers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/v1/ledgers")
        return result

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/health")
        return result

    def ledger(self, ledger_hash: str | None = None) -> "LedgerClient":
        """A handle on one ledger (by base58 hash; None = the gateway's only ledger)."""
        if ledger_hash is None:
            found = self.ledgers()
            if len(found) != 1:
                raise ValueError(f"the gateway hosts {len(found)} ledgers; name one")
            ledger_hash = found[0]["hash"]
        return LedgerClient(self, ledger_hash)


@dataclass
class LedgerClient(PrivateRecordsMixin):
    """Operations on one ledger through a :class:`JadechainClient`."""

    client: JadechainClient
    ledger_hash: str

    @property
    def base(self) -> str:
        return f"/api/v1/ledgers/{self.ledger_hash}"

    def _get(self, path: str, **params: Any) -> Any:
        return self.client.request("GET", self.base + path, params={k: v for k, v in params.items() if v is not None})

    # --- building and submitting -------------------------------------------------------------

    def builder(self, *, expiry: int = 0) -> TransactionBuilder:
        """A fluent transaction builder for this ledger (sign offline with ``.sign(key, ...)``)."""
        return TransactionBuilder(from_base58(self.ledger_hash), time_ms=int(time.time() * 1000), expiry=expiry)

    def submit(self, tx: Transaction, *, wait: bool = True, timeout: float = 30.0) -> TxResult:
        """Submit one signed transaction; with ``wait`` return once it is committed (or timed out).

        Safe to retry: if a failover re-sends a transaction the first gateway already accepted, the
        duplicate answer is turned into a wait for that transaction.
        """
        tx_hash = to_base58(hash_transaction_content(tx.content))
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        try:
            data = self.client.request(
                "POST", self.base + "/txs", params=params, json={"tx": codec.encode(tx).hex()},
                timeout=timeout + self.client.timeout,
            )
        except ApiError as error:
            if error.code != "DUPLICATE_TRANSACTION":
                raise
            return self.wait_tx(tx_hash, timeout) if wait else TxResult(tx_hash, False)
        return TxResult.from_json(data)

    def submit_many(self, txs: Sequence[Transaction], *, wait: bool = True, timeout: float = 60.0) -> list[TxResult | ApiError]:
        """Submit a batch in one request; one TxResult (or the ApiError that refused it) per tx."""
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        data = self.client.request(
            "POST", self.base + "/txs", params=params, json={"txs": [codec.encode(tx).hex() for tx in txs]},
            timeout=timeout + self.client.timeout,
        )
        results: list[TxResult | ApiError] = []
        for item in data:
            error = item.get("error")
            if error:
                results.append(ApiError(error["code"], error["message"], 400))
            else:
                results.append(TxResult.from_json(item))
        return results

    def wait_tx(self, tx_hash: str, timeout: float = 30.0) -> TxResult:
        """Wait until a transaction is committed; TxResult(committed=False) on timeout."""
        try:
            data = self.client.request("GET", f"{self.base}/txs/{tx_hash}", params={"wait": "commit", "timeout": timeout},
                                       timeout=timeout + self.client.timeout)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                return TxResult(tx_hash, False)
            raise
        return TxResult.from_tx(tx_hash, data)

    def call(self, address: str, method: str, args: Sequence[Any] = (), *, signer: KeyPair,
             gas_limit: int = 1_000_000) -> CallResult:
        """Run ``method`` against the committed state without a transaction (nothing is written).

        ``signer`` signs the request (the contract sees it as ``caller``): it must be a user allowed
        to invoke contracts on this ledger. A failure of the method is ``status`` of the result.
        """
        body = call_transaction(self.builder(), address, method, args, signer, gas_limit)
        return CallResult.from_json(self.client.request("POST", self.base + "/call", json=body))

    # --- queries ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("")
        return result

    def get_block(self, height: int | str = "latest") -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/blocks/{height}")
        return result

    def get_block_txs(self, height: int, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/blocks/{height}/txs", offset=offset, limit=limit)
        return result

    def get_tx(self, tx_hash: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/txs/{tx_hash}")
        return result

    def get_account(self, address: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/accounts/{address}")
        return result

    def get_entry(self, account: str, key: str, version: int | None = None) -> dict[str, Any]:
        """``{account, key, version, value: {type, value}, height, tx_hash}``."""
        result: dict[str, Any] = self._get(f"/accounts/{account}/entry", key=key, version=version)
        return result

    def get_versions(self, account: str, key: str, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            f"/accounts/{account}/entry/versions", key=key, offset=offset, limit=limit)["items"]
        return result

    def get_events(self, account: str, topic: str, from_sequence: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(f"/accounts/{account}/events", topic=topic, limit=limit,
                                                 **{"from": from_sequence})
        return result

    # --- governance: proposals are entries of the governance account -------------------------------

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        """One proposal (id: hex, or the base58 hash of the proposing transaction) as of the latest block.

        An OPEN proposal whose expiry is before the latest block's time reads ``"EXPIRED"``.
        """
        result: dict[str, Any] = self._get(f"/proposals/{proposal_key_of(proposal_id)}")
        return result

    def proposals(self, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Proposals, newest first; ``status`` filters (OPEN, EXECUTED, REJECTED, FAILED, EXPIRED)."""
        result: list[dict[str, Any]] = self._get("/proposals", status=status, limit=limit)["items"]
        return result

    def proposal_proof(self, proposal_id: str, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of the proposal's latest version: its votes and outcome, checkable offline."""
        return self._proof(lambda: self._get(f"/proposals/{proposal_key_of(proposal_id)}", proof="true"), wait)

    def validators(self) -> ValidatorSet:
        """The validator set as this gateway reports it (pin your own for real trust)."""
        return validators_from_json(self._get("/validators"))

    # --- proofs --------------------------------------------------------------------------------------

    def entry_proof(self, account: str, key: str, version: int | None = None, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of one entry version; waits up to ``wait`` s for a certified header covering it."""
        return self._proof(lambda: self._get(f"/accounts/{account}/entry", key=key, version=version, proof="true"), wait)

    def tx_proof(self, tx_hash: str, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of a committed transaction (same ``wait`` as :meth:`entry_proof`)."""
        return self._proof(lambda: self._get(f"/txs/{tx_hash}", proof="true"), wait)

    def event_proof(self, account: str, topic: str, sequence: int, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of one event (same ``wait`` as :meth:`entry_proof`)."""
        return self._proof(
            lambda: self._get(f"/accounts/{account}/events/{sequence}", topic=topic, proof="true"), wait)

    def _proof(self, fetch: Callable[[], Any], wait: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            try:
                result: dict[str, Any] = fetch()
                return result
            except ApiError as error:
                if error.code != "PROOF_PENDING" or time.monotonic() >= deadline:
                    raise
            time.sleep(self.client.backoff)

    @staticmethod
    def verify(
        bundle: dict[str, Any], trusted_validators: ValidatorSet | None = None, *,
        ledger_hash: str | bytes | None = None, require_certificate: bool = True,
    ) -> VerificationReport:
        """Check a proof bundle locally (offline); raises ``ProofError`` naming the failed check.

        Pin what you trust: ``ledger_hash`` (the hash you expect, not one read from the bundle or a
        gateway) or ``trusted_validators``; with neither it raises ``TrustAnchorRequired``.
        """
        return verify_pinned(bundle, ledger_hash=ledger_hash, trusted_validators=trusted_validators)

    # --- push stream ------------------------------------------------------------------------------------

    def subscribe(
        self, from_height: int | None = None, *, last_event_id: str | None = None,
        kinds: Sequence[str] = ("block", "tx", "event"), reconnect: bool = True,
    ) -> Iterator[StreamMessage]:
        """Iterate the SSE stream; after a disconnect, resume from the last id seen (exactly once).

        With ``reconnect`` the iterator survives gateway restarts and fails over to other gateways.
        """
        last_id = last_event_id
        deadline: float | None = None
        while True:
            params: dict[str, Any] = {"kinds": ",".join(kinds)}
            if last_id is None and from_height is not None:
                params["from_height"] = from_height
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            url = self.client.gateways[self.client._current] + self.base + "/stream"
            try:
                with self.client._http.stream("GET", url, params=params, headers=headers,
                                              timeout=httpx.Timeout(self.client.timeout, read=60.0)) as response:
                    if response.status_code != 200:
                        response.read()
                        self.client._json(response)
                    deadline = None
                    for message in _parse_sse(response.iter_lines()):
                        last_id = message.id
                        yield message
            except (httpx.TransportError, httpx.StreamError) as error:
                if not reconnect:
                    raise GatewaysUnavailable(f"stream interrupted: {error!r}") from error
                now = time.monotonic()
                deadline = deadline or now + self.client.retry_timeout
                if now > deadline:
                    raise GatewaysUnavailable(f"stream could not resume: {error!r}") from error
                self.client._current = (self.client._current + 1) % len(self.client.gateways)
                time.sleep(self.client.backoff)
                continue
            if not reconnect:
                return
            time.sleep(self.client.backoff)  # the server ended the stream (shutting down): resume


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


def _parse_sse(lines: Iterator[str]) -> Iterator[StreamMessage]:
    feed = _parse_sse_lines()
    for line in lines:
        message = feed(line)
        if message is not None:
            yield message
