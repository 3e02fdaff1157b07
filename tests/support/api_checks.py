"""What every API fuzz test demands of a response: no 5xx, and an error is ``{code, message}`` without a
traceback. Stateless (tests/fuzz, tests/integration) and stateful (tests/security) fuzzers share it."""

from __future__ import annotations

from typing import Any


def content_type(response: Any) -> str:
    value = response.headers.get("content-type") or ""
    return str(value[0] if isinstance(value, list) and value else value)


def check_no_5xx_and_stable_errors(response: Any, where: str, allowed_5xx: tuple[int, ...] = ()) -> None:
    """``allowed_5xx``: statuses a service answers on purpose (a control plane's 503 for a node it cannot reach)."""
    assert response.status_code < 500 or response.status_code in allowed_5xx, \
        (where, response.status_code, response.text[:500])
    if response.status_code >= 400 and content_type(response).startswith("application/json"):
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str), \
            (where, body)
        assert "Traceback" not in response.text, (where, response.text[:500])
