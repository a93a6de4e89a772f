"""Health endpoint: open to anonymous callers; 503 when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.config import load_settings
from app.web.main import create_app


def test_healthy(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["database"] == "ok"


def test_unreachable_database_is_503(tmp_path: Path) -> None:
    settings = load_settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1",
        broker_url="memory://",
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789",
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/health")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"
