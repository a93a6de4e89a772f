"""Native label formats end to end: a preset whose labels need a converter registers, queues a
convert_labels job, the job (run through its task) writes label-id PNGs under the data dir with
provenance, and the dataset then pairs with them: the scan decodes them and a pseudo-label job
reads them as ground truth. Bad files are reported by the job; a dataset without native labels is
refused at submission (422)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.queue import TASK_CONVERT_LABELS
from tests import preset_layouts as L
from tests.jobs.conftest import approve_version
from tests.jobs.test_summary_errors import InProcessQueue

Headers = dict[str, str]
SHAPE = (32, 48)  # H, W


def _polygons(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"imgHeight": SHAPE[0], "imgWidth": SHAPE[1], "objects": objects})


def _cityscapes_polygons(root: Path) -> None:
    """Two train frames: sky above row 16, road from it (+ an unknown name); one broken val file."""
    objects = [
        {"label": "sky", "polygon": [[0, 0], [47, 0], [47, 15], [0, 15]]},
        {"label": "road", "polygon": [[0, 16], [47, 16], [47, 31], [0, 31]]},
        {"label": "dragon", "polygon": [[0, 0], [3, 0], [3, 3]]},
    ]
    for i, (split, city) in enumerate([("train", "aachen"), ("train", "bochum"), ("val", "lindau")]):
        frame = f"{city}_000000_00001{i}"
        L.image(root / f"leftImg8bit/{split}/{city}/{frame}_leftImg8bit.png", i, SHAPE)
        gt = root / f"gtFine/{split}/{city}/{frame}_gtFine_polygons.json"
        gt.parent.mkdir(parents=True)
        gt.write_text("{broken" if split == "val" else _polygons(objects))


def _job(client: TestClient, headers: Headers, job_id: int) -> dict[str, Any]:
    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "succeeded", job
    return dict(job)


def test_polygon_preset_registers_converts_and_is_pseudo_labelled_from_the_converted_labels(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: Any,
    settings: Any,
) -> None:
    root = settings.data_dir / "cs-poly"
    _cityscapes_polygons(root)
    queue = InProcessQueue(monkeypatch, session_factory)
    body = {"preset": "cityscapes", "root": str(root), "name": "cs", "taxonomy_id": world["source"]["id"]}
    r = client.post("/api/v1/datasets", json=body, headers=editor)
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert (
        dataset["preset_variant"] == "polygons-only" and dataset["label_converter"] == "cityscapes-polygons"
    )
    assert dataset["label_template"] == "gtFine/{split}/{city}/{frame}_gtFine_polygons.png"
    assert dataset["label_encoding"] == "ids8" and dataset["scan"] is None
    job_id = dataset["conversion_job_id"]
    assert list(queue.pending) == [(TASK_CONVERT_LABELS, {"job_id": job_id})]
    queue.drain()
    result = _job(client, editor, job_id)["result"]
    assert (result["files"], result["converted"], result["skipped"], result["failed"]) == (3, 2, 0, 1)
    assert result["unknown_labels"] == {"dragon": 2}
    assert result["problems"][0]["label"].startswith("gtFine/val/lindau/")
    assert "not valid JSON" in result["problems"][0]["message"]
    assert (
        result["provenance"]["converter"] == "cityscapes-polygons"
        and result["provenance"]["converted_files"] == 2
    )
    # pixel by pixel: 0 'unlabeled' nowhere (sky and road cover all), 7 sky rows 0-15, 1 road rows 16-31
    expected = np.ones(SHAPE, dtype=np.uint8)
    expected[:16] = 7
    out = settings.data_dir / "converted" / f"dataset-{dataset['id']}"
    with Image.open(out / "gtFine/train/aachen/aachen_000000_000010_gtFine_polygons.png") as img:
        np.testing.assert_array_equal(np.asarray(img), expected)
    assert (out / "conversion.json").is_file()
    # the dataset now pairs with the converted labels; the broken val file has no label
    dataset = client.get(f"/api/v1/datasets/{dataset['id']}", headers=editor).json()
    scan = dataset["scan"]
    assert scan["pairs"] == 2 and scan["per_split"] == {"train": 2} and scan["problem_count"] == 1
    assert scan["unknown_values"] == []
    # the preset report matches the native files in the root (the polygons are the layout's labels)
    report = scan["preset"]
    assert report["unmatched"] == {} and report["notes"][0].startswith("cityscapes-polygons labels")
    assert [(s["split"], s["pairs"]) for s in report["splits"]] == [("train", 2), ("val", 1)]
    # a second conversion job resumes: nothing converted again
    r = client.post(
        "/api/v1/jobs",
        json={"params": {"kind": "convert_labels", "dataset_id": dataset["id"]}},
        headers=editor,
    )
    assert r.status_code == 201, r.text
    queue.drain()
    again = _job(client, editor, r.json()["id"])["result"]
    assert (again["converted"], again["skipped"], again["failed"]) == (0, 2, 1)
    # the worker reads the converted ground truth: per source label, pixel-exact
    approve_version(client, editor, reviewer, world["mapping"])
    params = {
        "kind": "pseudo_label",
        "model_id": world["model"]["id"],
        "dataset_id": dataset["id"],
        "mapping_version_id": world["mapping"]["current_version"]["id"],
        "tta": False,
    }
    r = client.post("/api/v1/jobs", json={"params": params}, headers=editor)
    assert r.status_code == 201, r.text
    queue.drain()
    _job(client, editor, r.json()["id"])
    summary = client.get(f"/api/v1/jobs/{r.json()['id']}/summary", headers=editor).json()
    half = 2 * 16 * 48
    assert summary["histogram_named"] == {"road": {"drivable": half}, "sky": {"sky": half}}


def _coco(root: Path) -> np.ndarray:
    """val2017 with one image: segment 1 'car' (columns 0-3), segment 2*256 'road' (4-7)."""
    L.image(root / "val2017/000000000139.jpg")
    ids = np.zeros((L.H, L.W), dtype=np.int64)
    ids[:, :4] = 1
    ids[:, 4:] = 512
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1)
    L.rgb_png(root / "annotations/panoptic_val2017/000000000139.png", rgb)
    segments = {
        "categories": [{"id": 3, "name": "car"}, {"id": 149, "name": "road"}],
        "annotations": [
            {
                "file_name": "000000000139.png",
                "segments_info": [{"id": 1, "category_id": 3}, {"id": 512, "category_id": 149}],
            }
        ],
    }
    (root / "annotations/panoptic_val2017.json").write_text(json.dumps(segments))
    expected = np.full((L.H, L.W), 5, dtype=np.uint8)
    expected[:, :4] = 2
    return expected


def test_coco_panoptic_preset_converts_by_category_name_and_refuses_other_datasets(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: Any,
    settings: Any,
) -> None:
    csv = L.labels_csv([("person", 0, ""), ("car", 2, ""), ("road", 5, ""), ("void", 255, "")])
    files = {"file": ("labels.csv", csv.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "coco"}, headers=editor)
    assert r.status_code == 201, r.text
    root = settings.data_dir / "coco"
    expected = _coco(root)
    queue = InProcessQueue(monkeypatch, session_factory)
    r = client.post("/api/v1/datasets", json={"preset": "coco", "root": str(root)}, headers=editor)
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["label_converter"] == "coco-panoptic"
    queue.drain()
    result = _job(client, editor, dataset["conversion_job_id"])["result"]
    assert (result["converted"], result["failed"]) == (1, 0) and result["unknown_labels"] == {}
    out = settings.data_dir / "converted" / f"dataset-{dataset['id']}"
    with Image.open(out / "annotations/panoptic_val2017/000000000139.png") as img:
        np.testing.assert_array_equal(np.asarray(img), expected)
    assert json.loads((out / "conversion.json").read_text())["segments_json"].keys() == {
        "annotations/panoptic_val2017.json"
    }
    scan = client.get(f"/api/v1/datasets/{dataset['id']}", headers=editor).json()["scan"]
    assert scan["pairs"] == 1 and scan["problem_count"] == 0 and scan["unknown_values"] == []
    # the label file the gallery shows is the converted one (same path as the native panoptic PNG)
    r = client.get(
        f"/api/v1/datasets/{dataset['id']}/files/annotations/panoptic_val2017/000000000139.png",
        headers=editor,
    )
    assert r.status_code == 200
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), expected)
    r = client.get(f"/api/v1/datasets/{dataset['id']}/files/val2017/000000000139.jpg", headers=editor)
    assert r.status_code == 200
    # a dataset without native labels has nothing to convert: refused, never a 5xx
    body = {"params": {"kind": "convert_labels", "dataset_id": world["dataset"]["id"]}}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422 and "no native labels to convert" in r.text
    r = client.post(
        "/api/v1/jobs", json={"params": {"kind": "convert_labels", "dataset_id": 999}}, headers=editor
    )
    assert r.status_code == 404
