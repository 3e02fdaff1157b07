"""What the sync and async clients share, written once and free of I/O (the httpx ``BaseClient`` model).

Every operation is a *plan*: a generator that yields the I/O it needs as small step objects
(:class:`Send` a request, :class:`Sleep`, and for the push stream :class:`ReadLine` and
:class:`Deliver`) and receives each step's outcome back (the ``httpx.Response``, a line; a transport
error is thrown into it). Which gateway to try next, when to fail over or retry, how an answer maps to
a result or a stable :class:`ApiError`, and the path and parameters of every endpoint live here only.
:class:`~jadechain.sdk.client.JadechainClient` runs plans with ``httpx.Client`` and ``time.sleep``,
:class:`~jadechain.sdk.aio.AsyncJadechainClient` with ``httpx.AsyncClient`` and ``asyncio.sleep``;
the public methods of both are generated from the plans by :func:`operations`.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, ClassVar, Concatenate, Generator, Generic, ParamSpec, Sequence, TypeVar, overload

import httpx

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import KeyPair, from_base58, to_base58
from ledger.proofs import VerificationReport, validators_from_json
from ledger.transactions import TransactionBuilder, hash_transaction_content
from ledger.types import Transaction
from jadechain.sdk._models import (
    Account,
    Answer,
    ApiError,
    Block,
    CallResult,
    Entry,
    Event,
    GatewaysUnavailable,
    LedgerInfo,
    LedgerSummary,
    MalformedAnswer,
    Page,
    Proposal,
    StreamMessage,
    TransactionRecord,
    TxResult,
    _parse_sse_lines,
    call_transaction,
    proposal_key_of,
    verify_pinned,
)

T = TypeVar("T")
P = ParamSpec("P")
L = TypeVar("L")
"""The ledger handle a client's :meth:`~BaseClient.ledger` answers."""

RETRYABLE_503 = ("MEMPOOL_FULL", "INTERNAL_ERROR", "STORAGE_ERROR")
"""Codes of a 503 that mean "busy, ask again": the same gateway is asked again after the back-off."""

STREAM_ERRORS = (httpx.TransportError, httpx.StreamError)


@dataclass(frozen=True, slots=True)
class Send:
    """Send one HTTP request; the plan receives the ``httpx.Response`` (or a transport error is thrown in).
    With ``stream`` the body is left open for :class:`ReadLine` (read at once if the status is not 200) and
    the previous stream is closed."""

    method: str
    url: str
    timeout: float | httpx.Timeout
    options: dict[str, Any]
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class ReadLine:
    """The next line of the open stream; the plan receives None at its end."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand one message to the subscriber (the plan resumes when the next one is asked for)."""

    message: StreamMessage


Step = Send | Sleep | ReadLine | Deliver
Plan = Generator[Step, Any, T]


class Stepper:
    """Drives a plan: ``advance()`` resumes it with the last outcome and returns its next step (None when done,
    the plan's return value then in ``result``); a driver sets ``reply`` or ``error`` after doing the step.
    A request plan delivers nothing, so a driver running one and asked to deliver has a bug."""

    def __init__(self, plan: Plan[Any]) -> None:
        self.plan = plan
        self.reply: Any = None
        self.error: BaseException | None = None
        self.result: Any = None

    def advance(self) -> Step | None:
        reply, error = self.reply, self.error
        self.reply, self.error = None, None
        try:
            return self.plan.throw(error) if error is not None else self.plan.send(reply)
        except StopIteration as stop:
            self.result = stop.value
            return None


def error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except (ValueError, AttributeError):
        return ""


def answer_of(response: httpx.Response) -> Any:
    """The decoded JSON of an answer, or the :class:`ApiError` it stands for (its code, or HTTP_ERROR)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        if isinstance(body, dict) and "code" in body:
            raise ApiError(str(body["code"]), str(body.get("message", "")), response.status_code)
        raise ApiError("HTTP_ERROR", f"HTTP {response.status_code}", response.status_code)
    return body


class Blocking:
    """Marks a client class whose operations return their results (blocking I/O)."""


class Awaiting:
    """Marks a client class whose operations return awaitables (asyncio I/O)."""


class operation(Generic[P, T]):
    """A public operation, declared once from its plan: ``get_tx = operation(_plan_get_tx)``.

    Every client class turns it into a real method (:func:`operations`); for type checkers it reads as a
    method answering ``T`` on a :class:`Blocking` client and ``Awaitable[T]`` on an :class:`Awaiting` one.
    """

    def __init__(self, plan: Callable[Concatenate[Any, P], Plan[T]]) -> None:
        self.plan = plan

    @overload
    def __get__(self, instance: Blocking, owner: type | None = None) -> Callable[P, T]: ...

    @overload
    def __get__(self, instance: Awaiting, owner: type | None = None) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        raise TypeError("an operation runs on a client class decorated with operations()")


def operations(wrap: Callable[[Callable[..., Plan[Any]]], Callable[..., Any]]) -> Callable[[type], type]:
    """A class decorator: each :class:`operation` the class inherits becomes a public method of the same name,
    made by ``wrap`` (which runs the plan), with the plan's parameters, docstring and result type."""

    def decorate(cls: type) -> type:
        declared = {name: value for base in reversed(cls.__mro__) for name, value in vars(base).items()
                    if isinstance(value, operation)}
        for name, declaration in declared.items():
            plan = declaration.plan
            method = wrap(plan)
            signature = inspect.signature(plan)
            result = str(signature.return_annotation).removeprefix("Plan[").removesuffix("]")
            method.__signature__ = signature.replace(return_annotation=result)  # type: ignore[attr-defined]
            method.__annotations__ = {**plan.__annotations__, "return": result}
            method.__doc__ = plan.__doc__
            method.__name__, method.__qualname__, method.__module__ = name, f"{cls.__qualname__}.{name}", cls.__module__
            setattr(cls, name, method)
        return cls

    return decorate


@dataclass
class BaseClient(Generic[L]):
    """A client of one or several gateways (base URLs), failing over on connection errors."""

    gateways: Sequence[str]
    timeout: float = 30.0
    retry_timeout: float = 30.0
    """How long to keep cycling through the gateways when none answers."""
    backoff: float = 0.2
    _current: int = 0

    _LEDGER_CLASS: ClassVar[Any] = None
    """The ledger handle class :meth:`ledger` answers (set by each client)."""

    def __post_init__(self) -> None:
        if not self.gateways:
            raise ValueError("at least one gateway URL is needed")
        self.gateways = [url.rstrip("/") for url in self.gateways]

    @property
    def _io(self) -> Any:
        """The client that runs this object's plans (the I/O half)."""
        return self

    def _fail_over(self) -> None:
        self._current = (self._current + 1) % len(self.gateways)

    def _plan_send(self, method: str, path: str, *, timeout: float | None = None, **options: Any) -> Plan[httpx.Response]:
        """Send to the current gateway; on a connection error move to the next one, cycling (a back-off after each
        round) until ``retry_timeout``; a busy gateway (429, retryable 503) is asked again. Any other answer,
        4xx or 5xx included, is the answer: it is not sent to another gateway."""
        deadline = time.monotonic() + self.retry_timeout
        attempts = 0
        while True:
            step = Send(method, self.gateways[self._current] + path, self.timeout if timeout is None else timeout, options)
            try:
                response: httpx.Response = yield step
            except httpx.TransportError as error:
                attempts += 1
                self._fail_over()
                if time.monotonic() >= deadline:
                    raise GatewaysUnavailable(f"no gateway answered ({error!r})") from error
                if attempts % len(self.gateways) == 0:
                    yield Sleep(self.backoff)
                continue
            if response.status_code == 503 and time.monotonic() < deadline and error_code(response) in RETRYABLE_503:
                yield Sleep(self.backoff)
                continue
            if response.status_code == 429 and time.monotonic() < deadline:
                yield Sleep(float(response.headers.get("retry-after", "1")) * 0.2)
                continue
            return response

    def _plan_request(self, method: str, path: str, *, timeout: float | None = None, **options: Any) -> Plan[Any]:
        """Send a request with failover; return the decoded JSON, or raise :class:`ApiError`."""
        return answer_of((yield from self._plan_send(method, path, timeout=timeout, **options)))

    def _plan_ledgers(self) -> Plan[list[LedgerSummary]]:
        """The ledgers this gateway hosts (hash and height)."""
        found = yield from self._plan_request("GET", "/api/v1/ledgers")
        if not isinstance(found, list):
            raise MalformedAnswer(f"ledgers: expected a JSON list, got {type(found).__name__}")
        return [LedgerSummary.from_json(item) for item in found]
    ledgers = operation(_plan_ledgers)

    def _plan_health(self) -> Plan[dict[str, Any]]:
        result: dict[str, Any] = yield from self._plan_request("GET", "/health")
        return result
    health = operation(_plan_health)

    def _plan_ledger(self, ledger_hash: str | None = None) -> Plan[L]:
        """A handle on one ledger (by base58 hash; None = the gateway's only ledger)."""
        if ledger_hash is None:
            found = yield from self._plan_ledgers()
            if len(found) != 1:
                raise ValueError(f"the gateway hosts {len(found)} ledgers; name one")
            ledger_hash = found[0].hash
        handle: L = self._LEDGER_CLASS(self, ledger_hash)
        return handle
    ledger = operation(_plan_ledger)


@dataclass
class BaseLedger:
    """Operations on one ledger through a client: every endpoint's path and parameters, and its result."""

    client: Any
    ledger_hash: str

    @property
    def base(self) -> str:
        return f"/api/v1/ledgers/{self.ledger_hash}"

    @property
    def _io(self) -> Any:
        return self.client

    def _plan_get(self, path: str, **params: Any) -> Plan[Any]:
        return (yield from self.client._plan_request(
            "GET", self.base + path, params={k: v for k, v in params.items() if v is not None}))

    # --- building and submitting -------------------------------------------------------------

    def builder(self, *, expiry: int = 0) -> TransactionBuilder:
        """A fluent transaction builder for this ledger (sign offline with ``.sign(key, ...)``)."""
        return TransactionBuilder(from_base58(self.ledger_hash), time_ms=int(time.time() * 1000), expiry=expiry)

    def _plan_submit(self, tx: Transaction, *, wait: bool = True, timeout: float = 30.0) -> Plan[TxResult]:
        """Submit one signed transaction; with ``wait`` return once it is committed (or timed out).

        Safe to retry: if a failover re-sends a transaction the first gateway already accepted, the
        duplicate answer is turned into a wait for that transaction.
        """
        tx_hash = to_base58(hash_transaction_content(tx.content))
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        try:
            data = yield from self.client._plan_request(
                "POST", self.base + "/txs", params=params, json={"tx": codec.encode(tx).hex()},
                timeout=timeout + self.client.timeout,
            )
        except ApiError as error:
            if error.code != "DUPLICATE_TRANSACTION":
                raise
            return (yield from self._plan_wait_tx(tx_hash, timeout)) if wait else TxResult(tx_hash, False)
        return TxResult.from_json(data)
    submit = operation(_plan_submit)

    def _plan_submit_many(self, txs: Sequence[Transaction], *, wait: bool = True,
                          timeout: float = 60.0) -> Plan[list[TxResult | ApiError]]:
        """Submit a batch in one request; one TxResult (or the ApiError that refused it) per tx."""
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        data = yield from self.client._plan_request(
            "POST", self.base + "/txs", params=params, json={"txs": [codec.encode(tx).hex() for tx in txs]},
            timeout=timeout + self.client.timeout,
        )
        if not isinstance(data, list):
            raise MalformedAnswer(f"submit_many: expected a JSON list, got {type(data).__name__}")
        results: list[TxResult | ApiError] = []
        for item in data:
            error = item.get("error") if isinstance(item, dict) else None
            if error:
                refusal = Answer("SubmitResult.error", error)
                results.append(ApiError(refusal.text("code"), refusal.text("message"), 400))
            else:
                results.append(TxResult.from_json(item))
        return results
    submit_many = operation(_plan_submit_many)

    def _plan_wait_tx(self, tx_hash: str, timeout: float = 30.0) -> Plan[TxResult]:
        """Wait until a transaction is committed; TxResult(committed=False) on timeout."""
        try:
            data = yield from self.client._plan_request(
                "GET", f"{self.base}/txs/{tx_hash}", params={"wait": "commit", "timeout": timeout},
                timeout=timeout + self.client.timeout)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                return TxResult(tx_hash, False)
            raise
        return TxResult.from_tx(tx_hash, data)
    wait_tx = operation(_plan_wait_tx)

    def _plan_call(self, address: str, method: str, args: Sequence[Any] = (), *, signer: KeyPair,
                   gas_limit: int = 1_000_000) -> Plan[CallResult]:
        """Run ``method`` against the committed state without a transaction (nothing is written).

        ``signer`` signs the request (the contract sees it as ``caller``): it must be a user allowed
        to invoke contracts on this ledger. A failure of the method is ``status`` of the result.
        """
        body = call_transaction(self.builder(), address, method, args, signer, gas_limit)
        return CallResult.from_json((yield from self.client._plan_request("POST", self.base + "/call", json=body)))
    call = operation(_plan_call)

    # --- queries ---------------------------------------------------------------------------------

    def _plan_info(self) -> Plan[LedgerInfo]:
        """The ledger's head (height, latest block hash, roots) and its settings."""
        return LedgerInfo.from_json((yield from self._plan_get("")))
    info = operation(_plan_info)

    def _plan_get_block(self, height: int | str = "latest") -> Plan[Block]:
        """A block header by height (``"latest"``: the last committed one)."""
        return Block.from_json((yield from self._plan_get(f"/blocks/{height}")))
    get_block = operation(_plan_get_block)

    def _plan_get_block_txs(self, height: int, offset: int = 0, limit: int = 100) -> Plan[Page[TxResult]]:
        """A page of a block's transactions, in block order, with their results."""
        page = yield from self._plan_get(f"/blocks/{height}/txs", offset=offset, limit=limit)
        return Page.from_json(page, TxResult.from_result_json)
    get_block_txs = operation(_plan_get_block_txs)

    def _plan_get_tx(self, tx_hash: str) -> Plan[TransactionRecord]:
        """A committed transaction: its decoded operations, signers, events and results."""
        return TransactionRecord.from_json((yield from self._plan_get(f"/txs/{tx_hash}")))
    get_tx = operation(_plan_get_tx)

    def _plan_get_account(self, address: str) -> Plan[Account]:
        return Account.from_json((yield from self._plan_get(f"/accounts/{address}")))
    get_account = operation(_plan_get_account)

    def _plan_get_entry(self, account: str, key: str, version: int | None = None) -> Plan[Entry]:
        """One version of an entry (default: the latest); ``entry.value`` is its plain value."""
        return Entry.from_json((yield from self._plan_get(f"/accounts/{account}/entry", key=key, version=version)))
    get_entry = operation(_plan_get_entry)

    def _plan_get_versions(self, account: str, key: str, offset: int = 0, limit: int = 100) -> Plan[list[Entry]]:
        """An entry's versions, oldest first, from ``offset``."""
        page = yield from self._plan_get(f"/accounts/{account}/entry/versions", key=key, offset=offset, limit=limit)
        return list(Page.from_json(page, Entry.from_json))
    get_versions = operation(_plan_get_versions)

    def _plan_get_events(self, account: str, topic: str, from_sequence: int = 0, limit: int = 100) -> Plan[list[Event]]:
        """Events of one topic from ``from_sequence`` on."""
        found = yield from self._plan_get(f"/accounts/{account}/events", topic=topic, limit=limit, **{"from": from_sequence})
        if not isinstance(found, list):
            raise MalformedAnswer(f"events: expected a JSON list, got {type(found).__name__}")
        return [Event.from_json(event) for event in found]
    get_events = operation(_plan_get_events)

    # --- governance: proposals are entries of the governance account -------------------------------

    def _plan_proposal(self, proposal_id: str) -> Plan[Proposal]:
        """One proposal (id: hex, or the base58 hash of the proposing transaction) as of the latest block.

        An OPEN proposal whose expiry is before the latest block's time reads ``"EXPIRED"``.
        """
        return Proposal.from_json((yield from self._plan_get(f"/proposals/{proposal_key_of(proposal_id)}")))
    proposal = operation(_plan_proposal)

    def _plan_proposals(self, status: str | None = None, limit: int = 1000) -> Plan[list[Proposal]]:
        """Proposals, newest first; ``status`` filters (OPEN, EXECUTED, REJECTED, FAILED, EXPIRED)."""
        page = yield from self._plan_get("/proposals", status=status, limit=limit)
        return list(Page.from_json(page, Proposal.from_json))
    proposals = operation(_plan_proposals)

    def _plan_proposal_proof(self, proposal_id: str, *, wait: float = 30.0) -> Plan[dict[str, Any]]:
        """A proof bundle of the proposal's latest version: its votes and outcome, checkable offline."""
        result: dict[str, Any] = yield from self._plan_proof(f"/proposals/{proposal_key_of(proposal_id)}", wait)
        return result
    proposal_proof = operation(_plan_proposal_proof)

    def _plan_validators(self) -> Plan[ValidatorSet]:
        """The validator set as this gateway reports it (pin your own for real trust)."""
        return validators_from_json((yield from self._plan_get("/validators")))
    validators = operation(_plan_validators)

    # --- proofs --------------------------------------------------------------------------------------

    def _plan_entry_proof(self, account: str, key: str, version: int | None = None, *,
                          wait: float = 30.0) -> Plan[dict[str, Any]]:
        """A proof bundle of one entry version; waits up to ``wait`` s for a certified header covering it."""
        return (yield from self._plan_proof(f"/accounts/{account}/entry", wait, key=key, version=version))
    entry_proof = operation(_plan_entry_proof)

    def _plan_tx_proof(self, tx_hash: str, *, wait: float = 30.0) -> Plan[dict[str, Any]]:
        """A proof bundle of a committed transaction (same ``wait`` as :meth:`entry_proof`)."""
        result: dict[str, Any] = yield from self._plan_proof(f"/txs/{tx_hash}", wait)
        return result
    tx_proof = operation(_plan_tx_proof)

    def _plan_event_proof(self, account: str, topic: str, sequence: int, *, wait: float = 30.0) -> Plan[dict[str, Any]]:
        """A proof bundle of one event (same ``wait`` as :meth:`entry_proof`)."""
        result: dict[str, Any] = yield from self._plan_proof(f"/accounts/{account}/events/{sequence}", wait, topic=topic)
        return result
    event_proof = operation(_plan_event_proof)

    def _plan_consistency_proof(self, old_height: int, new_height: int | None = None) -> Plan[dict[str, Any]]:
        """A proof bundle that the log at ``new_height`` (default: the latest) extends the log at ``old_height``."""
        result: dict[str, Any] = yield from self._plan_get(
            "/proofs/consistency", old_height=old_height, new_height=new_height)
        return result
    consistency_proof = operation(_plan_consistency_proof)

    def _plan_proof(self, path: str, wait: float, **params: Any) -> Plan[dict[str, Any]]:
        """Ask for a proof until the gateway stops answering PROOF_PENDING or ``wait`` s have passed."""
        deadline = time.monotonic() + wait
        while True:
            try:
                result: dict[str, Any] = yield from self._plan_get(path, **params, proof="true")
                return result
            except ApiError as error:
                if error.code != "PROOF_PENDING" or time.monotonic() >= deadline:
                    raise
            yield Sleep(self.client.backoff)

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

    def _plan_subscribe(self, from_height: int | None, last_event_id: str | None, kinds: Sequence[str],
                        reconnect: bool) -> Plan[None]:
        """Follow the SSE stream; after a disconnect, resume from the last id seen (exactly once), failing over
        to the other gateways until ``retry_timeout``; when the server ends the stream, reconnect."""
        client = self.client
        last_id = last_event_id
        deadline: float | None = None
        while True:
            params: dict[str, Any] = {"kinds": ",".join(kinds)}
            if last_id is None and from_height is not None:
                params["from_height"] = from_height
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            url = client.gateways[client._current] + self.base + "/stream"
            try:
                response = yield Send("GET", url, httpx.Timeout(client.timeout, read=60.0),
                                      {"params": params, "headers": headers}, stream=True)
                if response.status_code != 200:
                    answer_of(response)
                deadline = None
                feed = _parse_sse_lines()
                while (line := (yield ReadLine())) is not None:
                    message = feed(line)
                    if message is not None:
                        last_id = message.id
                        yield Deliver(message)
            except STREAM_ERRORS as error:
                if not reconnect:
                    raise GatewaysUnavailable(f"stream interrupted: {error!r}") from error
                now = time.monotonic()
                deadline = deadline or now + client.retry_timeout
                if now > deadline:
                    raise GatewaysUnavailable(f"stream could not resume: {error!r}") from error
                client._fail_over()
                yield Sleep(client.backoff)
                continue
            if not reconnect:
                return
            yield Sleep(client.backoff)  # the server ended the stream (shutting down): resume
