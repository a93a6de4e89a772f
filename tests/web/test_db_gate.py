"""The database admission gate: a request that gets no slot in time is told to retry (503), and
every request gives its slot back, whatever its answer."""

from __future__ import annotations

import anyio
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.main import create_app


def test_no_free_slot_within_the_pool_timeout_is_503_with_retry_after(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"db_pool_timeout": 0.3}))
    with TestClient(app) as client:
        app.state.db_gate = anyio.Semaphore(0)  # every slot taken by someone else
        r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert "busy" in r.json()["error"]["message"]


def test_every_request_returns_its_slot(app: FastAPI, client: TestClient, viewer: dict[str, str]) -> None:
    capacity = app.state.db_capacity
    assert capacity == 20  # the defaults: 10 + 10
    for url, expected in (("/api/v1/health", 200), ("/api/v1/jobs/999", 404), ("/api/v1/taxonomies", 200)):
        assert client.get(url, headers=viewer).status_code == expected
        assert app.state.db_gate.value == capacity
    body = client.get("/api/v1/health").json()
    assert body["db_pool"]["capacity"] == capacity and body["db_pool"]["checked_out"] >= 1
    assert isinstance(body["pid"], int)
