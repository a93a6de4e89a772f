"""Server-side browser sessions (services layer): start, resolve, end and revoke logins.

The signed session cookie carries only a random session id; the ``user_session`` row (keyed by the
id's sha256) decides whether it is still valid. Logging out, or changing a user's password, role or
active flag, therefore ends every copy of the cookie at once.

API:
    start_session(session, *, user, max_age_s, user_agent=None, client_addr=None, now=None) -> str
    resolve_session(session, session_id, *, max_age_s, touch_interval_s, now=None) -> User | None
    end_session(session, session_id, *, now=None) -> None
    revoke_user_sessions(session, user_id, *, now=None) -> int
    has_logged_in_before(session, user_id) -> bool

A session expires when it has not been seen for ``max_age_s``. ``last_seen_at`` is bookkeeping:
written at most once per ``touch_interval_s``, after the request's commit, best effort (a busy
database skips it with a log line, never failing the request).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.db import repositories_security as security_repo
from app.db.base import utcnow
from app.db.models import User
from app.db.models_security import UserSession
from app.queue import after_commit

USER_AGENT_MAX = 200
CLIENT_ADDR_MAX = 64


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def start_session(
    session: Session,
    *,
    user: User,
    max_age_s: int,
    user_agent: str | None = None,
    client_addr: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new session for ``user``; returns the id to put in the cookie (only its hash is stored).

    The user's revoked and expired sessions are deleted on the way, so the table stays small.
    """
    now = now or utcnow()
    security_repo.delete_dead_sessions(session, user.id, seen_before=now - timedelta(seconds=max_age_s))
    session_id = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            session_hash=_hash(session_id),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            user_agent=_clip(user_agent, USER_AGENT_MAX),
            client_addr=_clip(client_addr, CLIENT_ADDR_MAX),
        )
    )
    session.flush()
    return session_id


def resolve_session(
    session: Session,
    session_id: str,
    *,
    max_age_s: int,
    touch_interval_s: int,
    now: datetime | None = None,
) -> User | None:
    """The active user of a live session, or None (unknown, revoked, expired, or user inactive)."""
    now = now or utcnow()
    found = security_repo.get_session_by_hash(session, _hash(session_id))
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.last_seen_at <= now - timedelta(seconds=max_age_s):
        return None
    if not user.is_active:
        return None
    stale_before = now - timedelta(seconds=touch_interval_s)
    if row.last_seen_at < stale_before:
        engine, row_id = session.get_bind().engine, row.id
        after_commit(
            session, lambda: security_repo.touch_session(engine, row_id, now=now, stale_before=stale_before)
        )
    return user


def end_session(session: Session, session_id: str, *, now: datetime | None = None) -> None:
    """Revoke one session (logout); unknown or already revoked ids are ignored."""
    security_repo.revoke_session(session, _hash(session_id), now=now or utcnow())


def revoke_user_sessions(session: Session, user_id: int, *, now: datetime | None = None) -> int:
    """Revoke every live session of ``user_id`` (password, role or activation changed)."""
    return security_repo.revoke_user_sessions(session, user_id, now=now or utcnow())


def has_logged_in_before(session: Session, user_id: int) -> bool:
    """Whether ``user_id`` has started a browser session before; ask before :func:`start_session`.

    Every login leaves its row, and a user's dead rows are deleted only by their next
    :func:`start_session`, after this question: so a user who logged in before has a row.
    """
    return security_repo.user_has_sessions(session, user_id)
