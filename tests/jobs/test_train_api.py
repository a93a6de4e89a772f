"""``train`` jobs through the HTTP API: submission (pins, task after commit), refusals, metrics.

No worker: an accepted submission is captured by a fake ``send_task``; a refused one creates no
row and sends nothing. The metrics endpoint is read from a run folder written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.jobs.conftest import approve_version

Headers = dict[str, str]


def _job_count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Job)) or 0


def _gt(world: dict[str, Any], **extra: Any) -> dict[str, Any]:
    version_id = world["mapping"]["current_version"]["id"]
    return {"dataset_id": world["dataset"]["id"], "mapping_version_id": version_id, **extra}


def train_body(world: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "params": {
            "kind": "train",
            "train_sets": [_gt(world, split="train")],
            "val_sets": [_gt(world, split="val")],
            "recipe": {"max_iterations": 10},
            **extra,
        }
    }


def _pseudo_label_job(
    client: TestClient, editor: Headers, world: dict[str, Any], name: str
) -> dict[str, Any]:
    body = {"params": {"kind": "pseudo_label", "model_id": world["model"]["id"], "output_name": name,
                       "dataset_id": world["dataset"]["id"],
                       "mapping_version_id": world["mapping"]["current_version"]["id"]}}  # fmt: skip
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _finish(factory: sessionmaker[Session], job_id: int) -> None:
    """Pretend a pseudo-label job ran: succeeded, with its pairs file written."""
    with factory() as s, s.begin():
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        Path(job.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(job.output_dir) / "pairs.jsonl").write_text("")
        job.status = "succeeded"


def test_submit_train_job_pins_every_set_and_queues_after_commit(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    approve_version(client, editor, reviewer, world["mapping"])
    pl = _pseudo_label_job(client, editor, world, "pl1")
    _finish(session_factory, pl["id"])
    sent.clear()
    body = train_body(world)
    body["params"]["train_sets"].append({"kind": "pseudo_labels", "job_id": pl["id"], "weight": 2})
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    job = r.json()
    version = world["mapping"]["current_version"]
    assert job["kind"] == "train" and job["status"] == "queued"
    assert job["mapping_hash"] == version["content_hash"] and job["dataset_id"] == world["dataset"]["id"]
    assert job["output_dir"].endswith(f"outputs/job-{job['id']}")
    params = job["params"]
    assert params["target_taxonomy_id"] == world["target"]["id"]
    assert [s["mapping_hash"] for s in params["train_sets"]] == [version["content_hash"]] * 2
    assert [s["name"] for s in params["train_sets"]] == ["streets-train", f"pl-job-{pl['id']}"]
    assert params["val_sets"][0]["mapping_hash"] == version["content_hash"]
    assert params["recipe"]["encoder_lr"] == 1e-5 and params["recipe"]["weight_decay"] == 0.05
    assert sent == [("unilabel.train", {"job_id": job["id"]})]


def _other_target_version(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any]
) -> int:
    """An approved mapping from the same source to another 2-class target taxonomy."""
    other = world["post"](
        "/api/v1/taxonomies",
        {"name": "other-2", "labels": [{"value": 0, "name": "thing"}, {"value": 1, "name": "stuff"}]},
    )
    mapping = world["post"](
        "/api/v1/mappings",
        {"name": "m2", "source_taxonomy_id": world["source"]["id"], "target_taxonomy_id": other["id"],
         "edges": [["road", 1], ["car", 0]]},
    )  # fmt: skip
    approve_version(client, editor, reviewer, mapping)
    return int(mapping["current_version"]["id"])


CASES = [
    ("unapproved", 422, "train_sets.0"),
    ("override_without_reason", 422, "override_reason"),
    ("missing_dataset", 404, "train_sets.0"),
    ("missing_version", 404, "val_sets.0"),
    ("unknown_split", 422, "train_sets.0"),
    ("pseudo_label_not_finished", 422, "train_sets.1"),
    ("pseudo_label_job_missing", 404, "train_sets.1"),
    ("not_a_pseudo_label_job", 422, "train_sets.1"),
    ("different_targets", 422, "val_sets.0"),
    ("missing_start_model", 404, "start_model_id"),
    ("all_weights_zero", 422, "train_sets"),
    ("model_name_taken", 422, "model_name"),
    ("ground_truth_without_version", 422, None),
    ("no_training_sets", 422, None),
]


@pytest.mark.parametrize(("case", "status", "field"), CASES)
def test_train_submission_refusals_create_no_job(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session], case: str, status: int, field: str | None,
) -> None:  # fmt: skip
    if case not in ("unapproved", "override_without_reason"):
        approve_version(client, editor, reviewer, world["mapping"])
    body = train_body(world)
    params = body["params"]
    if case == "override_without_reason":
        params["allow_unapproved"] = True
    elif case == "missing_dataset":
        params["train_sets"][0]["dataset_id"] = 999
    elif case == "missing_version":
        params["val_sets"][0]["mapping_version_id"] = 999
    elif case == "unknown_split":
        params["train_sets"][0]["split"] = "test"
    elif case == "pseudo_label_not_finished":
        pl = _pseudo_label_job(client, editor, world, "pl-queued")
        params["train_sets"].append({"kind": "pseudo_labels", "job_id": pl["id"]})
    elif case == "pseudo_label_job_missing":
        params["train_sets"].append({"kind": "pseudo_labels", "job_id": 999})
    elif case == "not_a_pseudo_label_job":
        scan_body = {"params": {"kind": "scan_dataset", "dataset_id": world["dataset"]["id"]}}
        scan = client.post("/api/v1/jobs", json=scan_body, headers=editor)
        params["train_sets"].append({"kind": "pseudo_labels", "job_id": scan.json()["id"]})
    elif case == "different_targets":
        params["val_sets"][0]["mapping_version_id"] = _other_target_version(client, editor, reviewer, world)
    elif case == "missing_start_model":
        params["start_model_id"] = 999
    elif case == "all_weights_zero":
        params["train_sets"][0]["weight"] = 0
    elif case == "model_name_taken":
        params["model_name"] = world["model"]["name"]
    elif case == "ground_truth_without_version":
        del params["train_sets"][0]["mapping_version_id"]
    elif case == "no_training_sets":
        params["train_sets"] = []
    before = _job_count(session_factory)
    sent.clear()
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == status, r.text
    if field is not None:
        assert r.json()["error"]["field"] == field, r.text
    assert _job_count(session_factory) == before, "a refused submission creates no job"
    assert sent == [], "a refused submission queues nothing"


def _write_run(root: Path) -> None:
    """A run folder as ``worker.ml.train`` leaves it after two validations."""
    records = [
        {"step": 1, "kind": "train", "train/loss": 9.0, "lr/rest": 1e-4, "lr/encoder": 1e-5},
        {"step": 2, "kind": "train", "train/loss": 7.5, "lr/rest": 1e-4, "lr/encoder": 1e-5},
        {"step": 2, "kind": "val", "val/miou": 0.2, "val/streets-val/miou": 0.2, "val_iou/sky": 0.5,
         "per_set": {"streets-val": {}}, "pooled": {}},
    ]  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn')
    names = ["drivable", "vehicle", "vegetation", "sky"]
    matrix = [[5, 1, 0, 0, 0], [0, 3, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 8, 0]]
    (root / "best_confusion.json").write_text(
        json.dumps({"step": 2, "class_names": names, "streets-val": matrix, "pooled": matrix})
    )
    per_class = [
        {"id": i, "name": n, "iou": 0.5, "gt_pixels": 1, "pred_pixels": 1} for i, n in enumerate(names)
    ]
    pooled = {"miou": 0.2, "pixel_accuracy": 0.8, "loss": 3.0, "per_class": per_class, "convention": "x"}
    (root / "checkpoints").mkdir(exist_ok=True)
    (root / "checkpoints" / "best.json").write_text(
        json.dumps({"step": 2, "metrics": {"pooled": pooled, "per_set": {"streets-val": pooled}}})
    )


def test_metrics_endpoint_serves_records_and_best_checkpoint(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
) -> None:  # fmt: skip
    approve_version(client, editor, reviewer, world["mapping"])
    job = client.post("/api/v1/jobs", json=train_body(world), headers=editor).json()
    empty = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=editor)
    assert empty.status_code == 200 and empty.json()["train"] == [] and empty.json()["best"] is None
    _write_run(Path(job["output_dir"]))
    r = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=editor)
    assert r.status_code == 200, r.text
    data = r.json()
    assert [x["train/loss"] for x in data["train"]] == [9.0, 7.5]
    assert data["val"] == [
        {"step": 2, "kind": "val", "val/miou": 0.2, "val/streets-val/miou": 0.2, "val_iou/sky": 0.5}
    ]
    best = data["best"]
    assert best["step"] == 2 and best["metrics"]["miou"] == 0.2 and "per_class" not in best["metrics"]
    assert [c["name"] for c in best["per_class_iou"]] == ["drivable", "vehicle", "vegetation", "sky"]
    assert "color" in best["per_class_iou"][0]
    assert best["confusion"]["pooled"][1] == [0, 3, 0, 0, 1]
    assert "/api/v1/jobs/{job_id}/metrics" in client.get("/openapi.json").json()["paths"]


def test_metrics_of_other_job_kinds_is_404(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    pl = _pseudo_label_job(client, editor, world, "pl-x")
    assert client.get(f"/api/v1/jobs/{pl['id']}/metrics", headers=editor).status_code == 404
    assert client.get("/api/v1/jobs/999/metrics", headers=editor).status_code == 404
