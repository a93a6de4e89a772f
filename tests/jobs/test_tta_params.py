"""TTA job parameters: whole views by default, ``tta_windows`` to ask for windows, the deprecated
``tta_whole`` accepted from older clients and stored params (both values now mean whole views)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.jobs.conftest import approve_version
from tests.jobs.test_api import job_body
from worker.runtime import tta_windows

Headers = dict[str, str]


def _stored_params(factory: sessionmaker[Session], job_id: int) -> dict[str, Any]:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return dict(json.loads(job.params_json))


def test_tta_params_default_to_whole_views_and_map_the_deprecated_flag(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    version = world["mapping"]["current_version"]["id"]
    stored = {}
    cases: dict[str, dict[str, Any]] = {
        "default": {},
        "old_true": {"tta_whole": True},
        "old_false": {"tta_whole": False},
        "windows": {"tta_windows": True, "tta_memory_budget_mb": 512},
    }
    for name, extra in cases.items():
        body = job_body(world, version, output_name=name, **extra)
        r = client.post("/api/v1/jobs", json=body, headers=editor)
        assert r.status_code == 201, r.text
        stored[name] = _stored_params(session_factory, r.json()["id"])
    for name in ("default", "old_true", "old_false"):
        assert stored[name]["tta_windows"] is False and "tta_whole" not in stored[name]
        assert tta_windows(stored[name]).slide is False and tta_windows(stored[name]).budget_bytes is None
    assert tta_windows(stored["windows"]).slide is True
    assert tta_windows(stored["windows"]).budget_bytes == 512 << 20
    # Params stored before the change (no tta_windows) run whole, whatever their tta_whole said.
    assert tta_windows({"tta": True, "tta_whole": False}).slide is False
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PseudoLabelParams"]
    assert schema["properties"]["tta_whole"].get("deprecated") is True
    assert schema["properties"]["tta_windows"]["default"] is False


def test_contradicting_or_bad_tta_params_are_refused_with_the_field_named(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    version = world["mapping"]["current_version"]["id"]
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(Job))
    for extra, field in (
        ({"tta_whole": True, "tta_windows": True}, "tta_windows"),
        ({"tta_memory_budget_mb": 0}, "tta_memory_budget_mb"),
        ({"tta_windows": "sometimes"}, "tta_windows"),
    ):
        r = client.post("/api/v1/jobs", json=job_body(world, version, **extra), headers=editor)
        assert r.status_code == 422, r.text
        assert field in r.text
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == before
