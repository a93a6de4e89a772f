"""Accounts (services layer): users with roles, hashed API tokens, one-time login tokens.

API:
    ROLES = ("viewer", "editor", "reviewer", "admin"); has_role(user, role) -> bool
    create_user(session, *, name, role, password=None) -> User            (Conflict, InvalidInput)
    get_user(session, user_id) / get_user_by_name(session, name) -> User (NotFound)
    list_users(session, *, limit, offset) -> (list[User], total)
    update_user(session, user_id, *, role=None, is_active=None, password=None) -> User
        (a new password, another role or deactivation revokes the user's browser sessions)
    authenticate_password(session, *, name, password) -> User | None     (unthrottled: the login
        form goes through services.login_throttle.login_with_password)
    create_api_token(session, *, user, name, expires_at=None) -> (ApiToken, plaintext)  # shown once
    authenticate_token(session, token, *, touch_interval_s=300, now=None) -> User | None  (bearer)
    list_api_tokens(session, *, user) -> list[ApiToken]
    revoke_api_token(session, *, user, token_id) -> None                 (own tokens; admins any)
    create_login_token(session, *, user, ttl_s) -> plaintext             (one-time login URL)
    consume_login_token(session, token, *, now=None) -> User             (NotAuthenticated; one
        conditional UPDATE, so of concurrent uses of one token exactly one succeeds)
    ensure_local_admin(session, *, name="admin") -> (User, created)

Tokens are random (256 bits), so a sha256 digest is a safe, fast lookup key; passwords use argon2.
A bearer token's ``last_used_at`` is bookkeeping: written at most once per ``touch_interval_s``,
after the request's commit in its own short transaction, and skipped (with a log line) when the
database is busy.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db import repositories_security as security_repo
from app.db.base import utcnow
from app.db.models import ApiToken, User
from app.domain.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from app.queue import after_commit
from app.services import sessions as session_service

ROLES: tuple[str, ...] = ("viewer", "editor", "reviewer", "admin")
TOKEN_PREFIX = "ul_"
TOKEN_TOUCH_INTERVAL_S = 300
_hasher = PasswordHasher()


def role_rank(role: str) -> int:
    try:
        return ROLES.index(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}; use one of {list(ROLES)}", field="role") from None


def has_role(user: User | None, role: str) -> bool:
    """True when ``user`` is active and holds ``role`` or a higher one."""
    return user is not None and user.is_active and role_rank(user.role) >= role_rank(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise InvalidInput("user name must be 1-80 characters without spaces", field="name")
    return name


def create_user(session: Session, *, name: str, role: str, password: str | None = None) -> User:
    name = _check_name(name)
    role_rank(role)
    if repo.get_user_by_name(session, name) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    user = User(name=name, role=role, password_hash=_hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def _hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("password must be at least 8 characters", field="password")
    return _hasher.hash(password)


def get_user(session: Session, user_id: int) -> User:
    user = repo.get_user(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    return user


def get_user_by_name(session: Session, name: str) -> User:
    user = repo.get_user_by_name(session, name)
    if user is None:
        raise NotFound(f"user {name!r} does not exist", field="name")
    return user


def list_users(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    return repo.page_users(session, limit=limit, offset=offset)


def update_user(
    session: Session,
    user_id: int,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag or password.

    A new password, a different role or deactivation revokes all the user's browser sessions: a
    copied session cookie must not keep the old credentials or rights.
    """
    user = get_user(session, user_id)
    revoke = False
    if role is not None:
        role_rank(role)
        revoke = role != user.role
        user.role = role
    if is_active is not None:
        revoke = revoke or (user.is_active and not is_active)
        user.is_active = is_active
    if password is not None:
        user.password_hash = _hash_password(password)
        revoke = True
    session.flush()
    if revoke:
        session_service.revoke_user_sessions(session, user.id)
    return user


def authenticate_password(session: Session, *, name: str, password: str) -> User | None:
    user = repo.get_user_by_name(session, name.strip())
    if user is None or not user.is_active or not user.password_hash:
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _new_token(
    session: Session, *, user: User, name: str, kind: str, expires_at: datetime | None
) -> tuple[ApiToken, str]:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        kind=kind,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:10],
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def create_api_token(
    session: Session, *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("token name must be 1-120 characters", field="name")
    return _new_token(session, user=user, name=name, kind="api", expires_at=expires_at)


def _usable(token: ApiToken, kind: str, now: datetime) -> bool:
    if token.kind != kind or token.revoked_at is not None:
        return False
    return token.expires_at is None or token.expires_at > now


def authenticate_token(
    session: Session,
    token: str,
    *,
    touch_interval_s: int = TOKEN_TOUCH_INTERVAL_S,
    now: datetime | None = None,
) -> User | None:
    """The active user owning a valid bearer token, or None.

    Records ``last_used_at`` when it is older than ``touch_interval_s``, once the unit of work has
    committed, best effort: a busy database skips the write, never the request.
    """
    now = now or utcnow()
    found = security_repo.get_token_with_user(session, hash_token(token.strip()))
    if found is None:
        return None
    row, user = found
    if not _usable(row, "api", now) or not user.is_active:
        return None
    stale_before = now - timedelta(seconds=touch_interval_s)
    if row.last_used_at is None or row.last_used_at < stale_before:
        engine, token_id = session.get_bind().engine, row.id
        after_commit(
            session, lambda: security_repo.touch_token(engine, token_id, now=now, stale_before=stale_before)
        )
    return user


def list_api_tokens(session: Session, *, user: User) -> list[ApiToken]:
    return repo.list_tokens(session, user_id=user.id, kind="api")


def revoke_api_token(session: Session, *, user: User, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.kind != "api":
        raise NotFound(f"token {token_id} does not exist", field="token_id")
    if row.user_id != user.id and not has_role(user, "admin"):
        raise PermissionDenied("you can only revoke your own tokens")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def create_login_token(session: Session, *, user: User, ttl_s: int) -> str:
    """A one-time login token (for the Jupyter-style URL printed by ``unilabel serve``)."""
    _, plaintext = _new_token(
        session,
        user=user,
        name="one-time login",
        kind="login",
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    return plaintext


def consume_login_token(session: Session, token: str, *, now: datetime | None = None) -> User:
    """Use up a one-time login token and return its user.

    The token is consumed by one conditional UPDATE (still unrevoked and unexpired); of several
    concurrent uses only the one whose UPDATE changes the row gets the user, the others get
    ``NotAuthenticated`` as for a used link.
    """
    now = now or utcnow()
    used = NotAuthenticated("this login link is invalid, expired or already used", field="token")
    row = repo.get_token_by_hash(session, hash_token(token.strip()))
    if row is None or row.kind != "login":
        raise used
    user = repo.get_user(session, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("this login link belongs to an inactive user", field="token")
    if not security_repo.consume_token(session, row.id, kind="login", now=now):
        raise used
    session.expire(row)  # the UPDATE bypassed the ORM; reload the row if anyone reads it
    return user


def ensure_local_admin(session: Session, *, name: str = "admin") -> tuple[User, bool]:
    """The local admin account (created on the first ``unilabel serve``)."""
    user = repo.get_user_by_name(session, name)
    if user is not None:
        return user, False
    return create_user(session, name=name, role="admin"), True


def user_names(session: Session, user_ids: list[int | None]) -> dict[int, str]:
    """User id -> name for display (authors, reviewers), in one query."""
    return repo.user_names(session, user_ids)


def count_users(session: Session) -> int:
    return repo.count_users(session)
