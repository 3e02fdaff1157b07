"""Passwords (argon2id), API tokens and web sessions (only hashes at rest), CSRF, login throttling."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baas.errors import TooManyAttempts
from baas.models import ApiToken, LoginAttempt, User, WebSession, utcnow

TOKEN_PREFIX = "jdc_"
SESSION_COOKIE = "jadechain_session"
CSRF_COOKIE = "jadechain_csrf"
CSRF_HEADER = "x-csrf-token"

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): strong against GPUs, yet a
# login stays well under a second on a small shared machine. Old hashes with other parameters verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest_secret(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (tokens, session ids): enough, since they are not guessable."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token(session: Session, user: User, name: str, ttl_days: int | None) -> tuple[ApiToken, str]:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=ttl_days) if ttl_days else None
    token = ApiToken(user_id=user.id, name=name, token_hash=digest_secret(secret), prefix=secret[:10],
                     expires_at=expires)
    session.add(token)
    session.flush()
    return token, secret


def user_for_token(session: Session, secret: str) -> User | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest_secret(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if not token.user.active:
        return None
    token.last_used_at = now
    session.commit()
    return token.user


def new_web_session(session: Session, user: User, ttl_seconds: int) -> tuple[WebSession, str]:
    secret = secrets.token_urlsafe(32)
    web = WebSession(user_id=user.id, session_hash=digest_secret(secret), csrf_token=secrets.token_urlsafe(24),
                     expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds))
    session.add(web)
    session.flush()
    return web, secret


def web_session_for(session: Session, secret: str) -> WebSession | None:
    web = session.scalar(select(WebSession).where(WebSession.session_hash == digest_secret(secret)))
    if web is None or web.expires_at <= utcnow() or not web.user.active:
        return None
    return web


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


def check_login_allowed(session: Session, username: str, client: str, max_failures: int, window: int) -> None:
    """Refuse (429) after ``max_failures`` failed logins for this name, or four times as many from this
    client address (several users may share one address), within the window."""
    since = utcnow() - dt.timedelta(seconds=window)
    for column, value, limit in ((LoginAttempt.username, username, max_failures),
                                 (LoginAttempt.client, client, 4 * max_failures)):
        failures = session.scalar(select(func.count()).select_from(LoginAttempt).where(
            column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since))
        if failures and failures >= limit:
            raise TooManyAttempts("too many failed logins; try again later")


def authenticate(session: Session, username: str, password: str, client: str, max_failures: int, window: int) -> User | None:
    check_login_allowed(session, username, client, max_failures, window)
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash, password) if user is not None else verify_password(_DUMMY_HASH, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=username, client=client, succeeded=ok))
    session.commit()
    return user if ok else None
