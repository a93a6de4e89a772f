"""/docs (Swagger UI) and /redoc load everything from this server: no CDN, no Google Fonts."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# src/href attributes and the JS string literals that point at an asset or the schema
_URLS = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def _referenced(html: str) -> list[str]:
    return [a or b for a, b in _URLS.findall(html)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_urls(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _referenced(r.text)
    assert urls, "the page references its assets"
    external = [u for u in urls if re.match(r"(?i)(https?:)?//", u)]
    assert external == []
    for host in ("jsdelivr", "unpkg", "googleapis", "tiangolo", "validator.swagger.io"):
        assert host not in r.text
    assert "/openapi.json" in urls


def test_swagger_ui_assets_are_served_pinned(client: TestClient) -> None:
    html = client.get("/docs").text
    js = next(u for u in _referenced(html) if u.endswith(".js?v=5.35.0"))
    css = next(u for u in _referenced(html) if "swagger-ui.css" in u)
    got_js, got_css = client.get(js), client.get(css)
    assert got_js.status_code == 200 and "javascript" in got_js.headers["content-type"]
    assert '"5.35.0"' in got_js.text  # the pinned swagger-ui-dist build
    assert got_css.status_code == 200 and got_css.headers["content-type"].startswith("text/css")
    assert '"validatorUrl": null' in html


def test_redoc_assets_are_served_pinned(client: TestClient) -> None:
    html = client.get("/redoc").text
    js = next(u for u in _referenced(html) if "redoc.standalone.js" in u)
    got = client.get(js)
    assert got.status_code == 200 and '"2.5.1"' in got.text
    assert "fonts.googleapis.com" not in html
