"""HTTP API of datasets, models and jobs: registration guards, submission refusals, artifacts.

These tests need no worker: a refused submission queues nothing, an accepted one is captured by a
fake ``send_task``. They run on SQLite and (when reachable) PostgreSQL like the other API tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job
from tests.jobs.conftest import approve_version
from worker.demo import SOURCE, TARGET, make_dataset

Headers = dict[str, str]


def _job_count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Job)) or 0


def job_body(world: dict[str, Any], version_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "params": {
            "kind": "pseudo_label",
            "model_id": world["model"]["id"],
            "dataset_id": world["dataset"]["id"],
            "mapping_version_id": version_id,
            **extra,
        }
    }


def test_submit_pseudo_label_job_pins_the_approved_version_and_queues_after_commit(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    version = world["mapping"]["current_version"]
    r = client.post(
        "/api/v1/jobs", json=job_body(world, version["id"], tta=False, output_name="run1"), headers=editor
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["mapping_hash"] == version["content_hash"]
    assert job["output_dir"].endswith("outputs/run1") and job["approval_override"] is None
    assert sent == [("unilabel.pseudo_label", {"job_id": job["id"]})]
    listed = client.get("/api/v1/jobs?status=queued&kind=pseudo_label", headers=editor).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=editor).json()["lines"]
    assert "submitted pseudo_label" in logs[0]["message"]
    again = client.post(
        "/api/v1/jobs", json=job_body(world, version["id"], output_name="run1"), headers=editor
    )
    assert again.status_code == 409 and again.json()["error"]["field"] == "output_name"


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("unapproved", 422, "mapping_version_id"),
        ("override_without_reason", 422, "override_reason"),
        ("missing_model", 404, "model_id"),
        ("missing_version", 404, "mapping_version_id"),
        ("taxonomy_mismatch", 422, "model_id"),
        ("dataset_taxonomy_mismatch", 422, "dataset_id"),
        ("unknown_split", 422, "split"),
    ],
)
def test_submission_refusals_create_no_job(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    case: str,
    status: int,
    field: str,
) -> None:
    version_id = world["mapping"]["current_version"]["id"]
    body = job_body(world, version_id)
    if case != "unapproved" and case != "override_without_reason":
        approve_version(client, editor, reviewer, world["mapping"])
    if case == "override_without_reason":
        body["params"]["allow_unapproved"] = True
    elif case == "missing_model":
        body["params"]["model_id"] = 999
    elif case == "missing_version":
        body["params"]["mapping_version_id"] = 999
    elif case == "taxonomy_mismatch":
        other = world["post"](
            "/api/v1/taxonomies",
            {
                "name": "other-4",
                "labels": [
                    {"value": i, "name": n}
                    for i, n in enumerate(("drivable", "vehicle", "vegetation", "sky"))
                ],
            },
        )
        model = world["post"](
            "/api/v1/models",
            {
                "name": "tiny-other",
                "source": "folder",
                "spec": str(world["teacher"]),
                "taxonomy_id": other["id"],
            },
        )
        body["params"]["model_id"] = model["id"]
    elif case == "dataset_taxonomy_mismatch":
        src = world["post"](
            "/api/v1/taxonomies",
            {"name": "other-src", "labels": [{"value": lb.value, "name": lb.name} for lb in SOURCE.labels]},
        )
        ds = world["post"](
            "/api/v1/datasets",
            {
                "name": "other-ds",
                "taxonomy_id": src["id"],
                "root": str(world["root"]),
                "image_pattern": "images/{split}/{stem}.png",
                "label_template": "labels/{split}/{stem}.png",
            },
        )
        body["params"]["dataset_id"] = ds["id"]
    elif case == "unknown_split":
        body["params"]["split"] = "test"
    before = _job_count(session_factory)
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field
    assert _job_count(session_factory) == before and sent == []


def test_unapproved_version_with_recorded_override_is_accepted(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    sent: list[Any],
) -> None:
    body = job_body(
        world,
        world["mapping"]["current_version"]["id"],
        allow_unapproved=True,
        override_reason="trial run before review",
    )
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    assert r.json()["approval_override"] == "trial run before review"
    logs = client.get(f"/api/v1/jobs/{r.json()['id']}/logs", headers=editor).json()["lines"]
    assert any("override" in line["message"] for line in logs)


def test_dataset_outside_the_data_roots_is_refused(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    outside = make_dataset(tmp_path / "elsewhere", count=1, height=16, width=16)
    escape = str(settings.data_dir / ".." / ".." / "elsewhere")
    link = settings.data_dir / "link"
    os.symlink(outside, link)
    for root in (str(outside), escape, str(link), "relative/path"):
        r = client.post(
            "/api/v1/datasets",
            headers=editor,
            json={
                "name": f"bad-{abs(hash(root))}",
                "taxonomy_id": world["source"]["id"],
                "root": root,
                "image_pattern": "images/{split}/{stem}.png",
                "label_template": "labels/{split}/{stem}.png",
            },
        )
        assert r.status_code == 422, (root, r.text)
        assert r.json()["error"]["field"] == "root"
    assert client.get("/api/v1/datasets", headers=editor).json()["total"] == 1


def test_dataset_registration_reports_the_scan(
    client: TestClient, editor: Headers, world: dict[str, Any]
) -> None:
    dataset = client.get(f"/api/v1/datasets/{world['dataset']['id']}", headers=editor).json()
    assert dataset["pair_count"] == 4 and dataset["scan"]["per_split"] == {"train": 2, "val": 2}
    assert dataset["problem_count"] == 0 and dataset["scan"]["sizes"] == {"48x32": 4}
    (world["root"] / "labels" / "val" / "0001.png").unlink()
    files = f"/api/v1/datasets/{world['dataset']['id']}/files"
    image = client.get(f"{files}/images/val/0001.png", headers=editor)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    escape = client.get(f"{files}/..%2F..%2Fsecret_key", headers=editor)
    assert escape.status_code in (404, 422)
    rescan = client.post(f"/api/v1/datasets/{world['dataset']['id']}/scan", headers=editor).json()
    assert rescan["report"]["pairs"] == 3 and "does not exist" in rescan["report"]["problems"][0]["message"]


def test_model_whose_classes_differ_from_the_taxonomy_is_refused_with_both_lists(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
) -> None:
    other = world["post"](
        "/api/v1/taxonomies",
        {"name": "three", "labels": [{"value": i, "name": n} for i, n in enumerate(("a", "b", "c"))]},
    )
    r = client.post(
        "/api/v1/models",
        headers=editor,
        json={"name": "bad", "source": "folder", "spec": str(world["teacher"]), "taxonomy_id": other["id"]},
    )
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert details["model_classes"] == list(TARGET.names) and details["taxonomy_classes"] == ["a", "b", "c"]


def test_paper_pth_classes_are_checked_at_registration_without_torch_in_the_service(
    client: TestClient, editor: Headers, world: dict[str, Any]
) -> None:
    """The service reads ``model_config.id2label`` from the pickle with an allow-list (no torch, no
    arbitrary unpickling); a pickle needing more stays unchecked until a job loads it."""
    import argparse

    import torch

    from worker.ml.modeling import build_mask2former, tiny_config

    model = build_mask2former(tiny_config(dict(enumerate(TARGET.names))))
    good, unsafe = world["teacher"].parent / "paper.pth", world["teacher"].parent / "unsafe.pth"
    torch.save({"model_config": model.config, "model_state_dict": model.state_dict()}, good)
    torch.save({"model_config": model.config, "args": argparse.Namespace(lr=0.1)}, unsafe)
    other = world["post"](
        "/api/v1/taxonomies",
        {"name": "three-pth", "labels": [{"value": i, "name": n} for i, n in enumerate("abc")]},
    )

    def register(name: str, path: Path, taxonomy_id: int) -> Any:
        body = {"name": name, "source": "paper_pth", "spec": str(path), "taxonomy_id": taxonomy_id}
        return client.post("/api/v1/models", headers=editor, json=body)

    refused = register("pth-wrong", good, other["id"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["model_classes"] == list(TARGET.names)
    target_id = world["model"]["taxonomy_id"]
    checked = register("pth-good", good, target_id)
    assert checked.status_code == 201, checked.text
    assert checked.json()["provenance"]["classes_checked"] is True
    unchecked = register("pth-unsafe", unsafe, other["id"])
    assert unchecked.status_code == 201, unchecked.text
    assert unchecked.json()["provenance"]["classes_checked"] is False


def test_cancel_queued_job_and_artifacts_of_a_finished_job(
    client: TestClient,
    editor: Headers,
    viewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:
    body = job_body(
        world, world["mapping"]["current_version"]["id"], allow_unapproved=True, override_reason="t"
    )
    job = client.post("/api/v1/jobs", json=body, headers=editor).json()
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=viewer).status_code == 403
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=editor).json()
    assert cancelled["status"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=editor).status_code == 409
    out = Path(job["output_dir"])
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "a.png").write_bytes(b"png")
    (out / "manifest.jsonl").write_text(
        json.dumps({"image": "a", "correction_rate": 0.1})
        + "\n"
        + json.dumps({"image": "b", "correction_rate": 0.9})
        + "\n"
    )
    (out / "summary.json").write_text(json.dumps({"images": 2}))
    assert client.get(f"/api/v1/jobs/{job['id']}/summary", headers=viewer).json() == {"images": 2}
    page = client.get(f"/api/v1/jobs/{job['id']}/manifest?worst_first=true", headers=viewer).json()
    assert [r["image"] for r in page["items"]] == ["b", "a"] and page["total"] == 2
    assert client.get(f"/api/v1/jobs/{job['id']}/files/labels/a.png", headers=viewer).content == b"png"
    assert client.get(f"/api/v1/jobs/{job['id']}/files/../../secret_key", headers=viewer).status_code in (
        404,
        422,
    )
    retried = client.post(f"/api/v1/jobs/{job['id']}/retry", headers=editor).json()
    assert retried["status"] == "queued" and sent[-1][0] == "unilabel.pseudo_label"
