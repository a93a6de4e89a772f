"""Error handling: one JSON shape for the API, pages for browsers, toasts for HTMX, body limits."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_api_404_is_json_even_for_browsers(client: TestClient, viewer: dict[str, str]) -> None:
    r = client.get("/api/v1/taxonomies/999", headers={**viewer, **HTML})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["field"] == "taxonomy_id"
    r = client.get("/api/v1/nope", headers=viewer)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_browser_404_gets_an_html_page(client: TestClient) -> None:
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()  # the errors/404.html page, not the plain-text fallback


def test_anonymous_browser_is_sent_to_login(client: TestClient) -> None:
    r = client.get("/taxonomies", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/taxonomies")


def test_htmx_errors_fire_a_toast_event(client: TestClient, viewer: dict[str, str]) -> None:
    r = client.get("/no/such/fragment", headers={**viewer, "HX-Request": "true"})
    assert r.status_code == 404
    trigger = json.loads(r.headers["HX-Trigger"])
    assert trigger["unilabel:toast"]["level"] == "error"
    assert 'id="toasts"' in r.text


def test_oversized_body_is_refused_before_parsing(client: TestClient, editor: dict[str, str]) -> None:
    body = b"x" * 400_000
    r = client.post(
        "/api/v1/taxonomies", content=body, headers={**editor, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_server_timing_header(client: TestClient) -> None:
    assert client.get("/api/v1/health").headers["server-timing"].startswith("app;dur=")


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/mappings/{mapping_id}/edges/toggle" in paths
