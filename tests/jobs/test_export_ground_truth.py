"""Ground-truth export (issue 14): a registered dataset's labels by the target taxonomy, mapped
through an approved mapping version's lookup table (several or no target classes -> 255), in the
same archive formats as a run's export; refusals (unapproved version, wrong taxonomy, run and
dataset both or neither) are clear 4xx before a job exists."""

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
from tests.jobs.conftest import approve_version
from tests.jobs.test_exports import _Recorder

Headers = dict[str, str]
# The demo mapping (worker.demo.EDGES) as a table: source value -> target id; 255 = void or ambiguous
# (unlabeled -> void; grass -> vegetation | void).
EXPECTED = {0: 255, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 255, 7: 3}


def _expected(values: np.ndarray) -> np.ndarray:
    out = np.full(values.shape, 255, dtype=np.uint8)
    for value, target in EXPECTED.items():
        out[values == value] = target
    return out


def _export(client: TestClient, editor: Headers, factory: sessionmaker[Session], params: dict[str, Any],
            monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], zipfile.ZipFile]:  # fmt: skip
    from worker import context, export_job

    r = client.post("/api/v1/jobs", json={"params": {"kind": "export", **params}}, headers=editor)
    assert r.status_code == 201, r.text
    export_id = r.json()["id"]
    monkeypatch.setattr(context, "session_factory", lambda: factory)
    with factory() as s, s.begin():
        job = s.get(Job, export_id)
        assert job is not None
        result = export_job.run_export(job, _Recorder())  # type: ignore[arg-type]
        job.status, job.result_json = "succeeded", json.dumps(result)
    result["export_job_id"] = export_id
    r = client.get(f"/api/v1/jobs/{export_id}/export.zip", headers=editor)
    assert r.status_code == 200, r.text
    return result, zipfile.ZipFile(io.BytesIO(r.content))


def test_ground_truth_export_maps_labels_with_the_lookup_table(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = Path(world["root"])
    gt = {p.relative_to(root).as_posix(): np.asarray(Image.open(p)) for p in root.glob("labels/*/*.png")}
    assert gt and set(np.unique(np.concatenate([v.ravel() for v in gt.values()]))) >= {0, 1, 6}
    params = {
        "dataset_id": world["dataset"]["id"],
        "mapping_version_id": world["mapping"]["current_version"]["id"],
    }
    r = client.post("/api/v1/jobs", json={"params": {"kind": "export", **params}}, headers=editor)
    assert r.status_code == 422 and "approved" in r.text  # a draft version is refused
    approve_version(client, editor, reviewer, world["mapping"])

    result, zf = _export(client, editor, session_factory, params | {"format": "cityscapes"}, monkeypatch)
    assert result["images"] == len(gt) and result["source_job_id"] is None
    for label, values in gt.items():
        split, stem = (
            label.split("/")[1],
            label.replace("labels/", "images/")[: -len(".png")].replace("/", "__"),
        )
        ids = np.asarray(Image.open(zf.open(f"gtFine/{split}/unilabel/{stem}_gtFine_labelIds.png")))
        assert np.array_equal(ids, _expected(values))
        assert f"leftImg8bit/{split}/unilabel/{stem}_leftImg8bit.png" in zf.namelist()
    readme = zf.read("README.md").decode()
    assert "the ground truth of dataset 'streets'" in readme and "image(s) of run" not in readme
    provenance = json.loads(readme.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert provenance["ground_truth"] is True
    assert provenance["mapping_hash"] == world["mapping"]["current_version"]["content_hash"]

    page = client.get(f"/jobs/{result['export_job_id']}", headers=editor)
    assert page.status_code == 200 and "ground-truth image(s) of" in page.text, page.text[:300]
    result, zf = _export(client, editor, session_factory, params | {"format": "fiftyone"}, monkeypatch)
    for label, values in gt.items():
        stem = label.replace("labels/", "images/")[: -len(".png")].replace("/", "__")
        assert np.array_equal(np.asarray(Image.open(zf.open(f"labels/{stem}.png"))), _expected(values))
    assert json.loads(zf.read("mask_targets.json"))["0"] == "drivable"
    result, zf = _export(client, editor, session_factory, params | {"format": "cvat"}, monkeypatch)
    assert len(zf.read("ImageSets/Segmentation/default.txt").decode().split()) == len(gt)
    result, zf = _export(client, editor, session_factory, params | {"format": "hf_imagefolder"}, monkeypatch)
    rows = [json.loads(x) for n in zf.namelist() if n.endswith("metadata.jsonl")
            for x in zf.read(n).decode().splitlines()]  # fmt: skip
    for row in rows:
        label = row["source_image"].replace("images/", "labels/")
        assert np.array_equal(np.asarray(Image.open(zf.open(row["mask_path"]))), _expected(gt[label]))


def test_ground_truth_export_refusals(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
) -> None:  # fmt: skip
    approve_version(client, editor, reviewer, world["mapping"])
    dataset, version = world["dataset"]["id"], world["mapping"]["current_version"]["id"]

    def post(**params: Any) -> Any:
        return client.post("/api/v1/jobs", json={"params": {"kind": "export", **params}}, headers=editor)

    assert post(dataset_id=dataset).status_code == 422  # no mapping version
    assert post(mapping_version_id=version).status_code == 422  # no dataset
    assert post().status_code == 422
    assert post(job_id=1, dataset_id=dataset, mapping_version_id=version).status_code == 422
    assert post(dataset_id=999, mapping_version_id=version).status_code == 404
    assert post(dataset_id=dataset, mapping_version_id=999).status_code == 404
    # a mapping from another taxonomy than the dataset's
    other = world["post"](
        "/api/v1/mappings",
        {"name": "reverse", "source_taxonomy_id": world["target"]["id"],
         "target_taxonomy_id": world["target"]["id"], "edges": [["drivable", 0]]},
    )  # fmt: skip
    approve_version(client, editor, reviewer, other)
    r = post(dataset_id=dataset, mapping_version_id=other["current_version"]["id"])
    assert r.status_code == 422 and "labelled in" in r.text, r.text
