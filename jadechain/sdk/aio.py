"""The asyncio variant of the SDK client (same failover, same results), for async applications."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Sequence

import httpx

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import KeyPair, from_base58, to_base58
from ledger.governance import parse_proposal_id
from ledger.proofs import VerificationReport, validators_from_json
from ledger.transactions import TransactionBuilder, hash_transaction_content
from ledger.types import Transaction
from jadechain.sdk.client import (
    ApiError,
    CallResult,
    GatewaysUnavailable,
    JadechainClient,
    StreamMessage,
    TxResult,
    _parse_sse_lines,
    call_transaction,
    verify_pinned,
)

__all__ = ["AsyncJadechainClient", "AsyncLedgerClient"]

RETRYABLE_503 = ("MEMPOOL_FULL", "INTERNAL_ERROR", "STORAGE_ERROR")


@dataclass
class AsyncJadechainClient:
    """``async with AsyncJadechainClient([url, ...]) as client: ledger = await client.ledger()``."""

    gateways: Sequence[str]
    timeout: float = 30.0
    retry_timeout: float = 30.0
    backoff: float = 0.2
    _current: int = 0
    _http: httpx.AsyncClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.gateways:
            raise ValueError("at least one gateway URL is needed")
        self.gateways = [url.rstrip("/") for url in self.gateways]
        self._http = httpx.AsyncClient(timeout=self.timeout)

    async def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_timeout
        attempts = 0
        while True:
            url = self.gateways[self._current] + path
            try:
                response = await self._http.request(
                    method, url, timeout=self.timeout if timeout is None else timeout, **kwargs)
            except httpx.TransportError as error:
                attempts += 1
                self._current = (self._current + 1) % len(self.gateways)
                if time.monotonic() >= deadline:
                    raise GatewaysUnavailable(f"no gateway answered ({error!r})") from error
                if attempts % len(self.gateways) == 0:
                    await asyncio.sleep(self.backoff)
                continue
            if time.monotonic() < deadline and (
                response.status_code == 429
                or (response.status_code == 503 and JadechainClient._error_code(response) in RETRYABLE_503)
            ):
                await asyncio.sleep(self.backoff)
                continue
            return JadechainClient._json(response)

    async def ledger(self, ledger_hash: str | None = None) -> "AsyncLedgerClient":
        if ledger_hash is None:
            found = await self.request("GET", "/api/v1/ledgers")
            if len(found) != 1:
                raise ValueError(f"the gateway hosts {len(found)} ledgers; name one")
            ledger_hash = str(found[0]["hash"])
        return AsyncLedgerClient(self, ledger_hash)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncJadechainClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@dataclass
class AsyncLedgerClient:
    client: AsyncJadechainClient
    ledger_hash: str

    @property
    def base(self) -> str:
        return f"/api/v1/ledgers/{self.ledger_hash}"

    async def _get(self, path: str, **params: Any) -> Any:
        return await self.client.request(
            "GET", self.base + path, params={k: v for k, v in params.items() if v is not None})

    def builder(self, *, expiry: int = 0) -> TransactionBuilder:
        return TransactionBuilder(from_base58(self.ledger_hash), time_ms=int(time.time() * 1000), expiry=expiry)

    async def submit(self, tx: Transaction, *, wait: bool = True, timeout: float = 30.0) -> TxResult:
        tx_hash = to_base58(hash_transaction_content(tx.content))
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        try:
            data = await self.client.request("POST", self.base + "/txs", params=params,
                                             json={"tx": codec.encode(tx).hex()}, timeout=timeout + self.client.timeout)
        except ApiError as error:
            if error.code != "DUPLICATE_TRANSACTION":
                raise
            return await self.wait_tx(tx_hash, timeout) if wait else TxResult(tx_hash, False)
        return TxResult.from_json(data)

    async def wait_tx(self, tx_hash: str, timeout: float = 30.0) -> TxResult:
        try:
            data = await self.client.request("GET", f"{self.base}/txs/{tx_hash}", params={"wait": "commit", "timeout": timeout},
                                             timeout=timeout + self.client.timeout)
        except ApiError as error:
            if error.code == "NOT_FOUND":
                return TxResult(tx_hash, False)
            raise
        return TxResult.from_tx(tx_hash, data)

    async def call(self, address: str, method: str, args: Sequence[Any] = (), *, signer: KeyPair,
                   gas_limit: int = 1_000_000) -> CallResult:
        """Run ``method`` against the committed state without a transaction (see ``LedgerClient.call``)."""
        body = call_transaction(self.builder(), address, method, args, signer, gas_limit)
        return CallResult.from_json(await self.client.request("POST", self.base + "/call", json=body))

    async def get_entry(self, account: str, key: str, version: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._get(f"/accounts/{account}/entry", key=key, version=version)
        return result

    async def get_tx(self, tx_hash: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._get(f"/txs/{tx_hash}")
        return result

    async def get_block(self, height: int | str = "latest") -> dict[str, Any]:
        result: dict[str, Any] = await self._get(f"/blocks/{height}")
        return result

    async def entry_proof(self, account: str, key: str, version: int | None = None, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of one entry version; waits up to ``wait`` s for a certified header covering it."""
        return await self._proof(f"/accounts/{account}/entry", wait, key=key, version=version)

    async def tx_proof(self, tx_hash: str, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of a committed transaction (same ``wait`` as :meth:`entry_proof`)."""
        return await self._proof(f"/txs/{tx_hash}", wait)

    async def event_proof(self, account: str, topic: str, sequence: int, *, wait: float = 30.0) -> dict[str, Any]:
        """A proof bundle of one event (same ``wait`` as :meth:`entry_proof`)."""
        return await self._proof(f"/accounts/{account}/events/{sequence}", wait, topic=topic)

    async def _proof(self, path: str, wait: float, **params: Any) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            try:
                result: dict[str, Any] = await self._get(path, **params, proof="true")
                return result
            except ApiError as error:
                if error.code != "PROOF_PENDING" or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(self.client.backoff)

    async def proposal(self, proposal_id: str) -> dict[str, Any]:
        """One governance proposal (hex id or the proposing transaction's base58 hash)."""
        result: dict[str, Any] = await self._get(f"/proposals/{parse_proposal_id(proposal_id)}")
        return result

    async def proposals(self, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Governance proposals, newest first; ``status`` filters (OPEN, EXECUTED, REJECTED, FAILED, EXPIRED)."""
        result: list[dict[str, Any]] = (await self._get("/proposals", status=status, limit=limit))["items"]
        return result

    async def validators(self) -> ValidatorSet:
        return validators_from_json(await self._get("/validators"))

    @staticmethod
    def verify(bundle: dict[str, Any], trusted_validators: ValidatorSet | None = None, *,
               ledger_hash: str | bytes | None = None, require_certificate: bool = True) -> VerificationReport:
        """Offline check with a pinned ``ledger_hash`` or ``trusted_validators`` (see the sync client)."""
        return verify_pinned(bundle, ledger_hash=ledger_hash, trusted_validators=trusted_validators)

    async def subscribe(
        self, from_height: int | None = None, *, last_event_id: str | None = None,
        kinds: Sequence[str] = ("block", "tx", "event"),
    ) -> AsyncIterator[StreamMessage]:
        """Follow the SSE stream, resuming from the last id after any disconnect or restart."""
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
                async with self.client._http.stream("GET", url, params=params, headers=headers,
                                                    timeout=httpx.Timeout(self.client.timeout, read=60.0)) as response:
                    if response.status_code != 200:
                        await response.aread()
                        JadechainClient._json(response)
                    deadline = None
                    parser = _parse_sse_lines()
                    async for line in response.aiter_lines():
                        message = parser(line)
                        if message is not None:
                            last_id = message.id
                            yield message
            except (httpx.TransportError, httpx.StreamError) as error:
                now = time.monotonic()
                deadline = deadline or now + self.client.retry_timeout
                if now > deadline:
                    raise GatewaysUnavailable(f"stream could not resume: {error!r}") from error
                self.client._current = (self.client._current + 1) % len(self.client.gateways)
            await asyncio.sleep(self.client.backoff)
