"""Authentication and authorisation over HTTP: tokens, roles, public read, sessions, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services import users as user_service
from app.web.main import create_app


def test_anonymous_reads_and_writes_are_refused(client: TestClient) -> None:
    r = client.get("/api/v1/taxonomies")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.post("/api/v1/taxonomies", json={"name": "x", "labels": [{"value": 0, "name": "a"}]})
    assert r.status_code == 401
    assert client.get("/api/v1/health").status_code == 200


def test_invalid_token_is_401_not_anonymous(client: TestClient) -> None:
    r = client.get("/api/v1/users/me", headers={"Authorization": "Bearer ul_nope"})
    assert r.status_code == 401


def test_viewer_reads_but_cannot_write(client: TestClient, viewer: dict[str, str], snapshot) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/taxonomies", headers=viewer).status_code == 200
    before = snapshot()
    r = client.post(
        "/api/v1/taxonomies", json={"name": "x", "labels": [{"value": 0, "name": "a"}]}, headers=viewer
    )
    assert r.status_code == 403 and r.json()["error"]["details"]["required_role"] == "editor"
    assert snapshot() == before


def test_public_read_allows_anonymous_reads_only(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"public_read": True}))
    with TestClient(app) as c:
        assert c.get("/api/v1/taxonomies").status_code == 200
        assert (
            c.post(
                "/api/v1/taxonomies", json={"name": "x", "labels": [{"value": 0, "name": "a"}]}
            ).status_code
            == 401
        )


def test_users_me_and_tokens(client: TestClient, editor: dict[str, str]) -> None:
    me = client.get("/api/v1/users/me", headers=editor).json()
    assert me["role"] == "editor"
    r = client.post("/api/v1/tokens", json={"name": "ci"}, headers=editor)
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    new = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/users/me", headers=new).json()["name"] == me["name"]
    listed = client.get("/api/v1/tokens", headers=editor).json()
    assert listed["total"] == 2 and all("token" not in t for t in listed["items"])
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=editor).status_code == 204
    assert client.get("/api/v1/users/me", headers=new).status_code == 401


def test_only_admins_manage_users(client: TestClient, editor: dict[str, str], admin: dict[str, str]) -> None:
    body = {"name": "newbie", "role": "reviewer"}
    assert client.post("/api/v1/users", json=body, headers=editor).status_code == 403
    r = client.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["token"].startswith("ul_")
    assert client.get("/api/v1/users", headers=admin).json()["total"] >= 2


def _login(client: TestClient, session_factory: sessionmaker[Session], role: str = "editor") -> None:
    with session_factory() as s:
        user = user_service.create_user(s, name=f"browser-{role}", role=role)
        token = user_service.create_login_token(s, user=user, ttl_s=60)
        s.commit()
    r = client.get(f"/login/token?token={token}&next=/somewhere", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/somewhere"
    again = client.get(f"/login/token?token={token}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/login?expired=1"  # used up


def _csrf(client: TestClient) -> str:
    """The CSRF token, read back from the signed session cookie."""
    import base64
    import json

    cookie = client.cookies["unilabel_session"]
    payload = cookie.split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return str(data["csrf"])


def test_one_time_login_sets_session_cookie(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _login(client, session_factory)
    assert client.get("/api/v1/users/me").json()["name"] == "browser-editor"


def test_cookie_writes_need_the_csrf_token(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _login(client, session_factory)
    body = {"name": "x", "labels": [{"value": 0, "name": "a"}]}
    r = client.post("/api/v1/taxonomies", json=body)
    assert r.status_code == 403 and r.json()["error"]["field"] == "csrf_token"
    r = client.post("/api/v1/taxonomies", json=body, headers={"X-CSRF-Token": _csrf(client)})
    assert r.status_code == 201


def test_logout_clears_the_session(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    _login(client, session_factory)
    r = client.post("/logout", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/users/me").status_code == 401


def test_password_login_form(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        user_service.create_user(s, name="pat", role="viewer", password="correct horse")
        s.commit()
    client.get("/login")  # the page sets the CSRF token in the session
    token = _csrf(client) if "unilabel_session" in client.cookies else ""
    bad = client.post(
        "/login", data={"username": "pat", "password": "nope", "csrf_token": token}, follow_redirects=False
    )
    assert bad.status_code == 303 and re.search(r"error=1", bad.headers["location"])
    ok = client.post(
        "/login",
        data={"username": "pat", "password": "correct horse", "csrf_token": _csrf(client), "next": "//evil"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert client.get("/api/v1/users/me").json()["name"] == "pat"


@pytest.mark.parametrize("path", ["/api/v1/mappings", "/api/v1/users", "/api/v1/tokens"])
def test_reads_need_login(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_unused_fixture_guard(make_headers: Callable[..., dict[str, str]]) -> None:
    assert make_headers("viewer")["Authorization"].startswith("Bearer ul_")


def test_cookie_multipart_upload_with_csrf_form_field(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _login(client, session_factory)
    files = {"file": ("t.json", b'{"name": "up", "labels": [{"value": 0, "name": "a"}]}', "application/json")}
    refused = client.post("/api/v1/taxonomies/import", files=files)
    assert refused.status_code == 403
    ok = client.post("/api/v1/taxonomies/import", files=files, data={"csrf_token": _csrf(client)})
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "up"


def test_used_login_link_lands_on_a_page_that_says_so(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _login(client, session_factory)  # uses the link up, then tries it again
    client.post("/logout", data={"csrf_token": _csrf(client)})
    page = client.get("/login?expired=1")
    assert page.status_code == 200 and "This login link is invalid, expired or already used." in page.text
