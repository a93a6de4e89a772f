"""Fixtures for the HTML page tests: browser-like clients logged in with a password and a CSRF token."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Mapping
from app.services import users as user_service
from tests import factories

PASSWORD = "correct horse battery"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def csrf_of(page_html: str) -> str:
    match = _CSRF_META.search(page_html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def base_version_of(page_html: str) -> int:
    match = re.search(r'name="base_version" value="(\d+)"', page_html)
    assert match, "page has no base_version input"
    return int(match.group(1))


def unescape(text: str) -> str:
    return html.unescape(text)


@dataclass
class Browser:
    """A TestClient with a session cookie (logged in as ``name``) and its CSRF token."""

    client: TestClient
    name: str
    csrf: str

    def get(self, url: str, **kw: object) -> object:
        return self.client.get(url, **kw)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, object] | None = None, *, htmx: bool = False, **kw: object):  # type: ignore[no-untyped-def]
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if htmx:
            headers["HX-Request"] = "true"
            headers["X-CSRF-Token"] = self.csrf
        else:
            data = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=data, headers=headers, follow_redirects=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def login(app: FastAPI, session_factory: sessionmaker[Session]) -> Iterator[Callable[..., Browser]]:
    """``login("editor")`` -> a Browser logged in through the real login form as a new user."""
    clients: list[TestClient] = []
    seq = iter(range(1, 1000))

    def make(role: str = "editor", name: str | None = None) -> Browser:
        name = name or f"{role}-{next(seq)}"
        with session_factory() as s:
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
            s.commit()
        client = TestClient(app)
        clients.append(client)
        token = csrf_of(client.get("/login").text)
        r = client.post(
            "/login",
            data={"username": name, "password": PASSWORD, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        return Browser(client, name, csrf_of(client.get("/").text))

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def small_mapping(session_factory: sessionmaker[Session]) -> Mapping:
    """A committed mapping on the tiny factory taxonomies (road, sidewalk -> 0; building -> 1; sky -> 3)."""
    with session_factory() as s:
        mapping = factories.make_mapping(s, name="city → tiny")
        s.commit()
        return mapping
