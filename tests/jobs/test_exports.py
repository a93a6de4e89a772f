"""Exports of a pseudo-label run (issue 14) and the CVAT round trip: submission through the API,
the archive written by the export task body, checked against each format's layout; a corrected
CVAT mask imported back as a new, trainable label-set version; roles; bad input -> clear 4xx."""

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
from app.domain.jobs import Progress
from tests.jobs.conftest import approve_version
from tests.jobs.test_train_api import _pseudo_label_job, train_body

Headers = dict[str, str]
VOID = 255
COLORS = {0: (128, 64, 128), 1: (0, 0, 142), 2: (107, 142, 35), 3: (70, 130, 180)}  # the demo target


class _Recorder:
    attempt = 1

    def __init__(self) -> None:
        self.calls: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.calls.append(progress)

    def should_stop(self) -> bool:
        return False


def _ids(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, size=(h, w)).astype(np.uint8)
    ids[0, :] = VOID
    return ids


def _finished_run(client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any],
                  factory: sessionmaker[Session]) -> tuple[int, dict[str, np.ndarray]]:  # fmt: skip
    """A pretend pseudo-label run: class-id label PNGs, pairs.jsonl, manifest.jsonl, summary.json."""
    approve_version(client, editor, reviewer, world["mapping"])
    job_id = int(_pseudo_label_job(client, editor, world, "run")["id"])
    root = Path(world["dataset"]["root"])
    labels: dict[str, np.ndarray] = {}
    with factory() as s, s.begin():
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
        pairs, manifest = [], []
        for i, image in enumerate(sorted((root / "images").rglob("*.png"))):
            rel = image.relative_to(root).as_posix()
            label = rel.replace("images/", "labels/")
            h, w = np.asarray(Image.open(image)).shape[:2]
            labels[rel] = _ids(h, w, i)
            (out / "labels" / label).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(labels[rel]).save(out / "labels" / label)
            pairs.append({"image": rel, "label": label, "split": image.parent.name})
            manifest.append({"image": rel, "label": label, "output": label, "status": "ok",
                             "split": image.parent.name, "correction_rate": 0.1})  # fmt: skip
        (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))
        (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in manifest))
        (out / "summary.json").write_text(json.dumps({"images": len(pairs), "teacher": "tiny"}))
        job.status = "succeeded"
    return job_id, labels


def _export(client: TestClient, editor: Headers, factory: sessionmaker[Session], run_id: int, fmt: str,
            monkeypatch: pytest.MonkeyPatch) -> zipfile.ZipFile:  # fmt: skip
    """Submit an export through the API, run its task body, download the archive."""
    from worker import context, export_job

    r = client.post("/api/v1/jobs", json={"params": {"kind": "export", "job_id": run_id, "format": fmt}},
                    headers=editor)  # fmt: skip
    assert r.status_code == 201, r.text
    export_id = r.json()["id"]
    assert client.get(f"/api/v1/jobs/{export_id}/export.zip", headers=editor).status_code == 409
    monkeypatch.setattr(context, "session_factory", lambda: factory)
    with factory() as s, s.begin():
        job = s.get(Job, export_id)
        assert job is not None
        recorder = _Recorder()
        result = export_job.run_export(job, recorder)  # type: ignore[arg-type]
        job.status, job.result_json = "succeeded", json.dumps(result)
    assert recorder.calls and recorder.calls[-1].current == recorder.calls[-1].total == 4
    r = client.get(f"/api/v1/jobs/{export_id}/export.zip", headers=editor)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert f"job-{export_id}-{fmt}.zip" in r.headers["content-disposition"]
    return zipfile.ZipFile(io.BytesIO(r.content))


def _png(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(zf.read(name))))


def test_cvat_export_follows_segmentation_mask_1_1_and_round_trips_a_correction(
    client: TestClient, editor: Headers, reviewer: Headers, viewer: Headers, world: dict[str, Any],
    sent: list[Any], session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id, labels = _finished_run(client, editor, reviewer, world, session_factory)
    zf = _export(client, editor, session_factory, run_id, "cvat", monkeypatch)
    names = set(zf.namelist())
    assert {"labelmap.txt", "ImageSets/Segmentation/default.txt", "README.md"} <= names
    labelmap = zf.read("labelmap.txt").decode().splitlines()
    assert labelmap[0] == "# label:color_rgb:parts:actions" and labelmap[1] == "background:0,0,0::"
    assert labelmap[2:] == ["drivable:128,64,128::", "vehicle:0,0,142::", "vegetation:107,142,35::",
                            "sky:70,130,180::"]  # fmt: skip
    items = zf.read("ImageSets/Segmentation/default.txt").decode().split()
    assert sorted(items) == sorted(k[: -len(".png")] for k in labels)
    for item in items:
        rgb = _png(zf, f"SegmentationClass/{item}.png")
        ids = labels[item + ".png"]
        assert rgb.shape == (*ids.shape, 3)
        assert (rgb[ids == VOID] == 0).all()
        for value, color in COLORS.items():
            assert (rgb[ids == value] == color).all()
    readme = zf.read("README.md").decode()
    assert f"run job {run_id}" in readme and '"mapping_hash"' in readme and "Segmentation mask 1.1" in readme

    # Correct one mask "in CVAT" (a pixel of sky painted as vehicle) and import the edited zip.
    edited = items[1]
    rgb = _png(zf, f"SegmentationClass/{edited}.png").copy()
    y, x = (int(v[0]) for v in np.nonzero(labels[edited + ".png"] == 3))
    rgb[y, x] = COLORS[1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in zf.namelist():
            if name.startswith("SegmentationClass/") or name in ("labelmap.txt",):
                data = zf.read(name)
                if name == f"SegmentationClass/{edited}.png":
                    png = io.BytesIO()
                    Image.fromarray(rgb).save(png, format="PNG")
                    data = png.getvalue()
                out.writestr(name, data)
    upload = {"file": ("task.zip", buf.getvalue(), "application/zip")}
    assert client.post(f"/api/v1/jobs/{run_id}/cvat-import", files=upload, headers=viewer).status_code == 403
    r = client.post(f"/api/v1/jobs/{run_id}/cvat-import", files=upload, headers=editor)
    assert r.status_code == 201, r.text
    version = r.json()
    assert version["kind"] == "label_import" and version["status"] == "succeeded"
    assert version["result"]["corrected_by_hand"] == 1 and version["result"]["version"] == 1
    out = Path(version["output_dir"])
    label_rel = edited.replace("images/", "labels/") + ".png"
    after = np.asarray(Image.open(out / "labels" / label_rel))
    before = labels[edited + ".png"]
    assert after[y, x] == 1 and int((after != before).sum()) == 1
    other = items[0].replace("images/", "labels/") + ".png"
    assert (np.asarray(Image.open(out / "labels" / other)) == labels[items[0] + ".png"]).all()
    records = {r["image"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert records[edited + ".png"]["corrected_by_hand"] is True
    assert records[edited + ".png"]["corrected_pixels_by_hand"] == 1
    assert records[items[0] + ".png"]["corrected_by_hand"] is False
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source_job_id"] == run_id and summary["corrected_images"] == [edited + ".png"]
    # The version trains like a run: accepted as a pseudo_labels set (its train split).
    body = train_body(world)
    body["params"]["train_sets"] = [{"kind": "pseudo_labels", "job_id": version["id"], "split": "train"}]
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    # A second import of the same corrections is version 2.
    r = client.post(f"/api/v1/jobs/{run_id}/cvat-import", files=upload, headers=editor)
    assert r.status_code == 201 and r.json()["result"]["version"] == 2, r.text


def test_cityscapes_hf_and_fiftyone_layouts(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any],
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id, labels = _finished_run(client, editor, reviewer, world, session_factory)
    root = Path(world["dataset"]["root"])
    zf = _export(client, editor, session_factory, run_id, "cityscapes", monkeypatch)
    for rel, ids in labels.items():
        split = rel.split("/")[1]
        stem = rel[: -len(".png")].replace("/", "__")
        base = f"gtFine/{split}/unilabel/{stem}_gtFine"
        assert (_png(zf, f"{base}_labelIds.png") == ids).all()
        color = _png(zf, f"{base}_color.png")
        assert (color[ids == 2] == COLORS[2]).all() and (color[ids == VOID] == 0).all()
        image = zf.read(f"leftImg8bit/{split}/unilabel/{stem}_leftImg8bit.png")
        assert image == (root / rel).read_bytes()
    classes = json.loads(zf.read("classes.json"))
    assert classes[0] == {"id": 0, "name": "drivable", "color": [128, 64, 128]} and classes[-1]["id"] == VOID

    zf = _export(client, editor, session_factory, run_id, "hf_imagefolder", monkeypatch)
    for split in ("train", "val"):
        rows = [json.loads(line) for line in zf.read(f"{split}/metadata.jsonl").decode().splitlines()]
        assert rows
        for row in rows:
            assert (_png(zf, row["mask_path"]) == labels[row["source_image"]]).all()
            assert zf.read(f"{split}/{row['file_name']}") == (root / row["source_image"]).read_bytes()

    zf = _export(client, editor, session_factory, run_id, "fiftyone", monkeypatch)
    assert json.loads(zf.read("mask_targets.json")) == {"0": "drivable", "1": "vehicle", "2": "vegetation",
                                                        "3": "sky"}  # fmt: skip
    for rel, ids in labels.items():
        stem = rel[: -len(".png")].replace("/", "__")
        assert (_png(zf, f"labels/{stem}.png") == ids).all() and f"data/{stem}.png" in zf.namelist()
    assert "fo.types.ImageSegmentationDirectory" in zf.read("README.md").decode()


def test_export_and_import_refuse_bad_input_clearly(
    client: TestClient, editor: Headers, reviewer: Headers, viewer: Headers, world: dict[str, Any],
    sent: list[Any], session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id, labels = _finished_run(client, editor, reviewer, world, session_factory)
    post = client.post
    body = {"params": {"kind": "export", "job_id": run_id, "format": "cvat"}}
    assert post("/api/v1/jobs", json=body, headers=viewer).status_code == 403
    r = post("/api/v1/jobs", json={"params": {"kind": "export", "job_id": 99999}}, headers=editor)
    assert r.status_code == 404 and r.json()["error"]["field"] == "job_id", r.text
    r = post(
        "/api/v1/jobs", json={"params": {"kind": "export", "job_id": run_id, "format": "voc"}}, headers=editor
    )
    assert r.status_code == 422, r.text
    queued = int(_pseudo_label_job(client, editor, world, "queued")["id"])
    r = post("/api/v1/jobs", json={"params": {"kind": "export", "job_id": queued}}, headers=editor)
    assert r.status_code == 422 and "only succeeded runs" in r.json()["error"]["message"], r.text
    r = client.get(f"/api/v1/jobs/{run_id}/export.zip", headers=editor)
    assert r.status_code == 404 and "not an export" in r.json()["error"]["message"]
    zf = _export(client, editor, session_factory, run_id, "cvat", monkeypatch)

    def upload(files: dict[str, bytes], job: int = run_id) -> Any:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for name, data in files.items():
                out.writestr(name, data)
        return post(
            f"/api/v1/jobs/{job}/cvat-import", files={"file": ("t.zip", buf.getvalue())}, headers=editor
        )

    item = zf.read("ImageSets/Segmentation/default.txt").decode().split()[0]
    mask = zf.read(f"SegmentationClass/{item}.png")
    labelmap = zf.read("labelmap.txt")
    r = post(f"/api/v1/jobs/{run_id}/cvat-import", files={"file": ("t.zip", b"not a zip")}, headers=editor)
    assert r.status_code == 422 and "not a zip" in r.json()["error"]["message"]
    r = upload({f"SegmentationClass/{item}.png": mask})
    assert r.status_code == 422 and "labelmap.txt" in r.json()["error"]["message"]
    r = upload({"labelmap.txt": labelmap, "SegmentationClass/nowhere/x.png": mask})
    assert r.status_code == 422 and "match no image" in r.json()["error"]["message"]
    small = io.BytesIO()
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(small, format="PNG")
    r = upload({"labelmap.txt": labelmap, f"SegmentationClass/{item}.png": small.getvalue()})
    assert r.status_code == 422 and "3x3" in r.json()["error"]["message"]
    odd = _png(zf, f"SegmentationClass/{item}.png").copy()
    odd[1, 1] = (1, 2, 3)
    png = io.BytesIO()
    Image.fromarray(odd).save(png, format="PNG")
    r = upload({"labelmap.txt": labelmap, f"SegmentationClass/{item}.png": png.getvalue()})
    assert r.status_code == 422 and "(1, 2, 3)" in r.json()["error"]["message"]
    renamed = labelmap.replace(b"sky:", b"heaven:")
    r = upload({"labelmap.txt": renamed, f"SegmentationClass/{item}.png": mask})
    assert r.status_code == 422 and "'heaven'" in r.json()["error"]["message"]
    r = upload({"labelmap.txt": labelmap, f"SegmentationClass/{item}.png": mask}, job=queued)
    assert r.status_code == 422, r.text
    with session_factory() as s:
        assert not s.query(Job).filter(Job.kind == "label_import").count()  # nothing was written
