"""docker-compose.yml and the Dockerfiles stay valid (Docker itself cannot run in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_compose_has_the_documented_services() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    assert services["migrate"]["command"] == ["unilabel", "db", "upgrade"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    for name in ("migrate", "web", "worker"):
        env = services[name]["environment"]
        assert env["UNILABEL_BROKER_URL"].startswith("redis://")
        assert env["UNILABEL_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_web_image_has_no_ml_stack() -> None:
    web = (REPO_ROOT / "docker" / "Dockerfile.web").read_text()
    assert "[ml]" not in web and "install torch" not in web
    assert "'torch' not in sys.modules" in web  # the build fails if the web app pulls torch in
    assert "[ml]" in (REPO_ROOT / "docker" / "Dockerfile.worker").read_text()
