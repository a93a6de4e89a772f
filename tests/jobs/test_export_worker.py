"""A real run, exported by a real worker (issue 14): pseudo-label the demo dataset with the tiny
teacher, then an ``export`` job (task ``unilabel.export``) writes a CVAT zip of exactly the run's
labels, with the provenance README."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.schemas.jobs import ExportParams, PseudoLabelParams
from app.services import jobs as job_service
from tests.jobs.conftest import JobEnv, make_demo, wait_for


def _job(env: JobEnv, job_id: int) -> Job:
    with env.factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def test_worker_exports_a_real_run_as_cvat(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=3, height=32, width=48)
    params = PseudoLabelParams(model_id=demo.model_id, dataset_id=demo.dataset_id,
                               mapping_version_id=demo.mapping_version_id, tta=False)  # fmt: skip
    with unit_of_work(env.factory) as s:
        run_id = job_service.submit_job(s, params=params, settings=env.settings).id
    env.start_worker("w1")
    done = ("succeeded", "failed", "cancelled")
    wait_for(lambda: _job(env, run_id).status in done, timeout=240, what="pseudo-label", env=env)
    assert _job(env, run_id).status == "succeeded", env.worker_logs()
    with unit_of_work(env.factory) as s:
        export_id = job_service.submit_job(s, params=ExportParams(job_id=run_id), settings=env.settings).id
    wait_for(lambda: _job(env, export_id).status in done, timeout=120, what="export", env=env)
    export = _job(env, export_id)
    assert export.status == "succeeded", (export.error, env.worker_logs())
    assert json.loads(str(export.result_json))["images"] == 3
    assert export.progress_current == export.progress_total == 3
    run_dir = Path(str(_job(env, run_id).output_dir))
    records = [json.loads(line) for line in (run_dir / "manifest.jsonl").read_text().splitlines()]
    colors = {0: (128, 64, 128), 1: (0, 0, 142), 2: (107, 142, 35), 3: (70, 130, 180)}
    with zipfile.ZipFile(Path(str(export.output_dir)) / "export.zip") as zf:
        assert len(zf.read("ImageSets/Segmentation/default.txt").split()) == 3
        for record in records:
            ids = np.asarray(Image.open(run_dir / "labels" / record["output"]))
            item = record["image"].rsplit(".", 1)[0]
            rgb = np.asarray(Image.open(io.BytesIO(zf.read(f"SegmentationClass/{item}.png"))))
            for value, color in colors.items():
                assert (rgb[ids == value] == color).all()
            assert (rgb[ids == 255] == 0).all()
        readme = zf.read("README.md").decode()
    assert f'"run_job_id": {run_id}' in readme and '"mapping_hash"' in readme
