"""Exports of a pseudo-label run leave out the images rejected in the per-image review (issue 14);
a decision made on a label that has changed since does not count; the README and the job's result
say how many were left out, and the provenance records the decisions' snapshot hash."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.jobs.test_exports import _finished_run, _Recorder
from tests.jobs.test_image_review_api import review_url

Headers = dict[str, str]


def _run_export(client: TestClient, editor: Headers, factory: sessionmaker[Session], run_id: int, fmt: str,
                monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:  # fmt: skip
    from worker import context, export_job

    r = client.post("/api/v1/jobs", json={"params": {"kind": "export", "job_id": run_id, "format": fmt}},
                    headers=editor)  # fmt: skip
    assert r.status_code == 201, r.text
    export_id = r.json()["id"]
    monkeypatch.setattr(context, "session_factory", lambda: factory)
    with factory() as s, s.begin():
        job = s.get(Job, export_id)
        assert job is not None
        result = export_job.run_export(job, _Recorder())  # type: ignore[arg-type]
        job.status, job.result_json = "succeeded", json.dumps(result)
    r = client.get(f"/api/v1/jobs/{export_id}/export.zip", headers=editor)
    assert r.status_code == 200, r.text
    return result, zipfile.ZipFile(io.BytesIO(r.content))


def test_exports_leave_out_rejected_images_but_not_stale_rejections(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id, labels = _finished_run(client, editor, reviewer, world, session_factory)
    images = sorted(labels)
    result, zf = _run_export(client, editor, session_factory, run_id, "fiftyone", monkeypatch)
    assert result["images"] == 4 and result["rejected_left_out"] == 0
    assert "Left out: 0 image(s) rejected" in zf.read("README.md").decode()

    decisions = {images[0]: "rejected", images[1]: "rejected", images[2]: "flagged", images[3]: "accepted"}
    for image, decision in decisions.items():
        r = client.put(
            review_url(run_id, image), json={"decision": decision, "base_version": 0}, headers=editor
        )
        assert r.status_code == 200, r.text
    # images[1]'s label changes after its rejection (a re-run): that rejection no longer counts
    with session_factory() as s:
        job = s.get(Job, run_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
    changed = labels[images[1]].copy()
    changed[1, 1] = (changed[1, 1] + 1) % 4
    Image.fromarray(changed).save(out / "labels" / images[1].replace("images/", "labels/"))
    labels[images[1]] = changed

    stem = {im: im[: -len(".png")].replace("/", "__") for im in images}
    result, zf = _run_export(client, editor, session_factory, run_id, "fiftyone", monkeypatch)
    assert result["images"] == 3 and result["rejected_left_out"] == 1
    names = set(zf.namelist())
    assert f"labels/{stem[images[0]]}.png" not in names and f"data/{stem[images[0]]}.png" not in names
    for image in images[1:]:
        mask = np.asarray(Image.open(zf.open(f"labels/{stem[image]}.png")))
        assert (mask == labels[image]).all()
    readme = zf.read("README.md").decode()
    assert "3 image(s) labelled without error. Left out: 1 image(s) rejected" in readme
    provenance = json.loads(readme.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert provenance["review"]["rejected_left_out"] == 1 and provenance["review"]["review_snapshot_hash"]

    # every format leaves it out
    result, zf = _run_export(client, editor, session_factory, run_id, "cvat", monkeypatch)
    items = zf.read("ImageSets/Segmentation/default.txt").decode().split()
    assert result["rejected_left_out"] == 1 and sorted(items) == sorted(i[: -len(".png")] for i in images[1:])
    result, zf = _run_export(client, editor, session_factory, run_id, "hf_imagefolder", monkeypatch)
    rows = [json.loads(x) for n in zf.namelist() if n.endswith("metadata.jsonl")
            for x in zf.read(n).decode().splitlines()]  # fmt: skip
    assert sorted(r["source_image"] for r in rows) == images[1:]
    result, zf = _run_export(client, editor, session_factory, run_id, "cityscapes", monkeypatch)
    assert not [n for n in zf.namelist() if stem[images[0]] in n]
    assert len([n for n in zf.namelist() if n.endswith("_labelIds.png")]) == 3
