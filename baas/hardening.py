"""HTTP hardening of the control plane (and of the apps it mounts), as one pure ASGI middleware.

* The client address: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the TCP
  peer is one of ``settings.trusted_proxies``; then the client is the right-most address that is not
  itself a trusted proxy. Anyone else's header is ignored (it would bypass login throttling and forge
  the audit log's client address).
* Request bodies: larger than ``settings.max_request_bytes`` → 413 ``REQUEST_TOO_LARGE``, checked on
  ``Content-Length`` and while streaming. Mounted apps (``/apps/...``) stream uploads and enforce their
  own limits.
* Response headers: no framing (``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``), a CSP
  that keeps scripts, styles and connections on this origin, ``nosniff``, no referrer to other sites.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Awaitable, Callable, MutableMapping

from starlette.exceptions import HTTPException

from baas.settings import BaasSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The console's pages still carry small inline scripts, hence 'unsafe-inline' for scripts and styles;
# everything else stays on this origin, and no page may be framed.
CONSOLE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
               "frame-ancestors 'none'")
# The interactive docs (Swagger UI / ReDoc, served from this origin by node.gateway.offline_docs) run one
# inline script; ReDoc searches in a blob: worker.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that body parsing passes it on as a 413."""

    def __init__(self) -> None:
        super().__init__(413, "REQUEST_TOO_LARGE: the request body is too large")


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _is_trusted(address: str, proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def forwarded_client(peer: str, forwarded_for: str | None,
                     proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client address: the TCP peer, unless it is a trusted proxy that says whom it forwards for."""
    if not forwarded_for or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


class HardeningMiddleware:
    def __init__(self, app: ASGIApp, settings: BaasSettings) -> None:
        self.app = app
        self.proxies = _networks(list(settings.trusted_proxies))
        self.max_body = settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if client and _is_trusted(client[0], self.proxies):
            scope["client"] = (forwarded_client(client[0], _header(scope, b"x-forwarded-for"), self.proxies), client[1])
            proto = _header(scope, b"x-forwarded-proto")
            if proto in ("http", "https"):
                scope["scheme"] = proto
        path = str(scope.get("path", ""))
        csp = DOCS_CSP if path in ("/docs", "/redoc") else CONSOLE_CSP
        limited = not path.startswith("/apps/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                ours = {b"content-security-policy", *(name for name, _ in SECURITY_HEADERS)}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                headers += SECURITY_HEADERS + [(b"content-security-policy", csp.encode())]
                message["headers"] = headers
            await send(message)

        if limited:
            declared = _header(scope, b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
                await self._too_large(send_with_headers)
                return
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise _BodyTooLarge()
                return message

            try:
                await self.app(scope, counting_receive, send_with_headers)
            except _BodyTooLarge:
                if not started:
                    await self._too_large(send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"code": "REQUEST_TOO_LARGE",
                           "message": f"request bodies are limited to {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def make_process_files_private() -> None:
    """umask 077 for everything this process creates, and its stdout/stderr made 0600 when they are
    files (a launcher's log that would otherwise be world-readable)."""
    import os
    import stat

    os.umask(0o077)
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fchmod(fd, 0o600)
        except OSError:
            pass


def install_hardening(app: Any, settings: BaasSettings) -> None:
    app.add_middleware(HardeningMiddleware, settings=settings)
