"""Console pages. Each page reads through the same functions as the API, with the same checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from baas import governance
from baas.deps import resolve_user
from baas.errors import BaasError
from baas.routers import accounts, apps, audit_log, consortia, contracts, networks, organizations

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


def _page(request: Request, template: str, loader: Any) -> Response:
    with request.app.state.sessions() as session:
        user = resolve_user(request, session)
        if user is None:
            return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)
        try:
            context = loader(session, user)
            error = None
        except BaasError as exc:
            context, error = {}, exc.message
        waiting = sum(p["waiting_for_me"] for p in governance.proposals_for(session, user))
        return templates.TemplateResponse(request, template, {
            "user": accounts.user_public(user), "csrf": getattr(request.state, "csrf_token", ""), "error": error,
            "path": request.url.path, "proposals_waiting": waiting, **context,
        })


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/") -> Response:
    if not next.startswith("/ui"):
        next = "/ui/"
    return templates.TemplateResponse(request, "login.html", {"next": next, "user": None})


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {
            "consortia": consortia.list_consortia(session, user),
            "invitations": [i for i in consortia.list_invitations(session, user) if i.status == "SIGNING"],
            "networks": networks.list_networks(request, session, user),
        }
    return _page(request, "dashboard.html", load)


@router.get("/organizations", response_class=HTMLResponse)
def organizations_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        keys = []
        if user.organization_id is not None:
            keys = organizations.list_keys(user.organization_id, session, user)
        return {"organizations": organizations.list_organizations(session, user),
                "users": accounts.list_users(session, user), "keys": keys,
                "tokens": accounts.list_tokens(session, user)}
    return _page(request, "organizations.html", load)


@router.get("/consortia", response_class=HTMLResponse)
def consortia_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"consortia": consortia.list_consortia(session, user),
                "organizations": organizations.list_organizations(session, user)}
    return _page(request, "consortia.html", load)


@router.get("/invitations", response_class=HTMLResponse)
def invitations_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"invitations": consortia.list_invitations(session, user)}
    return _page(request, "invitations.html", load)


@router.get("/networks", response_class=HTMLResponse)
def networks_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"networks": networks.list_networks(request, session, user),
                "consortia": consortia.list_consortia(session, user)}
    return _page(request, "networks.html", load)


@router.get("/networks/{network_id}", response_class=HTMLResponse)
def network_page(request: Request, network_id: int) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"network": networks.get_network(network_id, request, session, user)}
    return _page(request, "network.html", load)


@router.get("/ledgers/{ledger_id}", response_class=HTMLResponse)
def ledger_page(request: Request, ledger_id: int) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"ledger": networks.get_ledger(ledger_id, session, user),
                "contracts": contracts.list_contracts(ledger_id, session, user)}
    return _page(request, "ledger.html", load)


@router.get("/apps", response_class=HTMLResponse)
def apps_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"apps": apps.list_apps(request, session, user), "ledgers": networks.list_ledgers(session, user)}
    return _page(request, "apps.html", load)


@router.get("/proposals", response_class=HTMLResponse)
def proposals_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"proposals": governance.proposals_for(session, user),
                "ledger_proposals": governance.ledger_proposals_for(session, user)}
    return _page(request, "proposals.html", load)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    def load(session: Any, user: Any) -> dict[str, Any]:
        return {"entries": audit_log.list_audit(session, user, limit=200)}
    return _page(request, "audit.html", load)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
