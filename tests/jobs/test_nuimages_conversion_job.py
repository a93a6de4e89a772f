"""nuImages end to end: the preset registers with preset + root, queues a convert_labels job, and the
job (run through its task) paints each annotated key frame the way the devkit's get_segmentation
does: surfaces in table order, then objects sorted by token, masks base64-decoded and decoded by
pycocotools. The fixture is a miniature release built here (two release folders, RLE masks encoded
with pycocotools), checked pixel by pixel."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from pycocotools import mask as cocomask
from sqlalchemy.orm import Session, sessionmaker

from app.queue import TASK_CONVERT_LABELS
from tests import preset_layouts as L
from tests.jobs.test_summary_errors import InProcessQueue

Headers = dict[str, str]
H, W = L.H, L.W
CATEGORIES = {
    "c-surf": "flat.driveable_surface",
    "c-ego": "vehicle.ego",
    "c-car": "vehicle.car",
    "c-adult": "human.pedestrian.adult",
    "c-animal": "animal",  # not in the taxonomy below: reported, left as background
}


def _rle(mask: np.ndarray) -> dict[str, Any]:
    """A nuImages mask: COCO compressed RLE whose counts are base64-encoded (as the tables hold it)."""
    rle = cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": base64.b64encode(rle["counts"]).decode()}


def _box(rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros((H, W), dtype=np.uint8)
    m[rows, cols] = 1
    return m


def _release(root: Path, name: str, frames: dict[str, tuple[list[Any], list[Any]]]) -> None:
    """One v1.0-<split> folder: frames = image path -> (surfaces, objects), each (token, category, mask)."""
    folder = root / name
    folder.mkdir(parents=True)
    tables: dict[str, list[dict[str, Any]]] = {
        "category": [{"token": t, "name": n, "description": ""} for t, n in CATEGORIES.items()],
        "sample_data": [],
        "surface_ann": [],
        "object_ann": [],
    }
    for i, (filename, (surfaces, objects)) in enumerate(frames.items()):
        sd = f"{name}-sd{i}"
        tables["sample_data"].append(
            {"token": sd, "filename": filename, "width": W, "height": H, "is_key_frame": True}
        )
        for table, anns in (("surface_ann", surfaces), ("object_ann", objects)):
            for token, cat, mask in anns:
                rec = {"token": token, "sample_data_token": sd, "category_token": cat}
                tables[table].append({**rec, "mask": None if mask is None else _rle(mask)})
    for table, records in tables.items():
        (folder / f"{table}.json").write_text(json.dumps(records))


def _nuimages(root: Path) -> dict[str, np.ndarray]:
    """Two train frames and one val frame, plus a key frame no table lists; the expected values."""
    front, back, val = "samples/CAM_FRONT/n1.jpg", "samples/CAM_BACK/n2.jpg", "samples/CAM_FRONT/n3.jpg"
    for i, rel in enumerate([front, back, val, "samples/CAM_FRONT/unlisted.jpg", "sweeps/CAM_FRONT/s.jpg"]):
        L.image(root / rel, i)
    surfaces = [
        ("s1", "c-surf", _box(slice(3, H), slice(None))),
        ("s2", "c-ego", _box(slice(5, H), slice(None))),
    ]
    # objects listed b before a: the devkit sorts by token, so a (adult) is drawn first, b (car) over it
    objects = [
        ("b", "c-car", _box(slice(0, 4), slice(0, 4))),
        ("a", "c-adult", _box(slice(0, 4), slice(2, 6))),
        ("c", "c-car", None),  # an annotation without a mask is skipped
        ("d", "c-animal", _box(slice(0, 1), slice(6, 8))),
    ]
    _release(root, "v1.0-train", {front: (surfaces, objects), back: ([], [])})
    _release(root, "v1.0-val", {val: ([("s3", "c-surf", _box(slice(None), slice(0, 1)))], [])})
    expected = np.zeros((H, W), dtype=np.uint8)
    expected[3:] = 13  # driveable surface
    expected[5:] = 14  # ego, a later surface, over it
    expected[0:4, 2:6] = 1  # adult
    expected[0:4, 0:4] = 8  # car, token b > a: drawn last
    val_expected = np.zeros((H, W), dtype=np.uint8)
    val_expected[:, 0] = 13
    return {front: expected, back: np.zeros((H, W), dtype=np.uint8), val: val_expected}


def _job(client: TestClient, headers: Headers, job_id: int) -> dict[str, Any]:
    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "succeeded", job
    return dict(job)


def test_nuimages_preset_converts_tables_and_rle_masks_as_the_devkit_paints_them(
    client: TestClient,
    editor: Headers,
    session_factory: sessionmaker[Session],
    monkeypatch: Any,
    settings: Any,
) -> None:
    rows = [
        ("unlabeled", 0, ""),
        ("adult", 1, ""),
        ("car", 8, ""),
        ("driveable surface", 13, ""),
        ("ego", 14, ""),
    ]
    files = {"file": ("labels.csv", L.labels_csv(rows).encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "nuimages"}, headers=editor)
    assert r.status_code == 201, r.text
    root = settings.data_dir / "nuimages"
    expected = _nuimages(root)
    queue = InProcessQueue(monkeypatch, session_factory)
    r = client.post("/api/v1/datasets", json={"preset": "nuimages", "root": str(root)}, headers=editor)
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["label_converter"] == "nuimages" and dataset["preset_variant"] == "v1.0"
    assert dataset["label_template"] == "samples/{camera}/{frame}.png"
    assert list(queue.pending) == [(TASK_CONVERT_LABELS, {"job_id": dataset["conversion_job_id"]})]
    queue.drain()
    result = _job(client, editor, dataset["conversion_job_id"])["result"]
    assert (result["files"], result["converted"], result["failed"]) == (4, 3, 1)
    assert result["unknown_labels"] == {"animal": 1}
    assert result["problems"][0]["label"] == "samples/CAM_FRONT/unlisted.jpg"
    assert "no v1.0-*/sample_data.json" in result["problems"][0]["message"]
    provenance = result["provenance"]
    assert provenance["converter"] == "nuimages" and provenance["converted_files"] == 3
    assert sorted(provenance["tables_sha256"]) == sorted(
        f"v1.0-{s}/{t}.json"
        for s in ("train", "val")
        for t in ("category", "sample_data", "surface_ann", "object_ann")
    )
    out = settings.data_dir / "converted" / f"dataset-{dataset['id']}"
    for image, values in expected.items():
        with Image.open(out / image.replace(".jpg", ".png")) as img:
            np.testing.assert_array_equal(np.asarray(img), values, err_msg=image)
    records = [json.loads(line) for line in (out / "conversion-records.jsonl").read_text().splitlines()]
    assert {r["release"] for r in records} == {"v1.0-train", "v1.0-val"}
    # the dataset pairs every converted key frame, split by its release folder (v1.0-train, v1.0-val);
    # sweeps are not images of the layout
    dataset = client.get(f"/api/v1/datasets/{dataset['id']}", headers=editor).json()
    assert dataset["splits"] == ["train", "val"]
    scan = dataset["scan"]
    assert scan["pairs"] == 3 and scan["problem_count"] == 1 and scan["unknown_values"] == []
    assert scan["per_split"] == {"train": 2, "val": 1}
    report = scan["preset"]  # images whose converted PNG exists are the pairs; the tables are the layout's
    splits = [(s["split"], s["images"], s["pairs"]) for s in report["splits"]]
    assert splits == [("", 1, 0), ("train", 2, 2), ("val", 1, 1)]
    assert report["unmatched"] == {} and report["notes"][0].startswith("nuimages labels")
    # a second job resumes: nothing painted again
    body = {"params": {"kind": "convert_labels", "dataset_id": dataset["id"]}}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    queue.drain()
    again = _job(client, editor, r.json()["id"])["result"]
    assert (again["converted"], again["skipped"], again["failed"]) == (0, 3, 1)
    assert again["unknown_labels"] == {"animal": 1}
