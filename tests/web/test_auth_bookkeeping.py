"""Bearer reads never fail for bookkeeping: the last-used time is written rarely and best effort."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.db.models import ApiToken
from app.db.session import make_engine
from tests import factories


def _token(session_factory: sessionmaker[Session]) -> tuple[int, dict[str, str]]:
    with session_factory() as s:
        user, plaintext = factories.make_user(s, role="viewer")
        s.commit()
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    assert token_id is not None
    return token_id, {"Authorization": f"Bearer {plaintext}"}


def _last_used(session_factory: sessionmaker[Session], token_id: int) -> datetime | None:
    with session_factory() as s:
        return s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))


@contextmanager
def _write_locked(settings: Settings, token_id: int) -> Iterator[None]:
    """Another connection holds a write lock: the whole file (SQLite) or the token's row (PostgreSQL)."""
    if settings.is_sqlite:
        conn = sqlite3.connect(settings.database_url.split("sqlite:///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # what a running job's progress write looks like to others
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT id FROM api_token WHERE id = :id FOR UPDATE"), {"id": token_id})
            yield
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.timeout(60)
def test_bearer_get_succeeds_while_another_connection_holds_a_write_lock(
    client: TestClient,
    settings: Settings,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_id, headers = _token(session_factory)
    assert _last_used(session_factory, token_id) is None  # stale: this request wants to record it
    caplog.set_level(logging.WARNING, logger="app.db.repositories_security")
    with _write_locked(settings, token_id):
        started = time.perf_counter()
        r = client.get("/api/v1/taxonomies", headers=headers)
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    assert elapsed < 5.0  # the bookkeeping gave up quickly instead of waiting out the busy timeout
    assert f"skipped last-used time of token {token_id} (database busy)" in caplog.text
    assert _last_used(session_factory, token_id) is None
    assert client.get("/api/v1/taxonomies", headers=headers).status_code == 200
    assert _last_used(session_factory, token_id) is not None  # recorded once the lock is gone


def test_last_used_is_written_at_most_once_per_interval(
    client: TestClient, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    token_id, headers = _token(session_factory)
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    first = _last_used(session_factory, token_id)
    assert first is not None
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    assert _last_used(session_factory, token_id) == first  # within the interval: no write
    stale = utcnow() - timedelta(seconds=settings.auth_touch_interval_s + 5)
    with session_factory() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=stale))
        s.commit()
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    touched = _last_used(session_factory, token_id)
    assert touched is not None and touched > stale + timedelta(seconds=4)
