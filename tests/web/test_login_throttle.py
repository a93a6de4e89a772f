"""Password-login throttling over HTTP: refusals with a clear page, never a 5xx, logged."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.db.models_security import LoginThrottle
from app.services import users as user_service
from app.web.main import create_app

PASSWORD = "correct horse"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def throttled_app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    """An app whose lockouts start after 3 failures per name / 4 per address, 30 s first."""
    with session_factory() as s:
        user_service.create_user(s, name="pat", role="viewer", password=PASSWORD)
        s.commit()
    update_ = {
        "login_throttle_free_failures": 3,
        "login_throttle_client_free_failures": 4,
        "login_throttle_base_delay_s": 30.0,
    }
    return create_app(settings.model_copy(update=update_))


@pytest.fixture
def browser(throttled_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(throttled_app) as c:
        yield c


def _post_login(client: TestClient, username: str, password: str) -> tuple[int, str, str | None]:
    csrf = _CSRF.search(client.get("/login").text)
    assert csrf, "login page has no CSRF field"
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf.group(1), "next": "/x"},
        follow_redirects=False,
    )
    return r.status_code, r.headers.get("location", ""), r.headers.get("retry-after")


def _unlock(session_factory: sessionmaker[Session]) -> None:
    """Let time pass: every lockout ended a second ago."""
    with session_factory() as s:
        s.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()


def test_wrong_passwords_lock_the_account_even_for_the_right_password(
    browser: TestClient, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.services.login_throttle")
    outcomes = [_post_login(browser, "pat", f"guess {i}") for i in range(30)]
    checked = [o for o in outcomes if "error=1" in o[1]]
    refused = [o for o in outcomes if o[1].startswith("/login?retry_after=")]
    assert len(checked) == 4 and len(refused) == 26  # 3 free failures, the 4th locks for 30 s
    assert all(status == 303 for status, _, _ in outcomes)
    assert refused[0][1] == "/login?retry_after=30&next=/x" and refused[0][2] == "30"

    status, location, retry_after = _post_login(browser, "pat", PASSWORD)
    assert status == 303 and location.startswith("/login?retry_after=") and retry_after is not None
    page = browser.get(location)
    assert page.status_code == 200
    assert re.search(r"Too many failed sign-in attempts\. Try again in \d+ s\.", page.text)
    assert browser.get("/api/v1/users/me").status_code == 401
    assert "login lockout: account='pat' after 4 failures, locked for 30s (client=testclient)" in caplog.text
    assert "login throttled: account='pat' client=testclient retry_after=" in caplog.text

    _unlock(session_factory)
    assert _post_login(browser, "pat", PASSWORD)[1] == "/x"  # allowed once the lockout passed
    assert browser.get("/api/v1/users/me").json()["name"] == "pat"


def test_next_failure_after_a_lockout_doubles_it(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    for i in range(4):
        _post_login(browser, "pat", f"guess {i}")
    _unlock(session_factory)
    assert "error=1" in _post_login(browser, "pat", "guess again")[1]
    assert _post_login(browser, "pat", PASSWORD)[2] == "60"


def test_one_address_guessing_many_names_is_throttled(throttled_app: FastAPI, browser: TestClient) -> None:
    for i in range(5):  # one failure per name: only the address reaches its limit (4)
        assert "error=1" in _post_login(browser, f"name{i}", "guess")[1]
    assert _post_login(browser, "pat", PASSWORD)[1].startswith("/login?retry_after=30")
    with TestClient(throttled_app, client=("203.0.113.5", 40000)) as elsewhere:
        assert _post_login(elsewhere, "pat", PASSWORD)[1] == "/x"


def test_overlong_user_name_is_a_failed_login_not_an_error(browser: TestClient) -> None:
    status, location, _ = _post_login(browser, "n" * 50_000, "x" * 1_000)
    assert status == 303 and "error=1" in location
