"""A survey job on a real worker with the tiny random teacher: sharded, counted pixel-exactly,
stored with provenance, resumable; then the audit and the CLI read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain.jobs import Progress
from app.schemas.jobs import SurveyParams
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from tests.jobs.conftest import JobEnv, make_demo, wait_for
from worker import survey_job
from worker.demo import SOURCE
from worker.sharding import read_pairs


class _Recorder:
    attempt = 1

    def __call__(self, progress: Progress) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def _job(env: JobEnv, job_id: int) -> Job:
    with env.factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def _gt_pixels(root: Path, pairs: list[Any]) -> dict[str, int]:
    names = {lb.value: lb.name for lb in SOURCE.labels}
    out: dict[str, int] = {}
    for pair in pairs:
        values, counts = np.unique(np.asarray(Image.open(root / pair.label)), return_counts=True)
        for v, c in zip(values, counts, strict=True):
            out[names[int(v)]] = out.get(names[int(v)], 0) + int(c)
    return out


def test_survey_job_counts_every_sampled_pixel_resumes_and_feeds_the_audit(
    sqla_job_env: JobEnv, teacher_template: Path
) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=6, height=32, width=48)
    params = SurveyParams(
        model_id=demo.model_id, dataset_id=demo.dataset_id, sample_size=5, shard_size=2, seed=3
    )
    with unit_of_work(env.factory) as s:
        job_id = job_service.submit_job(s, params=params, settings=env.settings).id
    env.start_worker("w1")
    wait_for(lambda: _job(env, job_id).status in ("succeeded", "failed"), timeout=240, what="survey", env=env)
    job = _job(env, job_id)
    assert job.status == "succeeded", (job.error, env.worker_logs())
    assert job.shard_count == 3
    out = Path(str(job.output_dir))
    data = json.loads((out / "survey.json").read_text())
    survey, prov = data["survey"], data["provenance"]
    assert survey["images"] == 5 and survey["class_names"] == ["drivable", "vehicle", "vegetation", "sky"]
    sampled = read_pairs(out)
    assert len(sampled) == 5 and len({p.image for p in sampled}) == 5
    gt = _gt_pixels(demo.dataset_root, sampled)
    assert {n: sum(r["pixels"]) for n, r in survey["labels"].items()} == gt  # every pixel, once
    for row in survey["labels"].values():
        assert abs(sum(row["mass"]) - sum(row["pixels"])) < 0.01 * sum(row["pixels"]) + 1
        assert sum(row["classes"]) == sum(row["pixels"]) and row["classes"][-1] == 0
        # a pixel whose class arg-max is c either had c as its arg-max over all channels or void
        assert all(k >= p for k, p in zip(row["classes"][:-1], row["pixels"][:-1], strict=True))
    assert prov["teacher"]["model_id"] == demo.model_id and prov["dataset"]["dataset_id"] == demo.dataset_id
    assert (
        prov["sample"]["seed"] == 3 and prov["sample"]["images"] == 5 and prov["code"]["survey_version"] == 2
    )
    assert json.loads(str(job.result_json))["images_ok"] == 5

    # Resume: shard 0 lost its second record (torn mid-line): a re-run redoes only that image.
    shard = next(sh for sh in job_service.list_shards(env.factory(), job_id) if sh.shard_index == 0)
    path = out / "survey.00000.jsonl"
    first, second = path.read_text().splitlines()[:2]
    path.write_text(first + "\n" + second[:20])
    result = survey_job.run_survey_shard(_job(env, shard.id), _Recorder())  # type: ignore[arg-type]
    assert (result["resumed_past"], result["surveyed"]) == (1, 1)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    assert sorted(r["image"] for r in records if r["status"] == "ok") == sorted(p.image for p in sampled[:2])

    from app.cli import app as cli_app

    with env.factory() as s:
        version = mapping_service.get_version(s, demo.mapping_version_id)
        mapping_id = version.mapping_id
    res = CliRunner().invoke(
        cli_app, ["mapping", "audit", str(mapping_id), "--survey", str(job_id), "--min-pixels", "1"]
    )
    assert res.exit_code == (0 if "no findings" in res.output else 1), res.output  # 1: findings
    assert f"survey job {job_id}: 5 images" in res.output
    missing = CliRunner().invoke(cli_app, ["mapping", "audit", str(mapping_id), "--survey", "999"])
    assert missing.exit_code == 1 and "job 999 does not exist" in missing.output
