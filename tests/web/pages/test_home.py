"""Home and login pages (issue 2: they must render) and the session login/logout round trip."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.pages.conftest import PASSWORD, csrf_of


def test_login_page_renders_a_labelled_form_with_csrf(client: TestClient) -> None:
    r = client.get("/login")
    assert r.status_code == 200
    assert '<label for="f-username">User name</label>' in r.text
    assert '<label for="f-password">Password</label>' in r.text
    token = csrf_of(r.text)
    assert token and f'name="csrf_token" value="{token}"' in r.text
    assert "/static/js/htmx.min.js?v=" in r.text and "/static/css/app.css?v=" in r.text


def test_wrong_password_shows_an_error(client: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    login("viewer", "vic")
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "vic", "password": "nope", "csrf_token": token})
    assert r.status_code == 200 and "Wrong user name or password." in r.text


def test_login_without_csrf_token_is_refused(client: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    login("viewer", "val")
    client.get("/login")
    r = client.post("/login", data={"username": "val", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403


def test_home_page_renders_for_a_logged_in_user(login, small_mapping) -> None:  # type: ignore[no-untyped-def]
    browser = login("viewer", "vera")
    r = browser.get("/")
    assert r.status_code == 200
    assert "Welcome, vera" in r.text  # her first login (test_welcome.py: "Welcome back" later)
    assert small_mapping.name in r.text
    assert 'id="review-badge"' in r.text and 'id="toasts"' in r.text
    assert 'aria-current="page">Home' in r.text


def test_anonymous_home_redirects_to_login(client: TestClient) -> None:
    r = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logout_ends_the_session(login) -> None:  # type: ignore[no-untyped-def]
    browser = login("viewer")
    r = browser.post("/logout")
    assert r.status_code == 303
    r = browser.client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303


def test_unknown_page_renders_the_404_template(login) -> None:  # type: ignore[no-untyped-def]
    r = login("viewer").get("/mappings/999999", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert "Page not found" in r.text
