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
    """Refuse (429, with a Retry-After that doubles) once this client has failed ``max_failures`` times
    for this user name within the window, or four times as many over any names (password spraying).

    The account itself is never locked for everyone: failures from one address do not stop its owner
    signing in from another (five wrong passwords used to lock even the platform admin out).
    """
    now = utcnow()
    since = now - dt.timedelta(seconds=window)
    for conditions, limit in (((LoginAttempt.username == username, LoginAttempt.client == client), max_failures),
                              ((LoginAttempt.client == client,), 4 * max_failures)):
        failures, last = session.execute(select(func.count(), func.max(LoginAttempt.at)).where(
            *conditions, LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since)).one()
        if failures and failures >= limit:
            delay = min(window, 30 * 2 ** min(failures - limit, 10))
            remaining = (last + dt.timedelta(seconds=delay) - now).total_seconds()
            if remaining > 0:
                raise TooManyAttempts("too many failed logins from this address; try again later",
                                      retry_after=max(1, int(remaining) + 1))


# A short list of the passwords that leak lists show first; a password is weak if what remains after
# stripping digits and punctuation from its ends is one of them, or if it uses fewer than 5 characters.
COMMON_PASSWORDS = frozenset("""
password passw0rd p@ssword p@ssw0rd qwerty qwertyuiop qwertz azerty asdfgh asdfghjkl zxcvbnm
letmein welcome welcome1 admin administrator root toor changeme default secret monkey dragon
master shadow sunshine princess football baseball iloveyou trustno1 superman batman starwars
abc abcdef abcdefg abcdefgh abc123 login guest test testing jadechain blockchain consortium
hello hellohello whatever freedom ninja mustang access michael charlie passport computer internet
""".split())
MIN_PASSWORD_LENGTH = 12


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    core = lowered.strip("0123456789!@#$%^&*()-_=+.,;:?'\" ")
    if not core or core in COMMON_PASSWORDS or lowered in COMMON_PASSWORDS:
        return "this password is on the list of common passwords"
    if len(set(lowered)) < 5:
        return "a password needs at least 5 different characters"
    if lowered.isdigit() or lowered in "01234567890123456789" or lowered in "abcdefghijklmnopqrstuvwxyz":
        return "a password cannot be a sequence"
    if username and len(username) >= 3 and username.lower() in lowered:
        return "a password cannot contain the user name"
    return None


def end_sessions_and_tokens(session: Session, user: User, keep_session_hash: str | None = None) -> None:
    """After a password change or reset: every other console session ends and every API token is revoked."""
    for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        if web.session_hash != keep_session_hash:
            session.delete(web)
    now = utcnow()
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now


def authenticate(session: Session, username: str, password: str, client: str, max_failures: int, window: int) -> User | None:
    check_login_allowed(session, username, client, max_failures, window)
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash, password) if user is not None else verify_password(_DUMMY_HASH, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=username, client=client, succeeded=ok))
    session.commit()
    return user if ok else None
