"""Error mapping of the gateway app (in-process ASGI): never a bare 500, never a stack trace; token buckets."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from node.gateway import deps
from node.gateway.app import GatewaySettings, create_app


def call(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_unexpected_exceptions_become_internal_error_without_details(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({}, GatewaySettings())

    def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    app.add_api_route("/boom", boom)
    with caplog.at_level("CRITICAL", logger="jadechain.gateway"):
        response = call(app, "GET", "/boom")
    assert response.status_code == 500
    assert response.json() == {"code": "INTERNAL_ERROR", "message": "internal error; the node logged the details"}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_routing_and_validation_errors_use_stable_codes() -> None:
    app = create_app({}, GatewaySettings())
    assert call(app, "GET", "/api/v1/ledgers").json() == []
    missing = call(app, "GET", "/api/v1/ledgers/abc")
    assert (missing.status_code, missing.json()["code"]) == (404, "LEDGER_NOT_FOUND")
    unknown = call(app, "GET", "/nope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
    too_big = call(app, "POST", "/api/v1/ledgers/abc/txs", content=b"x" * (9 << 20))
    assert (too_big.status_code, too_big.json()["code"]) == (413, "REQUEST_TOO_LARGE")


def test_token_bucket_allows_a_burst_then_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(deps.time, "monotonic", lambda: now[0])
    buckets = deps.TokenBuckets(rate=2.0, burst=3.0)
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.take("b")  # per client
    now[0] += 0.5  # one token back
    assert buckets.take("a") and not buckets.take("a")
    assert deps.TokenBuckets(rate=0, burst=0).take("anyone")  # 0 disables the limit
