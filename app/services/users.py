"""Accounts (services layer): users with roles, hashed API tokens, one-time login tokens.

API:
    ROLES = ("viewer", "editor", "reviewer", "admin"); has_role(user, role) -> bool
    create_user(session, *, name, role, password=None) -> User            (Conflict, InvalidInput)
    get_user(session, user_id) / get_user_by_name(session, name) -> User (NotFound)
    list_users(session, *, limit, offset) -> (list[User], total)
    update_user(session, user_id, *, role=None, is_active=None, password=None) -> User
    authenticate_password(session, *, name, password) -> User | None
    create_api_token(session, *, user, name, expires_at=None) -> (ApiToken, plaintext)  # shown once
    authenticate_token(session, token) -> User | None                    (bearer tokens)
    list_api_tokens(session, *, user) -> list[ApiToken]
    revoke_api_token(session, *, user, token_id) -> None                 (own tokens; admins any)
    create_login_token(session, *, user, ttl_s) -> plaintext             (one-time login URL)
    consume_login_token(session, token) -> User                          (NotAuthenticated)
    ensure_local_admin(session, *, name="admin") -> (User, created)

Tokens are random (256 bits), so a sha256 digest is a safe, fast lookup key; passwords use argon2.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.base import utcnow
from app.db.models import ApiToken, User
from app.domain.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied

ROLES: tuple[str, ...] = ("viewer", "editor", "reviewer", "admin")
TOKEN_PREFIX = "ul_"
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
    user = get_user(session, user_id)
    if role is not None:
        role_rank(role)
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    if password is not None:
        user.password_hash = _hash_password(password)
    session.flush()
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


def _usable(token: ApiToken | None, kind: str) -> bool:
    if token is None or token.kind != kind or token.revoked_at is not None:
        return False
    return token.expires_at is None or token.expires_at > utcnow()


def authenticate_token(session: Session, token: str) -> User | None:
    """The active user owning a valid bearer token, or None."""
    row = repo.get_token_by_hash(session, hash_token(token.strip()))
    if not _usable(row, "api"):
        return None
    assert row is not None
    user = repo.get_user(session, row.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    # Throttled so that read-heavy scripts do not write on every request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        session.flush()
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


def consume_login_token(session: Session, token: str) -> User:
    """Use up a one-time login token and return its user."""
    row = repo.get_token_by_hash(session, hash_token(token.strip()))
    if not _usable(row, "login"):
        raise NotAuthenticated("this login link is invalid, expired or already used", field="token")
    assert row is not None
    user = repo.get_user(session, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("this login link belongs to an inactive user", field="token")
    row.revoked_at = row.last_used_at = utcnow()
    session.flush()
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
