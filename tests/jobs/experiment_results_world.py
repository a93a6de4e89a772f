"""Experiments with scores, for the results API, CLI and page tests (no worker runs).

``run_to_scores`` creates an experiment of the ``world`` fixture (two evaluation sets: ``streets``
val and a second dataset ``lanes``; one round),
walks its run through pseudo-labelling and training by writing the stage jobs' rows as a worker
would, and finishes its ``evaluate`` jobs with results exactly as ``worker.ml.evaluate`` stores
them (``EvaluationResult.to_json``) from the given confusion matrices. ``client`` is the app's
TestClient or an ``httpx.Client`` of a live server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job
from app.services.experiment_runs import advance_active
from worker.demo import TARGET
from worker.ml.evaluate import EvaluationResult, metrics_from_confusion

Headers = dict[str, str]
NAMES = TARGET.names  # drivable, vehicle, vegetation, sky
# rows = truth, columns = prediction + void (what the evaluate job counts)
TEACHER_VAL = [[90, 5, 0, 0, 5], [10, 30, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 10, 40, 0]]
STUDENT_VAL = [[95, 5, 0, 0, 0], [5, 35, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 50, 0]]
TEACHER_LANES = [[50, 0, 0, 0, 0], [0, 40, 10, 0, 0], [0, 0, 20, 0, 0], [0, 0, 0, 30, 0]]
STUDENT_LANES = [[50, 0, 0, 0, 0], [0, 30, 20, 0, 0], [0, 0, 20, 0, 0], [0, 0, 0, 30, 0]]


def evaluation_json(confusion: list[list[int]], images: int = 2) -> dict[str, Any]:
    """What an ``evaluate`` job stores as its result (``EvaluationResult.to_json``)."""
    matrix = np.asarray(confusion, dtype=np.int64)
    result = EvaluationResult(
        metrics=metrics_from_confusion(matrix, NAMES),
        confusion=matrix,
        evaluated=images,
        seconds=0.5,
        provenance={"class_names": list(NAMES), "mapping_hash": "m" * 64, "tta_views": ["identity"]},
    )
    return dict(json.loads(json.dumps(result.to_json())))


def add_lanes(world: dict[str, Any], settings: Settings) -> None:
    """A second dataset ``lanes`` in the source taxonomy (an evaluation set no training set overlaps)."""
    from worker.demo import make_dataset

    root = make_dataset(settings.data_dir / "lanes", count=2, height=32, width=48)
    body = {
        "name": "lanes",
        "taxonomy_id": world["source"]["id"],
        "root": str(root),
        "image_pattern": "images/{split}/{stem}.png",
        "label_template": "labels/{split}/{stem}.png",
        "splits": ["train", "val"],
    }
    world["post"]("/api/v1/datasets", body)


def spec_of(world: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "target_taxonomy": world["target"]["name"],
        "teacher": {"model": world["model"]["name"]},
        "sources": [{"dataset": "streets", "mapping": "m", "split": "train", "name": "src"}],
        "extras": [{"dataset": "streets", "mapping": "m", "split": "train", "name": "extra"}],
        "evaluation": [
            {"dataset": "streets", "mapping": "m", "split": "val", "name": "streets-val"},
            {"dataset": "lanes", "mapping": "m", "split": "val", "name": "lanes-val"},
        ],
        "student": {"training": {"preset": "quick", "max_iterations": 2}},
        "pseudo_label": {"tta": False},
    }


def finish(factory: sessionmaker[Session], job_id: int, status: str = "succeeded", **result: Any) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.result_json = status, json.dumps(result)
        s.commit()


def advance(factory: sessionmaker[Session], settings: Settings) -> None:
    with factory() as s:
        advance_active(s, settings)
        s.commit()


def stages(client: httpx.Client, headers: Headers, exp_id: int, number: int = 1) -> dict[str, dict[str, Any]]:
    run = client.get(f"/api/v1/experiments/{exp_id}/runs/{number}", headers=headers).json()
    return {s["key"]: s for s in run["stages"]}


def train_student(
    client: httpx.Client,
    headers: Headers,
    factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Any],
    name: str,
) -> int:
    """A new experiment whose student is trained: its evaluate jobs are queued. Returns its id."""
    if not any(d["name"] == "lanes" for d in client.get("/api/v1/datasets", headers=headers).json()["items"]):
        add_lanes(world, settings)
    r = client.post("/api/v1/experiments", json={"spec": spec_of(world, name)}, headers=headers)
    assert r.status_code == 201, r.text
    exp_id = int(r.json()["id"])
    label_job = stages(client, headers, exp_id)["pl:r1:0"]["job_id"]
    finish(factory, label_job)
    with factory() as s:  # a pseudo-label run the training check accepts
        job = s.get(Job, label_job)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    row = {"image": "images/train/0000.png", "label": "labels/train/0000.png", "split": "train"}
    (out / "pairs.jsonl").write_text(json.dumps(row) + "\n")
    advance(factory, settings)
    finish(factory, stages(client, headers, exp_id)["student:r1"]["job_id"], model_id=world["model"]["id"])
    advance(factory, settings)
    return exp_id


def run_to_scores(
    client: httpx.Client,
    headers: Headers,
    factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Any],
    name: str = "exp",
    scores: Mapping[str, list[list[int]] | None] | None = None,
) -> int:
    """An experiment whose evaluate stages ended with ``scores`` (stage key -> confusion, ``None``:
    the job failed; a key left out stays queued). Default: every evaluation succeeded."""
    exp_id = train_student(client, headers, factory, settings, world, name)
    if scores is None:
        scores = {
            "eval:teacher:0": TEACHER_VAL,
            "eval:student:r1:0": STUDENT_VAL,
            "eval:teacher:1": TEACHER_LANES,
            "eval:student:r1:1": STUDENT_LANES,
        }
    now = stages(client, headers, exp_id)
    for key, confusion in scores.items():
        if confusion is None:
            finish(factory, now[key]["job_id"], status="failed")
        else:
            finish(factory, now[key]["job_id"], **evaluation_json(confusion))
    advance(factory, settings)
    return exp_id
