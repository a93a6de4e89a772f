"""Queries and bookkeeping writes of account security (DB layer): token use, sessions, login throttles.

API:
    consume_token(session, token_id, *, kind, now) -> bool   -- one conditional UPDATE; only one caller wins
    get_token_with_user(session, token_hash) -> (ApiToken, User) | None  -- one query
    touch_token(engine, token_id, *, now, stale_before) -> bool         -- best effort (see below)
    get_session_by_hash(session, session_hash) -> (UserSession, User) | None  -- one query
    touch_session(engine, session_row_id, *, now, stale_before) -> bool  -- best effort
    revoke_session(session, session_hash, *, now) -> None
    revoke_user_sessions(session, user_id, *, now) -> int
    delete_dead_sessions(session, user_id, *, seen_before) -> None
    user_has_sessions(session, user_id) -> bool
    lock_throttles(session, keys, *, now) -> list[LoginThrottle]       -- create if missing, lock, reload
    delete_idle_throttles(session, *, idle_before, now, keep_ids) -> None

Best-effort bookkeeping (last-used / last-seen timestamps) runs in its own short transaction,
waits at most ``BOOKKEEPING_LOCK_WAIT_MS`` for a lock and swallows a busy database with a log
line: a read must never fail, or hold a write lock, because of bookkeeping. Services call it after
the request's commit (``app.queue.after_commit``), when the request's connection is back in the
pool. The UPDATE is conditional on the stored timestamp being stale, so concurrent requests and
several processes write it at most once per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, Update, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from app.db.models import ApiToken, User
from app.db.models_security import LoginThrottle, UserSession

log = logging.getLogger(__name__)

BOOKKEEPING_LOCK_WAIT_MS = 200


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE matched (``Session.execute`` is typed as returning a plain ``Result``)."""
    return int(cast(CursorResult[Any], result).rowcount)


# --- best-effort bookkeeping ----------------------------------------------------------------------


@contextmanager
def _short_lock_wait(conn: Connection) -> Iterator[None]:
    """Make ``conn`` give up on a held lock after ``BOOKKEEPING_LOCK_WAIT_MS`` (restored afterwards)."""
    if conn.dialect.name == "sqlite":
        previous = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        conn.exec_driver_sql(f"PRAGMA busy_timeout={BOOKKEEPING_LOCK_WAIT_MS}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={previous}")
    else:
        if conn.dialect.name == "postgresql":  # SET LOCAL: ends with this transaction
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{BOOKKEEPING_LOCK_WAIT_MS}ms'")
        yield


def _run_bookkeeping(engine: Engine, stmt: Update, *, what: str) -> bool:
    """Run ``stmt`` in its own short transaction; True when it changed a row, False if skipped."""
    try:
        with engine.connect() as conn, _short_lock_wait(conn):
            changed = conn.execute(stmt).rowcount == 1
            conn.commit()
            return changed
    except (OperationalError, PoolTimeoutError) as exc:
        log.warning("skipped %s (database busy): %s", what, str(exc).splitlines()[0])
        return False


# --- tokens ---------------------------------------------------------------------------------------


def consume_token(session: Session, token_id: int, *, kind: str, now: datetime) -> bool:
    """Mark an unrevoked, unexpired token of ``kind`` used and revoked; True for the one winner.

    One conditional UPDATE: concurrent callers serialise on the row (PostgreSQL) or the database
    write lock (SQLite), and every later one finds ``revoked_at`` set and changes nothing.
    """
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.kind == kind,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .values(revoked_at=now, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(stmt)) == 1


def touch_token(engine: Engine, token_id: int, *, now: datetime, stale_before: datetime) -> bool:
    """Best effort: set ``last_used_at`` when it is older than ``stale_before``."""
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale_before),
        )
        .values(last_used_at=now)
    )
    return _run_bookkeeping(engine, stmt, what=f"last-used time of token {token_id}")


def get_token_with_user(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    """The token of ``token_hash`` with its owner, in one query (every bearer request)."""
    stmt = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    token, user = row
    return token, user


# --- browser sessions -----------------------------------------------------------------------------


def get_session_by_hash(session: Session, session_hash: str) -> tuple[UserSession, User] | None:
    """The session row of ``session_hash`` with its user, in one query (every cookie request)."""
    stmt = (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.session_hash == session_hash)
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    found, user = row
    return found, user


def touch_session(engine: Engine, session_row_id: int, *, now: datetime, stale_before: datetime) -> bool:
    """Best effort: set ``last_seen_at`` when it is older than ``stale_before``."""
    stmt = (
        update(UserSession)
        .where(UserSession.id == session_row_id, UserSession.last_seen_at < stale_before)
        .values(last_seen_at=now)
    )
    return _run_bookkeeping(engine, stmt, what=f"last-seen time of session {session_row_id}")


def revoke_session(session: Session, session_hash: str, *, now: datetime) -> None:
    stmt = (
        update(UserSession)
        .where(UserSession.session_hash == session_hash, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)


def revoke_user_sessions(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every live session of ``user_id``; the number revoked."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(stmt))


def user_has_sessions(session: Session, user_id: int) -> bool:
    """Whether any session row (live, revoked or expired) of ``user_id`` exists."""
    stmt = select(UserSession.id).where(UserSession.user_id == user_id).limit(1)
    return session.execute(stmt).first() is not None


def delete_dead_sessions(session: Session, user_id: int, *, seen_before: datetime) -> None:
    """Forget ``user_id``'s revoked sessions and those idle since before ``seen_before``."""
    stmt = (
        delete(UserSession)
        .where(
            UserSession.user_id == user_id,
            or_(UserSession.revoked_at.is_not(None), UserSession.last_seen_at < seen_before),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)


# --- login throttles ------------------------------------------------------------------------------


def lock_throttles(
    session: Session, keys: Sequence[tuple[str, str]], *, now: datetime
) -> list[LoginThrottle]:
    """The throttle rows of ``keys`` ((scope, subject) pairs), created when missing and locked.

    Each row is upserted in the given order, which takes its row lock (PostgreSQL) or the database
    write lock (SQLite) until the transaction ends: concurrent attempts on the same account or
    address queue up, so each one sees the lockout its predecessor recorded. Callers pass keys in
    one fixed order (account, then client) so that two attempts never wait on each other in a cycle.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for scope, subject in keys:
        stmt = (
            insert(LoginThrottle)
            .values(scope=scope, subject=subject, failures=0, updated_at=now)
            .on_conflict_do_update(index_elements=["scope", "subject"], set_={"updated_at": now})
        )
        session.execute(stmt)
    wanted = or_(*(and_(LoginThrottle.scope == s, LoginThrottle.subject == k) for s, k in keys))
    rows = session.scalars(
        select(LoginThrottle).where(wanted).execution_options(populate_existing=True)
    ).all()
    by_key = {(r.scope, r.subject): r for r in rows}
    return [by_key[key] for key in keys]


def delete_idle_throttles(
    session: Session, *, idle_before: datetime, now: datetime, keep_ids: Sequence[int]
) -> None:
    """Delete unlocked throttle rows untouched since ``idle_before`` (skipping rows others hold)."""
    idle = (
        select(LoginThrottle.id)
        .where(
            LoginThrottle.updated_at < idle_before,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            LoginThrottle.id.not_in(keep_ids),
        )
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds the whole write lock anyway
    )
    stmt = (
        delete(LoginThrottle).where(LoginThrottle.id.in_(idle)).execution_options(synchronize_session=False)
    )
    session.execute(stmt)
