"""Shared dependencies: the ledger runtime named in the path, parameter parsing, limits, auth."""

from __future__ import annotations

import hmac
import threading
import time
from typing import Annotated

from fastapi import Depends, Path, Request

from ledger.crypto import from_base58
from ledger.errors import CryptoError, RateLimited, Unauthenticated
from node.gateway.errors import InvalidParameter, LedgerNotFound
from node.solo import LedgerRuntime


def get_runtime(request: Request, ledger: Annotated[str, Path(description="Ledger hash (base58).", max_length=128)]) -> LedgerRuntime:
    runtimes: dict[str, LedgerRuntime] = request.app.state.runtimes
    runtime = runtimes.get(ledger)
    if runtime is None:
        raise LedgerNotFound(f"this node hosts no ledger {ledger}")
    return runtime


RuntimeDep = Annotated[LedgerRuntime, Depends(get_runtime)]


def parse_hash(text: str, what: str = "hash") -> bytes:
    try:
        value = from_base58(text)
    except CryptoError as exc:
        raise InvalidParameter(f"{what}: {exc.message}") from exc
    if not 2 < len(value) <= 130:
        raise InvalidParameter(f"{what}: not a hash")
    return value


class TokenBuckets:
    """Per-client token buckets (rate per second, burst). Thread-safe; forgets idle clients."""

    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, cost: float = 1.0) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()
            self._buckets[client] = (tokens, now)
            return allowed


def rate_limit_posts(request: Request) -> None:
    buckets: TokenBuckets = request.app.state.post_buckets
    client = request.client.host if request.client else "unknown"
    if not buckets.take(client):
        raise RateLimited(f"too many requests from {client}; retry shortly")


RateLimitDep = Depends(rate_limit_posts)


def require_admin(request: Request) -> None:
    token: str | None = request.app.state.settings.admin_token
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else ""
    if not token or not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthenticated("admin endpoints need 'Authorization: Bearer <admin token>'")


AdminDep = Depends(require_admin)


BASE58_PATTERN = r"^[1-9A-HJ-NP-Za-km-z]+$"
AddressPath = Annotated[str, Path(pattern=BASE58_PATTERN, min_length=1, max_length=128,
                                  description="Account address (base58).")]
