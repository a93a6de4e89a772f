"""Rejected images stay out of every training set built from that pseudo-label run (issue 12); the
set's provenance records how many were left out and the decisions' snapshot hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from app.domain.errors import InvalidInput
from app.schemas.training import TrainSetRef
from tests.jobs.test_image_review_api import review_url
from tests.jobs.test_train_presets_api import _pl_world

Headers = dict[str, str]


def _write_manifest(factory: sessionmaker[Session], job_id: int) -> list[str]:
    """The manifest of the pretend run (one ok record per image of its pairs file); its images."""
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    records = [
        {
            "image": p["image"],
            "output": p["label"],
            "status": "ok",
            "correction_rate": 0.1,
            "void_fraction": 0.0,
        }  # fmt: skip
        for p in pairs
    ]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return [p["image"] for p in pairs]


def _set(factory: sessionmaker[Session], job_id: int, split: str | None = None) -> Any:
    from worker.train_job import _pseudo_labels

    with factory() as s:
        return _pseudo_labels(s, TrainSetRef(kind="pseudo_labels", job_id=job_id, name="pl", split=split))


def test_rejected_images_are_left_out_and_recorded_in_provenance(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    job_id = _pl_world(client, editor, reviewer, world, session_factory)
    images = _write_manifest(session_factory, job_id)
    untouched = _set(session_factory, job_id)
    assert len(untouched) == 4 and untouched.provenance["rejected_excluded"] == 0
    train = [im for im in images if "/train/" in im]
    decisions = {train[0]: "rejected", images[-1]: "flagged", train[1]: "accepted"}
    for image, decision in decisions.items():
        r = client.put(
            review_url(job_id, image), json={"decision": decision, "base_version": 0}, headers=editor
        )
        assert r.status_code == 200, r.text
    built = _set(session_factory, job_id)
    assert len(built) == 3 and train[0] not in {p.image for p in built.source.pairs}
    assert built.provenance["rejected_excluded"] == 1 and built.provenance["images"] == 3
    first_hash = built.provenance["review_snapshot_hash"]
    assert first_hash != untouched.provenance["review_snapshot_hash"]
    train_only = _set(session_factory, job_id, split="train")  # every set built from the run
    assert len(train_only) == 1 and train_only.provenance["rejected_excluded"] == 1
    # A second rejection changes the snapshot; rejecting every image of a set refuses the set.
    r = client.put(
        review_url(job_id, train[1]), json={"decision": "rejected", "base_version": 1}, headers=editor
    )
    assert r.status_code == 200, r.text
    assert _set(session_factory, job_id).provenance["review_snapshot_hash"] != first_hash
    with pytest.raises(InvalidInput, match="every image of pseudo-label job"):
        _set(session_factory, job_id, split="train")


def test_a_rejection_made_on_a_label_that_changed_no_longer_excludes(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    job_id = _pl_world(client, editor, reviewer, world, session_factory)
    images = _write_manifest(session_factory, job_id)
    r = client.put(
        review_url(job_id, images[0]), json={"decision": "rejected", "base_version": 0}, headers=editor
    )
    assert r.status_code == 200, r.text
    assert _set(session_factory, job_id).provenance["rejected_excluded"] == 1
    with session_factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
    label = Path(job.output_dir) / "labels" / images[0].replace("images/", "labels/")
    label.write_bytes(label.read_bytes() + b"re-run")  # the re-run wrote a different label
    rebuilt = _set(session_factory, job_id)
    assert len(rebuilt) == 4 and rebuilt.provenance["rejected_excluded"] == 0
