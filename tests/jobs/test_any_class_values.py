"""A dataset's "any class allowed" pixel values (issue 14, the ego-vehicle mask case) through the API:
declared at registration (validated for the label encoding), used by a pseudo-label job -- those
pixels take the teacher's arg-max over the N classes, never void -- and recorded in provenance."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs.conftest import approve_version
from tests.jobs.test_summary_errors import InProcessQueue

Headers = dict[str, str]
ANY = 0  # 'unlabeled' (void only in the mapping), as Cityscapes' ego vehicle


def _register(client: TestClient, editor: Headers, world: dict[str, Any], **extra: Any) -> Any:
    body = {
        "name": extra.pop("name", "streets-ego"),
        "taxonomy_id": world["source"]["id"],
        "root": str(world["root"]),
        "image_pattern": "images/{split}/{stem}.png",
        "label_template": "labels/{split}/{stem}.png",
        **extra,
    }
    return client.post("/api/v1/datasets", json=body, headers=editor)


def test_any_class_values_are_validated_for_the_encoding(
    client: TestClient, editor: Headers, world: dict[str, Any]
) -> None:
    for extra in (
        {"any_class_values": [300]},
        {"any_class_values": [-1]},
        {"any_class_values": [70], "label_encoding": "panoptic16"},
        {"any_class_values": [99], "label_encoding": "rgb"},  # no colour of the taxonomy has value 99
    ):
        r = _register(client, editor, world, name="bad", **extra)
        assert r.status_code == 422, (extra, r.text)
        assert "any_class_values" in r.text
    r = _register(client, editor, world, name="wide", any_class_values=[300, 1], label_encoding="ids16")
    assert r.status_code == 201, r.text
    assert r.json()["any_class_values"] == [1, 300]
    assert world["dataset"]["any_class_values"] == []


def _png(client: TestClient, headers: Headers, job_id: int, path: str) -> np.ndarray:
    r = client.get(f"/api/v1/jobs/{job_id}/files/{path}", headers=headers)
    assert r.status_code == 200, (path, r.text)
    return np.asarray(Image.open(io.BytesIO(r.content)))


def _pseudo_label(client: TestClient, editor: Headers, world: dict[str, Any], dataset_id: int) -> int:
    params = {
        "kind": "pseudo_label",
        "model_id": world["model"]["id"],
        "dataset_id": dataset_id,
        "mapping_version_id": world["mapping"]["current_version"]["id"],
        "tta": False,
        "write_teacher": True,
    }
    r = client.post("/api/v1/jobs", json={"params": params}, headers=editor)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_pseudo_label_job_gives_any_class_pixels_the_teachers_argmax(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: Any,
) -> None:
    r = _register(client, editor, world, any_class_values=[ANY])
    assert r.status_code == 201, r.text
    ego = r.json()
    assert ego["any_class_values"] == [ANY]
    approve_version(client, editor, reviewer, world["mapping"])
    queue = InProcessQueue(monkeypatch, session_factory)
    plain_id = _pseudo_label(client, editor, world, world["dataset"]["id"])
    ego_id = _pseudo_label(client, editor, world, ego["id"])
    queue.drain()
    for job_id in (plain_id, ego_id):
        job = client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()
        assert job["status"] == "succeeded", job
    summary = client.get(f"/api/v1/jobs/{ego_id}/summary", headers=editor).json()
    assert summary["any_class_values"] == [ANY]
    assert client.get(f"/api/v1/jobs/{plain_id}/summary", headers=editor).json()["any_class_values"] == []
    root = Path(world["root"])
    checked = 0
    for label in sorted(root.glob("labels/*/*.png")):
        rel = label.relative_to(root).as_posix()
        gt = np.asarray(Image.open(label))
        before = _png(client, editor, plain_id, f"labels/{rel}")
        after = _png(client, editor, ego_id, f"labels/{rel}")
        teacher = _png(client, editor, ego_id, f"teacher/{rel}")  # the plain argmax over N classes
        any_px = gt == ANY
        checked += int(any_px.sum())
        assert (before[any_px] == 255).all()
        # per pixel: the teacher's class where any class is allowed, the unchanged label elsewhere
        assert np.array_equal(after, np.where(any_px, teacher, before))
    assert checked > 0
