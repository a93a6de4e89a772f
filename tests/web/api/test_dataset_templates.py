"""Dataset label templates are named-field templates: refused at registration with a 422 naming
``label_template`` (nothing stored); a stored row with a now-invalid template is refused by the scan
(API, page and job) with a clear message, never evaluated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Dataset, Job
from app.queue import TASK_SCAN_DATASET
from app.schemas.jobs import ScanDatasetParams
from app.services import jobs as job_service
from tests.web.api.conftest import SOURCE_CSV

Headers = dict[str, str]

EXPLOITS = [
    "labels/{split}/{stem.__class__.__mro__}.png",
    "labels/{split}/{stem:>100000000}.png",
    "labels/{split}/{stem.png",
    "labels/{split}/}{stem}.png",
    "labels/{0}/{stem}.png",
    "labels/{split}/{stem!r}.png",
    "labels/{unknown}/{stem}.png",
]


@pytest.fixture
def root(settings: Settings) -> Path:
    from worker.demo import make_dataset

    return make_dataset(settings.data_dir / "streets", count=4, height=16, width=24)


@pytest.fixture
def body(client: TestClient, editor: Headers, root: Path) -> dict[str, Any]:
    files = {"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "city"}, headers=editor)
    assert r.status_code == 201, r.text
    return {
        "name": "streets",
        "taxonomy_id": r.json()["id"],
        "root": str(root),
        "image_pattern": "images/{split}/{stem}.png",
        "label_template": "labels/{split}/{stem}.png",
        "splits": ["train", "val"],
    }


@pytest.mark.parametrize("template", EXPLOITS)
def test_registration_refuses_a_bad_template_with_422_and_stores_nothing(
    client: TestClient,
    editor: Headers,
    body: dict[str, Any],
    template: str,
    snapshot: Callable[[], dict[str, int]],
) -> None:
    before = snapshot()
    r = client.post("/api/v1/datasets", json=body | {"label_template": template}, headers=editor)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "label_template"
    assert repr(template) in error["message"] and "character" in error["message"]
    assert snapshot() == before
    assert client.get("/api/v1/datasets", headers=editor).json()["total"] == 0


def test_registration_refuses_a_template_leaving_the_root(
    client: TestClient, editor: Headers, body: dict[str, Any]
) -> None:
    r = client.post(
        "/api/v1/datasets", json=body | {"label_template": "../{split}/{stem}.png"}, headers=editor
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "label_template"
    assert "leaves the dataset root" in r.json()["error"]["message"]


def test_escaped_braces_pair_files_whose_names_hold_braces(
    client: TestClient, editor: Headers, body: dict[str, Any], root: Path
) -> None:
    for split in ("train", "val"):
        for path in (root / "labels" / split).iterdir():
            path.rename(path.with_name(f"{{{path.stem}}}.png"))
    r = client.post(
        "/api/v1/datasets", json=body | {"label_template": "labels/{split}/{{{stem}}}.png"}, headers=editor
    )
    assert r.status_code == 201, r.text
    assert r.json()["pair_count"] == 4 and r.json()["problem_count"] == 0


def _break_template(factory: sessionmaker[Session], dataset_id: int, template: str) -> None:
    """What a database written before templates were validated may hold."""
    with factory() as s:
        row = s.get(Dataset, dataset_id)
        assert row is not None
        row.label_template = template
        s.commit()


def test_a_stored_invalid_template_is_refused_by_scans_not_run(
    client: TestClient,
    editor: Headers,
    body: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = client.post("/api/v1/datasets", json=body, headers=editor).json()
    _break_template(session_factory, created["id"], "labels/{split}/{stem.__class__.__mro__}.png")
    r = client.post(f"/api/v1/datasets/{created['id']}/scan", headers=editor)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "invalid pairing rule" in message and "attribute access" in message
    assert "register it again" in message

    # the same refusal ends a scan job as failed with the message (a worker task run in-process)
    from worker import context, tasks

    monkeypatch.setattr("app.queue.send_task", lambda *a, **k: None)
    monkeypatch.setattr(context, "_factory", session_factory)
    with session_factory() as s:
        job = job_service.submit_job(s, params=ScanDatasetParams(dataset_id=created["id"]), settings=settings)
        s.commit()
        job_id = job.id
    tasks.celery_app.tasks[TASK_SCAN_DATASET](job_id=job_id)
    with session_factory() as s:
        row = s.get(Job, job_id)
        assert row is not None and row.status == "failed"
        assert "invalid pairing rule" in (row.error or "") and "attribute access" in (row.error or "")
        dataset = s.get(Dataset, created["id"])
        assert dataset is not None and json.loads(dataset.scan_json or "{}")["pairs"] == 4  # old report kept
