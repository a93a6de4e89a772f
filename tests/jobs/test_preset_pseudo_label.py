"""A colour-coded dataset registered from a preset is pseudo-labelled end to end: the worker decodes
its labels with the dataset's own palette (A2D2's class_list.json, numbered colours of one class
sharing its value), not with the taxonomy's colours, and reports colours outside the palette."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.queue import TASK_PSEUDO_LABEL
from tests import preset_layouts as L
from tests.jobs.conftest import approve_version
from tests.jobs.test_summary_errors import InProcessQueue

Headers = dict[str, str]
SHAPE = (32, 48)


def _a2d2(root: Path) -> None:
    """Two frames: columns 0-15 'Car 1', 16-31 'Car 2' (value 1), 32-47 'Sky' (value 2), one odd pixel."""
    base = root / "camera_lidar_semantic"
    base.mkdir(parents=True)
    (base / "class_list.json").write_text(
        json.dumps({"#ff0000": "Car 1", "#c80000": "Car 2", "#87ceff": "Sky"})
    )
    colors = np.zeros((*SHAPE, 3), dtype=np.uint8)
    colors[:, :16] = (255, 0, 0)
    colors[:, 16:32] = (200, 0, 0)
    colors[:, 32:] = (135, 206, 255)
    colors[0, 0] = (1, 2, 3)
    for i in range(2):
        scene = f"2018080{i}_145028"
        date = scene.replace("_", "")
        L.image(
            base / scene / "camera/cam_front_center" / f"{date}_camera_frontcenter_00000{i}.png", i, SHAPE
        )
        L.rgb_png(base / scene / "label/cam_front_center" / f"{date}_label_frontcenter_00000{i}.png", colors)


def test_a2d2_preset_dataset_is_pseudo_labelled_with_its_own_palette(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: Any,
    settings: Any,
) -> None:
    root = settings.data_dir / "a2d2"
    _a2d2(root)
    body = {"preset": "a2d2", "root": str(root), "name": "a2d2-mini", "taxonomy_id": world["source"]["id"]}
    r = client.post("/api/v1/datasets", json=body, headers=editor)
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["label_palette"] == [["#ff0000", 1], ["#c80000", 1], ["#87ceff", 2]]
    assert dataset["scan"]["unknown_colors"] == ["#010203"] and dataset["scan"]["unknown_color_pixels"] == 2

    approve_version(client, editor, reviewer, world["mapping"])
    queue = InProcessQueue(monkeypatch, session_factory)
    params = {
        "kind": "pseudo_label",
        "model_id": world["model"]["id"],
        "dataset_id": dataset["id"],
        "mapping_version_id": world["mapping"]["current_version"]["id"],
        "tta": False,
    }
    r = client.post("/api/v1/jobs", json={"params": params}, headers=editor)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert queue.pending[0] == (TASK_PSEUDO_LABEL, {"job_id": job_id})
    queue.drain()
    job = client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()
    assert job["status"] == "succeeded", job
    summary = client.get(f"/api/v1/jobs/{job_id}/summary", headers=editor).json()
    # ground truth per source label, pixel-exact: both reds are value 1 ('road' in this taxonomy),
    # the sky colour value 2 ('sidewalk'), the odd pixel of each frame an unknown value (void only)
    per_frame = SHAPE[0] * SHAPE[1]
    assert summary["histogram_named"] == {
        "road": {"drivable": 2 * (per_frame * 2 // 3 - 1)},
        "sidewalk": {"drivable": 2 * per_frame // 3},
        "<unknown value>": {"void": 2},
    }
