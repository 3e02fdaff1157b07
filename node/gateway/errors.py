"""Every failure as ``{code, message}`` JSON with the error's stable code and HTTP status.

No request ever yields a bare 500: Jadechain errors keep their code and status, validation
errors become 422 ``VALIDATION_ERROR``, unknown routes 404 ``NOT_FOUND``, and anything
unexpected becomes 500 ``INTERNAL_ERROR`` with no stack trace in the body (it is logged).
"""

from __future__ import annotations

import json
import logging
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.errors import InvalidTransaction, JadechainError, NotFound

log = logging.getLogger("jadechain.gateway")

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


class RequestTooLarge(JadechainError):
    code = "REQUEST_TOO_LARGE"
    http_status = 413


class InvalidParameter(JadechainError):
    """A path or query parameter that is not what the route expects (e.g. not base58)."""

    code = "INVALID_PARAMETER"
    http_status = 400


class LedgerNotFound(NotFound):
    code = "LEDGER_NOT_FOUND"


class BatchTooLarge(InvalidTransaction):
    code = "BATCH_TOO_LARGE"
    http_status = 413


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _jadechain_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(JadechainError, exc)  # registered for JadechainError only
    headers = {"Retry-After": "1"} if exc.http_status in (429, 503) else None
    return error_response(exc.http_status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, exc)  # registered for RequestValidationError only
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(item) for item in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(422, "VALIDATION_ERROR", "; ".join(parts) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)  # registered for HTTPException only
    code = HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "BAD_REQUEST")
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}) or None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(JadechainError, _jadechain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class CatchAllMiddleware:
    """Turns any exception that escaped the handlers into 500 INTERNAL_ERROR JSON (logged, no trace)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return
            response = error_response(500, "INTERNAL_ERROR", "internal error; the node logged the details")
            await response(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (413 REQUEST_TOO_LARGE), declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    response = error_response(
                        413 if declared > self.max_bytes else 400,
                        "REQUEST_TOO_LARGE" if declared > self.max_bytes else "BAD_REQUEST",
                        f"request body over {self.max_bytes} bytes" if declared > self.max_bytes
                        else "invalid Content-Length",
                    )
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)
