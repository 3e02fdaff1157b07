"""Shared dependencies: the database session, the caller (token or session cookie), role checks."""

from __future__ import annotations

from typing import Annotated, Any, Iterator

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from baas.errors import Forbidden, NotFoundError, Unauthenticated
from baas.models import Consortium, ConsortiumMember, User
from baas.security import CSRF_HEADER, SESSION_COOKIE, csrf_matches, user_for_token, web_session_for

ADMIN_ROLES = ("org_admin",)
OPERATE_ROLES = ("org_admin", "operator")
READ_ROLES = ("org_admin", "operator", "viewer")


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def resolve_user(request: Request, session: Session) -> User | None:
    """Bearer token, else session cookie (then unsafe methods need the CSRF double-submit header)."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return user_for_token(session, authorization[7:].strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    web = web_session_for(session, cookie)
    if web is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            given = request.scope.get("jadechain.form_csrf")
        if not csrf_matches(web.csrf_token, given):
            raise Forbidden("missing or wrong CSRF token (send the csrf cookie's value in X-CSRF-Token)")
    request.state.csrf_token = web.csrf_token
    return web.user


def current_user(request: Request, session: SessionDep) -> User:
    user = resolve_user(request, session)
    if user is None:
        raise Unauthenticated("sign in, or send a bearer API token")
    request.state.user = user
    return user


UserDep = Annotated[User, Depends(current_user)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def is_platform_admin(user: User) -> bool:
    return user.role == "platform_admin"


def require_platform_admin(user: User) -> None:
    if not is_platform_admin(user):
        raise Forbidden("platform administrators only")


def require_org_role(user: User, organization_id: int, roles: tuple[str, ...], *, platform_admin: bool = True) -> None:
    """The caller holds one of ``roles`` in ``organization_id`` (or is a platform admin, if allowed)."""
    if platform_admin and is_platform_admin(user):
        return
    if user.organization_id != organization_id or user.role not in roles:
        raise Forbidden(f"needs role {' or '.join(roles)} in organisation {organization_id}")


def consortium_member_ids(session: Session, consortium_id: int) -> list[int]:
    return list(session.scalars(select(ConsortiumMember.organization_id)
                                .where(ConsortiumMember.consortium_id == consortium_id)))


def require_consortium_access(session: Session, user: User, consortium: Consortium, roles: tuple[str, ...]) -> None:
    """A platform admin, or a user of a member organisation with one of ``roles``."""
    if is_platform_admin(user):
        return
    if user.organization_id not in consortium_member_ids(session, consortium.id) or user.role not in roles:
        raise Forbidden(f"needs role {' or '.join(roles)} in a member organisation of consortium {consortium.name}")


def get_or_404(session: Session, model: Any, ident: int, what: str) -> Any:
    row = session.get(model, ident)
    if row is None:
        raise NotFoundError(f"{what} {ident} not found")
    return row
