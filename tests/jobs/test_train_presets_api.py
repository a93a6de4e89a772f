"""``train`` submissions: recipe presets with recorded overrides, pseudo-label splits, and the
refusal of training sets that share images with a validation set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from app.domain.training_presets import PRESETS
from app.schemas.training import TrainSetRef
from tests.jobs.conftest import approve_version
from tests.jobs.test_train_api import _gt, _pseudo_label_job, train_body

Headers = dict[str, str]


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Job)) or 0


def _finish_with_pairs(factory: sessionmaker[Session], job_id: int, root: Path) -> None:
    """Pretend a pseudo-label job labelled every image of the dataset (both splits)."""
    with factory() as s, s.begin():
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
        rows = []
        for image in sorted((root / "images").rglob("*.png")):
            rel = image.relative_to(root).as_posix()
            rows.append(
                {"image": rel, "label": rel.replace("images/", "labels/"), "split": image.parent.name}
            )
            target = out / "labels" / rel.replace("images/", "labels/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image.read_bytes())
        (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        job.status = "succeeded"


def _pl_world(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    factory: sessionmaker[Session],
) -> int:
    approve_version(client, editor, reviewer, world["mapping"])
    pl = _pseudo_label_job(client, editor, world, "pl-all")
    _finish_with_pairs(factory, pl["id"], Path(world["dataset"]["root"]))
    return int(pl["id"])


def _pl_body(world: dict[str, Any], job_id: int, **pl: Any) -> dict[str, Any]:
    body = train_body(world)
    body["params"]["train_sets"] = [
        _gt(world, split="train"),
        {"kind": "pseudo_labels", "job_id": job_id, **pl},
    ]
    return body


def test_pseudo_label_set_covering_the_validation_images_is_refused(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    job_id = _pl_world(client, editor, reviewer, world, session_factory)
    before, sent_before = _count(session_factory), len(sent)
    r = client.post("/api/v1/jobs", json=_pl_body(world, job_id), headers=editor)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "train_sets.1" and "shares 2 image(s)" in error["message"]
    assert "allow_overlap" in error["message"]
    assert _count(session_factory) == before and len(sent) == sent_before
    # Its train split only: accepted, and the split is kept in the stored params.
    r = client.post("/api/v1/jobs", json=_pl_body(world, job_id, split="train"), headers=editor)
    assert r.status_code == 201, r.text
    stored = r.json()["params"]["train_sets"][1]
    assert stored["split"] == "train" and stored["name"] == f"pl-job-{job_id}-train"


def test_overlap_is_allowed_only_explicitly(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    approve_version(client, editor, reviewer, world["mapping"])
    body = train_body(world)
    body["params"]["train_sets"] = [_gt(world, split="val")]  # the validation split itself
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "train_sets.0", r.text
    body["params"]["allow_overlap"] = True
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    assert r.json()["params"]["allow_overlap"] is True


def test_pseudo_label_split_must_exist_in_the_run(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    job_id = _pl_world(client, editor, reviewer, world, session_factory)
    r = client.post("/api/v1/jobs", json=_pl_body(world, job_id, split="test"), headers=editor)
    assert r.status_code == 422, r.text
    assert (
        r.json()["error"]["field"] == "train_sets.1"
        and "no images in split 'test'" in r.json()["error"]["message"]
    )


def test_worker_trains_only_the_pseudo_label_split(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    from worker.train_job import _pseudo_labels

    job_id = _pl_world(client, editor, reviewer, world, session_factory)
    with session_factory() as s:
        everything = _pseudo_labels(s, TrainSetRef(kind="pseudo_labels", job_id=job_id, name="all"))
        train_only = _pseudo_labels(
            s, TrainSetRef(kind="pseudo_labels", job_id=job_id, split="train", name="t")
        )
    assert len(everything) == 4 and len(train_only) == 2
    assert {p.split for p in train_only.source.pairs} == {"train"}  # type: ignore[attr-defined]
    assert train_only.provenance["split"] == "train"


def test_recipe_preset_and_overrides_are_stored(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    body = train_body(world)
    body["params"]["recipe"] = {"preset": "quick", "lr": 0.001}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    recipe = r.json()["params"]["recipe"]
    assert recipe["preset"] == "quick" and recipe["overrides"] == ["lr"] and recipe["lr"] == 0.001
    assert recipe["max_iterations"] == PRESETS["quick"].values["max_iterations"]
    body["params"]["recipe"] = {}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    recipe = r.json()["params"]["recipe"]
    assert recipe["preset"] == "paper" and recipe["epochs"] == 100 and recipe["crop_size"] == [750, 1536]
    assert recipe["mixture"] == "by_size" and recipe["early_stopping_patience"] == 15
    body["params"]["recipe"] = {"preset": "fast"}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422 and "preset" in r.text
