"""The request guards of app.web.middleware: body size on received bytes, JSON depth, NUL in URLs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.main import UPLOAD_OVERHEAD_BYTES
from app.web.middleware import MAX_JSON_DEPTH, json_depth_exceeds
from tests.web.api.conftest import SOURCE_CSV

HTML = {"Accept": "text/html,application/xhtml+xml"}
CHUNK = 64 * 1024


def _limit(settings: Settings) -> int:
    return settings.max_upload_bytes + UPLOAD_OVERHEAD_BYTES


def _chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _big_taxonomy_json(min_bytes: int) -> bytes:
    """A valid taxonomy whose description makes the body longer than ``min_bytes``."""
    body = {"name": "huge", "description": "x" * min_bytes, "labels": [{"value": 0, "name": "a"}]}
    return json.dumps(body).encode()


def _multipart(filename: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST", "http://testserver/", files={"file": (filename, data, "text/csv")}, data=fields
    )
    return request.read(), request.headers["content-type"]


def test_chunked_json_body_over_the_limit_is_refused_and_nothing_stored(
    client: TestClient, editor: dict[str, str], settings: Settings, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    body = _big_taxonomy_json(_limit(settings) + 1)
    # A generator body goes out chunked: no Content-Length for the fast check to read.
    r = client.post(
        "/api/v1/taxonomies",
        content=_chunks(body),
        headers={**editor, "Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and error["field"] == "body"
    assert str(_limit(settings)) in error["message"] and error["details"]["limit"] == _limit(settings)
    assert snapshot() == before
    assert client.get("/api/v1/taxonomies", headers=editor).json()["total"] == 0


def test_chunked_json_body_under_the_limit_is_accepted(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    body = _big_taxonomy_json(5_000)
    r = client.post(
        "/api/v1/taxonomies",
        content=_chunks(body, 1000),
        headers={**editor, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text


def test_chunked_multipart_upload_over_the_limit_is_refused_and_nothing_stored(
    client: TestClient, editor: dict[str, str], settings: Settings, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    padding = "".join(f"{i},pad{i},{i},255,void,0,False,True,#000000\n" for i in range(6, 20_000))
    data = (SOURCE_CSV + padding).encode()
    assert len(data) > _limit(settings)
    body, content_type = _multipart("labels.csv", data, {"name": "big"})
    r = client.post(
        "/api/v1/taxonomies/import", content=_chunks(body), headers={**editor, "Content-Type": content_type}
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert snapshot() == before


def test_htmx_upload_over_the_limit_gets_a_toast(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    body, content_type = _multipart("labels.csv", b"x" * (_limit(settings) + 1), {"name": "big"})
    r = client.post(
        "/taxonomies/import",
        content=_chunks(body),
        headers={**editor, **HTML, "HX-Request": "true", "Content-Type": content_type},
    )
    assert r.status_code == 413
    trigger = json.loads(r.headers["HX-Trigger"])
    assert trigger["unilabel:toast"]["level"] == "error"
    assert str(_limit(settings)) in trigger["unilabel:toast"]["message"]


def test_browser_upload_over_the_limit_gets_an_html_error(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    body, content_type = _multipart("labels.csv", b"x" * (_limit(settings) + 1), {"name": "big"})
    r = client.post(
        "/taxonomies/import", content=_chunks(body), headers={**editor, **HTML, "Content-Type": content_type}
    )
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert str(_limit(settings)) in r.text


async def _raw_call(app: FastAPI, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, bytes, int]:
    """Call the ASGI app with ``chunks`` as separate ``http.request`` messages.

    Returns (status, body, number of chunks the app pulled from ``receive``).
    """
    pulled = 0
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/taxonomies",
        "raw_path": b"/api/v1/taxonomies",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


def test_the_app_never_receives_the_rest_of_a_stream_past_the_limit(
    app: FastAPI, editor: dict[str, str], settings: Settings, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    body = _big_taxonomy_json(4 * _limit(settings))
    chunks = list(_chunks(body))
    headers = {**editor, "content-type": "application/json", "transfer-encoding": "chunked"}
    status, response, pulled = anyio.run(_raw_call, app, chunks, headers)
    assert status == 413, response
    assert json.loads(response)["error"]["code"] == "payload_too_large"
    # Refused as soon as the count passed the limit: one chunk past it, not the whole stream.
    assert pulled == _limit(settings) // CHUNK + 1 < len(chunks)
    assert snapshot() == before


def test_content_length_over_the_limit_is_refused_before_reading(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    size = _limit(settings) + 1
    r = client.post(
        "/api/v1/taxonomies", content=b"{" * size, headers={**editor, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["details"]["size"] == size


def test_deeply_nested_json_is_a_422_naming_the_limit(
    client: TestClient, editor: dict[str, str], snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    for depth in (MAX_JSON_DEPTH + 1, 5_000, 100_000):
        nested = "[" * depth + "]" * depth
        raw = '{"name": "deep", "labels": [{"value": 0, "name": "a", "category": ' + nested + "}]}"
        r = client.post(
            "/api/v1/taxonomies", content=raw, headers={**editor, "Content-Type": "application/json"}
        )
        assert r.status_code == 422, (depth, r.text)
        error = r.json()["error"]
        assert error["field"] == "body" and str(MAX_JSON_DEPTH) in error["message"]
    assert snapshot() == before


def test_json_body_that_is_not_utf8_is_a_422(client: TestClient, editor: dict[str, str]) -> None:
    raw = '{"name": "caf\u00e9", "labels": [{"value": 0, "name": "a"}]}'.encode("latin-1")
    r = client.post("/api/v1/taxonomies", content=raw, headers={**editor, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    assert "UTF-8" in r.json()["error"]["message"]


def test_deeply_nested_json_file_import_is_a_422(client: TestClient, editor: dict[str, str]) -> None:
    nested = "[" * 50_000 + "]" * 50_000
    data = ('{"name": "deep", "labels": ' + nested + "}").encode()
    files = {"file": ("deep.json", data, "application/json")}
    r = client.post("/api/v1/taxonomies/import", files=files, headers=editor)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "file"


def test_nul_bytes_in_the_url_are_a_422(client: TestClient, editor: dict[str, str]) -> None:
    r = client.get("/api/v1/taxonomies/1%00/export", headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "path"
    r = client.get("/api/v1/taxonomies?q=a%00b", headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "q"
    r = client.get("/api/v1/datasets/1/files/a%00.png", headers=editor)
    assert r.status_code == 422


def test_json_depth_ignores_brackets_inside_strings() -> None:
    deep = b"[" * 40 + b"]" * 40
    assert json_depth_exceeds(deep, 32)
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 100 + b'"}', 32)
    assert not json_depth_exceeds(b'["\\"[[[[[[", ' + b"[" * 31 + b"]" * 31 + b"]", 32)
    assert json_depth_exceeds(b'["\\\\", ' + b"[" * 32 + b"]" * 32 + b"]", 32)
