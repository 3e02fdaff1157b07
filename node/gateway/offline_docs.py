"""Interactive API docs (``/docs`` Swagger UI, ``/redoc`` ReDoc) that render with no internet access.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so on a consortium server without internet
access they are blank. ``serve_docs_offline(app)`` swaps them for pages whose scripts, styles and favicon
are served by the app itself, from the copies the ``fastapi-offline`` package ships (it is maintained and
follows the Swagger UI 5 / ReDoc 2 releases; we use its assets, not its ``FastAPIOffline`` factory, so each
app keeps its own constructor). Every Jadechain web app calls it: the node gateway, the control plane and
the evidence and traceability apps. Paths follow the ASGI ``root_path``, so an app mounted under the
control plane (``/apps/evidence/1/docs``) finds its assets too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

ASSETS_PATH = "/docs-assets"
"""Where the Swagger UI / ReDoc files are served (under the app's root path)."""

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))

PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:")
"""Set in the pages themselves (any server in front may add its own): they never reach another host, not
even for ReDoc's "powered by" logo, which it otherwise fetches from its vendor's CDN."""


def _self_contained(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    meta = f'<meta http-equiv="Content-Security-Policy" content="{PAGE_CSP}">'
    return HTMLResponse(html.replace("<head>", f"<head>\n{meta}", 1))


def _is_route(route: BaseRoute, path: str | None) -> bool:
    return path is not None and getattr(route, "path", None) == path


def serve_docs_offline(app: FastAPI) -> None:
    """Serve ``app.docs_url`` and ``app.redoc_url`` with local assets instead of FastAPI's CDN pages."""
    if app.openapi_url is None:
        return
    app.router.routes[:] = [route for route in app.router.routes
                            if not (_is_route(route, app.docs_url) or _is_route(route, app.redoc_url))]
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    if app.docs_url is not None:
        async def swagger_ui(request: Request) -> HTMLResponse:
            base = root(request)
            redirect = app.swagger_ui_oauth2_redirect_url
            return _self_contained(get_swagger_ui_html(
                openapi_url=base + openapi_url, title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=base + redirect if redirect else None, init_oauth=app.swagger_ui_init_oauth,
                swagger_js_url=f"{base}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{base}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{base}{ASSETS_PATH}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            ))

        app.add_route(app.docs_url, swagger_ui, include_in_schema=False)
    if app.redoc_url is not None:
        async def redoc(request: Request) -> HTMLResponse:
            base = root(request)
            return _self_contained(get_redoc_html(
                openapi_url=base + openapi_url, title=f"{app.title} - ReDoc",
                redoc_js_url=f"{base}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{base}{ASSETS_PATH}/favicon.png", with_google_fonts=False,
            ))

        app.add_route(app.redoc_url, redoc, include_in_schema=False)
