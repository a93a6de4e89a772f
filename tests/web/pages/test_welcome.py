"""Home greeting: "Welcome" on a user's first login, "Welcome back" on later ones (issue 11)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.services import users as user_service
from tests.web.pages.conftest import PASSWORD, csrf_of


def _heading(client: TestClient) -> str:
    match = re.search(r"<h1>([^<]*)</h1>", client.get("/").text)
    assert match, "home page has no h1"
    return match.group(1)


def _password_login(app: FastAPI, name: str) -> TestClient:
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    data = {"username": name, "password": PASSWORD, "csrf_token": token, "next": "/"}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


def test_first_login_says_welcome_and_later_ones_welcome_back(app, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        user_service.create_user(s, name="nina", role="viewer", password=PASSWORD)
        s.commit()
    with _password_login(app, "nina") as first:
        assert _heading(first) == "Welcome, nina"
        assert _heading(first) == "Welcome, nina"  # the whole first session
        with _password_login(app, "nina") as other_browser:  # the first one is still signed in
            assert _heading(other_browser) == "Welcome back, nina"
        first.post("/logout", data={"csrf_token": csrf_of(first.get("/").text)})
    with _password_login(app, "nina") as again:  # after logging out (the old row is deleted now)
        assert _heading(again) == "Welcome back, nina"
    with _password_login(app, "nina") as third:
        assert _heading(third) == "Welcome back, nina"


def test_one_time_login_url_counts_as_the_first_login(
    app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        admin = user_service.create_user(s, name="ada", role="admin")
        token = user_service.create_login_token(s, user=admin, ttl_s=600)
        s.commit()
    with TestClient(app) as client:
        r = client.get(f"/login/token?token={token}", follow_redirects=False)
        assert r.status_code == 303
        assert _heading(client) == "Welcome, ada"
