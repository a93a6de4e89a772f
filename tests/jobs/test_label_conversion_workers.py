"""Real worker processes: a sharded ``convert_labels`` job writes exactly the PNGs and provenance of
an unsharded conversion, survives SIGKILL mid-conversion, and resumes after cancel + retry."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.db import repositories_registry as repo
from app.db.session import unit_of_work
from app.domain.native_labels import RECORDS
from app.schemas.datasets import DatasetCreate
from app.schemas.jobs import ConvertLabelsParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import label_conversions as conversion_service
from app.services import taxonomies as taxonomy_service
from app.services import taxonomy_files
from tests import preset_layouts as L
from tests.jobs.conftest import JobEnv, wait_for
from worker.label_conversion import PROVENANCE, ConversionConfig, convert_items

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TERMINAL = ("succeeded", "failed", "cancelled")
NAMES = ["road", "sidewalk", "building", "sky", "car"]
TAXONOMY = [("unlabeled", 0, ""), ("road", 1, ""), ("sidewalk", 2, ""), ("building", 3, "")]
TAXONOMY += [("sky", 7, ""), ("car", 11, "")]


def _taxonomy(env: JobEnv) -> int:
    with unit_of_work(env.factory) as s:
        text = L.labels_csv([*TAXONOMY, ("void", 255, "")])
        return taxonomy_files.import_taxonomy(s, text=text, fmt="labels_csv", name="cs-labels").id


def _polygons(root: Path, count: int, *, size: tuple[int, int], objects: int) -> None:
    """Cityscapes polygon files: ``count`` frames of random (seeded) overlapping polygons, an
    unknown label name in each, and one broken file."""
    rng = random.Random(0)
    height, width = size
    for i in range(count):
        split = "val" if i % 4 == 3 else "train"
        frame = f"city{i % 3}_000000_{i:06d}"
        L.image(root / f"leftImg8bit/{split}/city{i % 3}/{frame}_leftImg8bit.png", i)
        gt = root / f"gtFine/{split}/city{i % 3}/{frame}_gtFine_polygons.json"
        gt.parent.mkdir(parents=True, exist_ok=True)
        objs = [
            {
                "label": rng.choice([*NAMES, "dragon"]),
                "polygon": [[rng.randrange(width), rng.randrange(height)] for _ in range(12)],
            }
            for _ in range(objects)
        ]
        body = {"imgHeight": height, "imgWidth": width, "objects": objs}
        gt.write_text("{broken" if i == 5 else json.dumps(body))


def _panoptic(root: Path, count: int) -> None:
    """COCO panoptic val2017: ``count`` images of random segments (one unlisted in the JSON)."""
    rng = np.random.default_rng(0)
    annotations = []
    for i in range(count):
        name = f"{i:012d}"
        L.image(root / f"val2017/{name}.jpg", i)
        ids = rng.integers(1, 5, size=(L.H, L.W)) * 256
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1)
        L.rgb_png(root / f"annotations/panoptic_val2017/{name}.png", rgb)
        segments = [{"id": s * 256, "category_id": [1, 3, 149][s % 3]} for s in range(1, 4)]
        annotations.append({"file_name": f"{name}.png", "segments_info": segments})
    categories = [{"id": 1, "name": "sky"}, {"id": 3, "name": "car"}, {"id": 149, "name": "road"}]
    payload = {"categories": categories, "annotations": annotations}
    (root / "annotations/panoptic_val2017.json").write_text(json.dumps(payload))


def _submit(env: JobEnv, root: Path, preset: str, shard_size: int) -> tuple[int, int]:
    """Register ``root`` from ``preset`` and submit its conversion job; (dataset id, job id)."""
    tax = _taxonomy(env)
    with unit_of_work(env.factory) as s:
        body = DatasetCreate(preset=preset, root=str(root), name=preset, taxonomy_id=tax)
        row = dataset_service.register_dataset(s, body=body, settings=env.settings)
        params = ConvertLabelsParams(dataset_id=row.id, shard_size=shard_size)
        return row.id, job_service.submit_job(s, params=params, settings=env.settings).id


def _job(env: JobEnv, job_id: int) -> dict[str, Any]:
    with env.factory() as s:
        job = job_service.get_job(s, job_id)
        return {
            "status": job.status,
            "result": json.loads(job.result_json) if job.result_json else None,
            "shards": [
                (sh.status, sh.progress_current, sh.progress_total, sh.attempt)
                for sh in repo.list_shards(s, job_id)
            ],
        }


def _wait_end(env: JobEnv, job_id: int) -> dict[str, Any]:
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=180, what="the job to end", env=env)
    return _job(env, job_id)


def _mid_shard(env: JobEnv, job_id: int) -> bool:
    return any(st == "running" and 0 < cur < tot for st, cur, tot, _ in _job(env, job_id)["shards"])


def _reference(env: JobEnv, dataset_id: int, out: Path) -> Path:
    """The same dataset converted in one unsharded pass (the conversion before sharding)."""
    with env.factory() as s:
        row = dataset_service.get_dataset(s, dataset_id)
        items = conversion_service.conversion_items(row)
        config = ConversionConfig(
            converter=str(row.label_converter),
            root=Path(row.root),
            out_dir=out,
            taxonomy=taxonomy_service.load_taxonomy(s, row.taxonomy_id, generated=False),
            encoding=row.label_encoding,
            dataset=row.name,
        )
    convert_items(config, items)
    return Path(str(row.converted_labels_dir))


def _assert_same_as_unsharded(env: JobEnv, dataset_id: int) -> None:
    converted = _reference(env, dataset_id, env.tmp / "reference")
    reference = env.tmp / "reference"
    pngs = sorted(p.relative_to(reference) for p in reference.rglob("*.png"))
    assert pngs and pngs == sorted(p.relative_to(converted) for p in converted.rglob("*.png"))
    for rel in pngs:
        with Image.open(reference / rel) as a, Image.open(converted / rel) as b:
            assert a.mode == b.mode
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (converted / RECORDS).read_text() == (reference / RECORDS).read_text(), "per-image provenance"
    assert json.loads((converted / PROVENANCE).read_text()) == json.loads(
        (reference / PROVENANCE).read_text()
    )
    assert not list(converted.rglob("*.tmp")), "no temp files of killed writers are left"


@pytest.mark.parametrize("preset", ["cityscapes", "coco"])
def test_sharded_conversion_equals_the_unsharded_one(sqla_job_env: JobEnv, preset: str) -> None:
    env = sqla_job_env
    root = env.tmp / "roots" / preset
    if preset == "cityscapes":
        _polygons(root, 10, size=(24, 40), objects=8)
    else:
        _panoptic(root, 7)
    dataset_id, job_id = _submit(env, root, preset, shard_size=3)
    env.start_worker("w1")
    state = _wait_end(env, job_id)
    assert state["status"] == "succeeded", (state, env.worker_logs())
    assert len(state["shards"]) == (4 if preset == "cityscapes" else 3) > 1
    assert all(st == "succeeded" for st, *_ in state["shards"])
    result = state["result"]
    assert result["files"] == (10 if preset == "cityscapes" else 7) and result["shards"] == len(
        state["shards"]
    )
    assert result["failed"] == (1 if preset == "cityscapes" else 0) and result["pairs"] == result["converted"]
    if preset == "cityscapes":
        assert "not valid JSON" in result["problems"][0]["message"] and "dragon" in result["unknown_labels"]
    _assert_same_as_unsharded(env, dataset_id)


def test_sigkill_mid_conversion_loses_nothing(sqla_job_env: JobEnv) -> None:
    env = sqla_job_env
    root = env.tmp / "roots" / "cityscapes"
    _polygons(root, 24, size=(512, 1024), objects=40)  # ~0.1 s per file: a shard runs for a while
    dataset_id, job_id = _submit(env, root, "cityscapes", shard_size=6)
    env.start_worker("w1")
    for kill in range(2):
        wait_for(
            lambda: _mid_shard(env, job_id), timeout=120, interval=0.02, what=f"kill {kill + 1}", env=env
        )
        env.kill_worker("w1")
        env.start_worker("w1")
    state = _wait_end(env, job_id)
    assert state["status"] == "succeeded", (state, env.worker_logs())
    assert any(attempt > 1 for *_, attempt in state["shards"]), "a killed shard was re-sent by the sweep"
    assert (state["result"]["files"], state["result"]["failed"]) == (24, 1)
    _assert_same_as_unsharded(env, dataset_id)


def test_cancel_mid_conversion_then_retry_resumes(sqla_job_env: JobEnv) -> None:
    env = sqla_job_env
    root = env.tmp / "roots" / "cityscapes"
    _polygons(root, 24, size=(512, 1024), objects=40)
    dataset_id, job_id = _submit(env, root, "cityscapes", shard_size=6)
    env.start_worker("w1")
    wait_for(lambda: _mid_shard(env, job_id), timeout=120, interval=0.02, what="a running shard", env=env)
    with unit_of_work(env.factory) as s:
        job_service.cancel_job(s, job_id)
    state = _wait_end(env, job_id)
    assert state["status"] == "cancelled", (state, env.worker_logs())
    with env.factory() as s:
        converted = Path(str(dataset_service.get_dataset(s, dataset_id).converted_labels_dir))
    written = {p: p.stat().st_mtime_ns for p in converted.rglob("*.png")}
    assert 0 < len(written) < 23
    with unit_of_work(env.factory) as s:
        job_service.retry_job(s, job_id)
    state = _wait_end(env, job_id)
    assert state["status"] == "succeeded", (state, env.worker_logs())
    result = state["result"]
    assert result["converted"] + result["skipped"] == 23 and result["failed"] == 1
    assert {p: p.stat().st_mtime_ns for p in written} == written, "the retry converted nothing again"
    _assert_same_as_unsharded(env, dataset_id)
