"""Sign-in (session cookie + CSRF), users of the console and their API tokens."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, is_platform_admin, require_org_role
from baas.errors import Conflict, Forbidden, InvalidRequest, TokenLifetimeTooLong, Unauthenticated, WeakPassword
from baas.models import ApiToken, Organization, User, UtcDateTime, WebSession, utcnow
from baas.security import (
    CSRF_COOKIE, MIN_PASSWORD_LENGTH, SESSION_COOKIE, authenticate, digest_secret, end_sessions_and_tokens,
    hash_password, new_api_token, new_web_session, password_problem, verify_password,
)

router = APIRouter(prefix="/api/v1", tags=["accounts"])

Role = Literal["platform_admin", "org_admin", "operator", "viewer"]
MIN_PASSWORD = MIN_PASSWORD_LENGTH


class LoginRequest(BaseModel):
    username: str = Field(max_length=120)
    password: str = Field(max_length=500)


class UserPublic(BaseModel):
    id: int
    username: str
    role: str
    organization_id: int | None
    organization: str | None = None
    active: bool
    created_at: UtcDateTime


class LoginPublic(BaseModel):
    user: UserPublic
    csrf_token: str
    expires_at: UtcDateTime


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=MIN_PASSWORD, max_length=500)
    role: Role
    organization_id: int | None = None


class UserUpdate(BaseModel):
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=MIN_PASSWORD, max_length=500)


class PasswordChange(BaseModel):
    current_password: str
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=500)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    ttl_days: int | None = Field(90, ge=1, le=3650, description="Expiry in days, at most the platform's maximum "
                                 "(default 365); a token that never expires (null) is refused")


class TokenPublic(BaseModel):
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret: shown only now, only its hash is stored")


def check_password(password: str, username: str = "") -> None:
    problem = password_problem(password, username)
    if problem is not None:
        raise WeakPassword(problem)


def user_public(user: User) -> UserPublic:
    return UserPublic(id=user.id, username=user.username, role=user.role, organization_id=user.organization_id,
                      organization=user.organization.name if user.organization else None, active=user.active,
                      created_at=user.created_at)


def token_public(token: ApiToken) -> TokenPublic:
    return TokenPublic(id=token.id, name=token.name, prefix=token.prefix, user_id=token.user_id,
                       created_at=token.created_at, expires_at=token.expires_at, revoked_at=token.revoked_at,
                       last_used_at=token.last_used_at)


# --- sign-in -------------------------------------------------------------------------------------------

@router.post("/auth/login", response_model=LoginPublic, summary="Sign in: sets the session and CSRF cookies")
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep) -> LoginPublic:
    settings = request.app.state.baas.settings
    user = authenticate(session, body.username, body.password, client_of(request),
                        settings.login_max_failures, settings.login_window_seconds)
    if user is None:
        audit.record(session, body.username[:120], "auth.login_failed", f"user:{body.username[:120]}", client=client_of(request))
        raise Unauthenticated("wrong user name or password")
    web, secret = new_web_session(session, user, settings.session_ttl_seconds)
    audit.record(session, user, "auth.login", f"user:{user.id}", client=client_of(request))
    max_age = settings.session_ttl_seconds
    secure = settings.cookie_secure or request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, web.csrf_token, max_age=max_age, httponly=False, samesite="strict",
                        secure=secure, path="/")
    return LoginPublic(user=user_public(user), csrf_token=web.csrf_token, expires_at=web.expires_at)


@router.post("/auth/logout", status_code=204, summary="End the console session")
def logout(request: Request, response: Response, session: SessionDep, user: UserDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        web = session.scalar(select(WebSession).where(WebSession.session_hash == digest_secret(cookie)))
        if web is not None:
            session.delete(web)
            audit.record(session, user, "auth.logout", f"user:{user.id}", client=client_of(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=UserPublic, summary="Who am I")
def me(user: UserDep) -> UserPublic:
    return user_public(user)


@router.post("/auth/password", status_code=204, summary="Change my password")
def change_password(body: PasswordChange, request: Request, session: SessionDep, user: UserDep) -> Response:
    if not verify_password(user.password_hash, body.current_password):
        raise Forbidden("current password is wrong")
    check_password(body.new_password, user.username)
    user.password_hash = hash_password(body.new_password)
    cookie = request.cookies.get(SESSION_COOKIE)
    # Whoever else held a session or a token (perhaps the reason for the change) is signed out.
    end_sessions_and_tokens(session, user, digest_secret(cookie) if cookie else None)
    audit.record(session, user, "user.password_changed", f"user:{user.id}", client=client_of(request))
    return Response(status_code=204)


# --- users ---------------------------------------------------------------------------------------------

@router.get("/users", response_model=list[UserPublic], tags=["users"], summary="Users (own organisation unless platform admin)")
def list_users(session: SessionDep, user: UserDep, organization_id: int | None = None) -> list[UserPublic]:
    query = select(User).order_by(User.id)
    if not is_platform_admin(user):
        query = query.where(User.organization_id == user.organization_id)
    elif organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    return [user_public(u) for u in session.scalars(query)]


@router.post("/users", response_model=UserPublic, status_code=201, tags=["users"])
def create_user(body: UserCreate, request: Request, session: SessionDep, user: UserDep) -> UserPublic:
    if body.role == "platform_admin":
        if not is_platform_admin(user):
            raise Forbidden("only platform admins create platform admins")
        if body.organization_id is not None:
            raise InvalidRequest("a platform admin belongs to no organisation")
    else:
        if body.organization_id is None:
            raise InvalidRequest("organization_id is required for this role")
        require_org_role(user, body.organization_id, ("org_admin",))
        get_or_404(session, Organization, body.organization_id, "organisation")
    check_password(body.password, body.username)
    if session.scalar(select(User).where(User.username == body.username)) is not None:
        raise Conflict(f"user {body.username} exists")
    created = User(username=body.username, password_hash=hash_password(body.password), role=body.role,
                   organization_id=body.organization_id)
    session.add(created)
    session.flush()
    audit.record(session, user, "user.created", f"user:{created.id}", {"username": created.username, "role": created.role},
                 organization_id=created.organization_id, client=client_of(request))
    session.refresh(created)
    return user_public(created)


def _managed_user(session: SessionDep, user: User, user_id: int) -> User:
    target: User = get_or_404(session, User, user_id, "user")
    if is_platform_admin(user):
        return target
    if target.organization_id is None or target.role == "platform_admin":
        raise Forbidden("platform admins are managed by platform admins")
    require_org_role(user, target.organization_id, ("org_admin",))
    return target


@router.get("/users/{user_id}", response_model=UserPublic, tags=["users"])
def get_user(user_id: int, session: SessionDep, user: UserDep) -> UserPublic:
    target: User = get_or_404(session, User, user_id, "user")
    if not is_platform_admin(user) and target.organization_id != user.organization_id:
        raise Forbidden("users of another organisation are not visible")
    return user_public(target)


@router.patch("/users/{user_id}", response_model=UserPublic, tags=["users"])
def update_user(user_id: int, body: UserUpdate, request: Request, session: SessionDep, user: UserDep) -> UserPublic:
    target = _managed_user(session, user, user_id)
    changes: dict[str, object] = {}
    if body.role is not None:
        if (body.role == "platform_admin") != (target.role == "platform_admin") and not is_platform_admin(user):
            raise Forbidden("only platform admins grant or remove the platform admin role")
        if body.role == "platform_admin" and target.organization_id is not None:
            raise InvalidRequest("a platform admin belongs to no organisation")
        target.role = body.role
        changes["role"] = body.role
    if body.active is not None:
        target.active = body.active
        changes["active"] = body.active
    if body.password is not None:
        check_password(body.password, target.username)
        target.password_hash = hash_password(body.password)
        end_sessions_and_tokens(session, target)
        changes["password"] = "reset"
    audit.record(session, user, "user.updated", f"user:{target.id}", changes, organization_id=target.organization_id,
                 client=client_of(request))
    return user_public(target)


@router.delete("/users/{user_id}", status_code=204, tags=["users"], summary="Deactivate a user (kept for the audit trail)")
def deactivate_user(user_id: int, request: Request, session: SessionDep, user: UserDep) -> Response:
    target = _managed_user(session, user, user_id)
    if target.id == user.id:
        raise InvalidRequest("you cannot deactivate yourself")
    target.active = False
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == target.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = utcnow()
    audit.record(session, user, "user.deactivated", f"user:{target.id}", organization_id=target.organization_id,
                 client=client_of(request))
    return Response(status_code=204)


# --- API tokens ----------------------------------------------------------------------------------------

@router.get("/tokens", response_model=list[TokenPublic], tags=["tokens"], summary="My API tokens (all, for platform admins)")
def list_tokens(session: SessionDep, user: UserDep) -> list[TokenPublic]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not is_platform_admin(user):
        query = query.where(ApiToken.user_id == user.id)
    return [token_public(t) for t in session.scalars(query)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"])
def create_token(body: TokenCreate, request: Request, session: SessionDep, user: UserDep) -> TokenCreated:
    longest = request.app.state.baas.settings.token_max_ttl_days
    if body.ttl_days is None or body.ttl_days > longest:
        raise TokenLifetimeTooLong(f"an API token lives at most {longest} days")
    token, secret = new_api_token(session, user, body.name, body.ttl_days)
    audit.record(session, user, "token.created", f"token:{token.id}", {"name": body.name, "ttl_days": body.ttl_days},
                 client=client_of(request))
    return TokenCreated(**token_public(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke an API token")
def revoke_token(token_id: int, request: Request, session: SessionDep, user: UserDep) -> Response:
    token: ApiToken = get_or_404(session, ApiToken, token_id, "token")
    if token.user_id != user.id and not is_platform_admin(user):
        raise Forbidden("you can revoke only your own tokens")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    audit.record(session, user, "token.revoked", f"token:{token.id}", client=client_of(request))
    return Response(status_code=204)

