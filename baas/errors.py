"""Errors of the control plane: ``{code, message}`` bodies with stable codes, like the gateway."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class BaasError(Exception):
    code = "BAAS_ERROR"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class Unauthenticated(BaasError):
    code, http_status = "UNAUTHENTICATED", 401


class Forbidden(BaasError):
    code, http_status = "FORBIDDEN", 403


class NotFoundError(BaasError):
    code, http_status = "NOT_FOUND", 404


class Conflict(BaasError):
    code, http_status = "CONFLICT", 409


class InvalidRequest(BaasError):
    code, http_status = "INVALID_REQUEST", 400


class TooManyAttempts(BaasError):
    code, http_status = "TOO_MANY_ATTEMPTS", 429

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unprocessable(BaasError):
    """A well-formed request whose content breaks a rule; subclasses name the rule in ``code``."""
    code, http_status = "INVALID_REQUEST", 422


class WeakPassword(Unprocessable):
    code = "WEAK_PASSWORD"


class TokenLifetimeTooLong(Unprocessable):
    code = "TOKEN_LIFETIME_TOO_LONG"


class AppSettingNotAllowed(Unprocessable):
    code = "APP_SETTING_NOT_ALLOWED"


class InvalidCertificate(Unprocessable):
    code = "INVALID_CERTIFICATE"


class TsaUrlNotAllowed(Unprocessable):
    code = "TSA_URL_NOT_ALLOWED"


class UpstreamError(BaasError):
    """A node gateway refused or could not be reached."""
    code, http_status = "NODE_ERROR", 502


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BaasError)
    async def _baas_error(request: Request, error: BaasError) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyAttempts) else None
        return JSONResponse(error.to_dict(), status_code=error.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in error.errors()]
        return JSONResponse({"code": "INVALID_REQUEST", "message": "request does not validate",
                             "details": {"errors": problems}}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _id_out_of_range(request: Request, error: OverflowError) -> JSONResponse:
        # An id beyond the database's 64-bit integers names nothing that can exist.
        return JSONResponse({"code": "NOT_FOUND", "message": "no such resource (id out of range)"}, status_code=404)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        import logging

        logging.getLogger("jadechain.baas").error("unexpected error on %s %s", request.method, request.url.path,
                                                  exc_info=error)
        return JSONResponse({"code": "INTERNAL_ERROR", "message": "unexpected error; see the control plane's log"},
                            status_code=500)
