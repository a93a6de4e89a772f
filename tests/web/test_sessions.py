"""Server-side browser sessions over HTTP: a copied cookie dies with logout and account changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.db.models_security import UserSession
from app.services import sessions as session_service
from app.services import users as user_service

COOKIE = "unilabel_session"


@pytest.fixture
def browsers(app: FastAPI) -> Iterator[tuple[TestClient, TestClient]]:
    """Two independent browsers on the same app (the second gets a copy of the first one's cookie)."""
    with TestClient(app) as first:
        second = TestClient(app)
        yield first, second
        second.close()


def _login(
    client: TestClient, session_factory: sessionmaker[Session], name: str, role: str = "editor"
) -> int:
    with session_factory() as s:
        user = user_service.create_user(s, name=name, role=role)
        token = user_service.create_login_token(s, user=user, ttl_s=60)
        s.commit()
        user_id = user.id
    r = client.get(f"/login/token?token={token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    return user_id


def _copy_cookie(source: TestClient, target: TestClient) -> None:
    target.cookies.set(COOKIE, source.cookies[COOKIE])


def _cookie_data(client: TestClient) -> dict[str, object]:
    payload = client.cookies[COOKIE].split(".")[0]
    data: dict[str, object] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def _me(client: TestClient) -> int:
    return client.get("/api/v1/users/me").status_code


def test_cookie_carries_only_a_session_id(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session]
) -> None:
    first, _ = browsers
    user_id = _login(first, session_factory, "cookie-owner")
    data = _cookie_data(first)
    assert "user_id" not in data and isinstance(data["sid"], str)
    with session_factory() as s:
        rows = s.scalars(select(UserSession).where(UserSession.user_id == user_id)).all()
    assert len(rows) == 1 and rows[0].revoked_at is None
    assert data["sid"] not in rows[0].session_hash  # only the hash is stored


def test_copied_cookie_stops_working_after_logout(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session]
) -> None:
    first, second = browsers
    _login(first, session_factory, "leaver")
    _copy_cookie(first, second)
    assert _me(first) == 200 and _me(second) == 200
    csrf = str(_cookie_data(first)["csrf"])
    r = first.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _me(first) == 401
    assert _me(second) == 401  # the copy was revoked server-side, not just deleted in one browser
    page = second.get("/", follow_redirects=False)
    assert page.status_code in (303, 401) and page.status_code < 500


@pytest.mark.parametrize(
    "change",
    [{"password": "a brand new secret"}, {"role": "viewer"}, {"is_active": False}],
    ids=["password", "role", "deactivation"],
)
def test_copied_cookie_stops_working_after_account_change(
    browsers: tuple[TestClient, TestClient],
    session_factory: sessionmaker[Session],
    admin: dict[str, str],
    change: dict[str, object],
) -> None:
    first, second = browsers
    user_id = _login(first, session_factory, "changed")
    _copy_cookie(first, second)
    assert _me(second) == 200
    r = first.patch(f"/api/v1/users/{user_id}", json=change, headers=admin)
    assert r.status_code == 200, r.text
    assert _me(first) == 401 and _me(second) == 401


def test_unchanged_role_keeps_sessions(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session], admin: dict[str, str]
) -> None:
    first, second = browsers
    user_id = _login(first, session_factory, "steady", role="editor")
    _copy_cookie(first, second)
    r = first.patch(f"/api/v1/users/{user_id}", json={"role": "editor", "is_active": True}, headers=admin)
    assert r.status_code == 200
    assert _me(first) == 200 and _me(second) == 200


def test_login_revokes_the_browser_s_previous_session(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session]
) -> None:
    first, second = browsers
    _login(first, session_factory, "someone")
    _copy_cookie(first, second)
    _login(first, session_factory, "someone-else")  # same browser, new login: no session fixation
    assert first.get("/api/v1/users/me").json()["name"] == "someone-else"
    assert _me(second) == 401


def test_idle_session_expires_after_max_age(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session], settings: Settings
) -> None:
    first, _ = browsers
    user_id = _login(first, session_factory, "idle")
    with session_factory() as s:
        s.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id)
            .values(last_seen_at=utcnow() - timedelta(seconds=settings.session_max_age_s + 1))
        )
        s.commit()
    assert _me(first) == 401


def test_last_seen_is_bookkeeping_written_rarely(
    browsers: tuple[TestClient, TestClient], session_factory: sessionmaker[Session], settings: Settings
) -> None:
    first, _ = browsers
    user_id = _login(first, session_factory, "seen")

    def last_seen() -> object:
        with session_factory() as s:
            return s.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == user_id))

    at_login = last_seen()
    assert _me(first) == 200 and last_seen() == at_login  # fresh: no write
    stale = utcnow() - timedelta(seconds=settings.auth_touch_interval_s + 5)
    with session_factory() as s:
        s.execute(update(UserSession).where(UserSession.user_id == user_id).values(last_seen_at=stale))
        s.commit()
    assert _me(first) == 200
    touched = last_seen()
    assert isinstance(touched, type(stale)) and touched > stale + timedelta(seconds=4)
    assert _me(first) == 200 and last_seen() == touched


class TestSessionService:
    def test_update_user_revokes_sessions_only_for_real_changes(self, session: Session) -> None:
        user = user_service.create_user(session, name="svc", role="editor", password="correct horse")
        sid = session_service.start_session(session, user=user, max_age_s=3600)

        def alive() -> bool:
            found = session_service.resolve_session(session, sid, max_age_s=3600, touch_interval_s=300)
            return found is not None

        user_service.update_user(session, user.id, role="editor", is_active=True)
        assert alive()
        user_service.update_user(session, user.id, role="reviewer")
        assert not alive()
        sid = session_service.start_session(session, user=user, max_age_s=3600)
        user_service.update_user(session, user.id, is_active=False)
        assert not alive()
        user_service.update_user(session, user.id, is_active=True)
        assert not alive()  # reactivation does not bring revoked sessions back
        sid = session_service.start_session(session, user=user, max_age_s=3600)
        user_service.update_user(session, user.id, password="another secret")
        assert not alive()

    def test_start_session_forgets_dead_rows(self, session: Session) -> None:
        user = user_service.create_user(session, name="many", role="viewer")
        for _ in range(3):
            sid = session_service.start_session(session, user=user, max_age_s=3600)
            session_service.end_session(session, sid)
        session_service.start_session(session, user=user, max_age_s=3600)
        rows = session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
        assert len(rows) == 1 and rows[0].revoked_at is None

    def test_resolve_session_reads_session_and_user_in_one_query(self, session: Session) -> None:
        user = user_service.create_user(session, name="onequery", role="viewer")
        sid = session_service.start_session(session, user=user, max_age_s=3600)
        session.commit()
        session.expunge_all()  # a new request: nothing in the identity map
        engine = session.get_bind().engine
        statements: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            found = session_service.resolve_session(session, sid, max_age_s=3600, touch_interval_s=300)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert found is not None and found.name == "onequery"
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
