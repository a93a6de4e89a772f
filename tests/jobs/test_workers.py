"""Real worker processes: sharded pseudo-labeling survives SIGKILL, cancel, retry (no eager mode)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.db import repositories_registry as repo
from app.db.session import unit_of_work
from app.schemas.jobs import PseudoLabelParams
from app.services import jobs as job_service
from tests.jobs.conftest import JobEnv, make_demo, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TERMINAL = ("succeeded", "failed", "cancelled")


def _submit(env: JobEnv, demo: object, **overrides: object) -> int:
    # One image per forward pass (the default batches 8 small images): the kill and cancel tests
    # must catch a shard with part of its images written.
    params = PseudoLabelParams(
        model_id=demo.model_id,
        dataset_id=demo.dataset_id,  # type: ignore[attr-defined]
        mapping_version_id=demo.mapping_version_id,  # type: ignore[attr-defined]
        **{"batch_size": 1, **overrides},
    )  # type: ignore[arg-type]
    with unit_of_work(env.factory) as s:
        return job_service.submit_job(s, params=params, settings=env.settings).id


def _job(env: JobEnv, job_id: int) -> dict[str, object]:
    with env.factory() as s:
        job = job_service.get_job(s, job_id)
        shards = repo.list_shards(s, job_id)
        return {
            "status": job.status,
            "current": job.progress_current,
            "total": job.progress_total,
            "error": job.error,
            "result": json.loads(job.result_json) if job.result_json else None,
            "shards": [(sh.status, sh.progress_current, sh.progress_total, sh.attempt) for sh in shards],
        }


class ProgressWatcher(threading.Thread):
    """Samples the parent's progress while the job runs; the samples must never decrease."""

    def __init__(self, env: JobEnv, job_id: int) -> None:
        super().__init__(daemon=True)
        self.env, self.job_id, self.samples, self.done = env, job_id, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            with self.env.factory() as s:
                self.samples.append(job_service.get_job(s, self.job_id).progress_current)
            time.sleep(0.05)


def _mid_shard(env: JobEnv, job_id: int) -> bool:
    """A shard is running and has written part of its images."""
    return any(st == "running" and 0 < cur < tot for st, cur, tot, _ in _job(env, job_id)["shards"])  # type: ignore[union-attr]


def _assert_outputs_complete(out_dir: Path, demo_root: Path) -> None:
    labels = sorted((demo_root / "labels").rglob("*.png"))
    records = [json.loads(x) for x in (out_dir / "manifest.jsonl").read_text().splitlines()]
    images = [r["image"] for r in records]
    assert len(images) == len(set(images)) == len(labels), "every image exactly once in the manifest"
    assert all(r["status"] == "ok" for r in records)
    for label in labels:
        rel = label.relative_to(demo_root).as_posix()
        with Image.open(out_dir / "labels" / rel) as im:  # mirrors the label's relative path
            im.load()  # a truncated PNG raises here
            assert np.asarray(im).shape == (64, 96)
    assert not list(out_dir.rglob("*.tmp")), "no temp files of killed writers are left"


def test_sigkill_mid_shard_three_times_loses_nothing(job_env: JobEnv, teacher_template: Path) -> None:
    demo = make_demo(job_env, teacher_template, count=24)
    job_id = _submit(job_env, demo, tta=True, scales=[0.75, 1.25, 1.5], shard_size=8, output_name="crash")
    watcher = ProgressWatcher(job_env, job_id)
    watcher.start()
    job_env.start_worker("w1")
    for kill in range(3):
        wait_for(
            lambda: _mid_shard(job_env, job_id),
            timeout=120,
            interval=0.02,
            what=f"a shard in progress before kill {kill + 1}",
            env=job_env,
        )
        job_env.kill_worker("w1")
        job_env.start_worker("w1")
    wait_for(
        lambda: _job(job_env, job_id)["status"] in TERMINAL, timeout=180, what="the job to end", env=job_env
    )
    watcher.done.set()
    watcher.join()
    state = _job(job_env, job_id)
    assert state["status"] == "succeeded", (state, job_env.worker_logs())
    assert state["current"] == state["total"] == 24
    assert any(attempt > 1 for *_, attempt in state["shards"]), "a killed shard was redelivered"
    assert watcher.samples == sorted(watcher.samples), "progress never goes backwards"
    _assert_outputs_complete(job_env.settings.data_dir / "outputs" / "crash", demo.dataset_root)


def test_cancel_mid_run_then_retry_resumes(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=24)
    job_id = _submit(env, demo, tta=True, scales=[0.75, 1.25, 1.5], shard_size=6, output_name="cancel")
    env.start_worker("w1")
    wait_for(lambda: _mid_shard(env, job_id), timeout=120, interval=0.02, what="a running shard", env=env)
    started = time.monotonic()
    with unit_of_work(env.factory) as s:
        job_service.cancel_job(s, job_id)
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=60, what="the cancel", env=env)
    state = _job(env, job_id)
    assert state["status"] == "cancelled" and time.monotonic() - started < 30
    assert all(st == "cancelled" or st == "succeeded" for st, *_ in state["shards"])  # type: ignore[union-attr]
    written_before = len(list((env.settings.data_dir / "outputs" / "cancel" / "labels").rglob("*.png")))
    assert 0 < written_before < 24

    with unit_of_work(env.factory) as s:
        job_service.retry_job(s, job_id)
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=120, what="the retried job", env=env)
    state = _job(env, job_id)
    assert state["status"] == "succeeded", (state, env.worker_logs())
    assert state["result"]["skipped_existing"] >= written_before  # type: ignore[index]
    _assert_outputs_complete(env.settings.data_dir / "outputs" / "cancel", demo.dataset_root)


def test_failed_job_is_retried_after_the_cause_is_fixed(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=8)
    job_id = _submit(env, demo, tta=False, shard_size=4, output_name="fails")
    hidden = demo.teacher_dir.with_name("teacher-away")
    shutil.move(demo.teacher_dir, hidden)  # the model files vanish after submission
    env.start_worker("w1")
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=120, what="the failure", env=env)
    state = _job(env, job_id)
    assert state["status"] == "failed" and "shard(s) failed" in str(state["error"])
    with env.factory() as s:
        assert any("failed" in line.message for line in job_service.job_logs(s, job_id))

    shutil.move(hidden, demo.teacher_dir)
    with unit_of_work(env.factory) as s:
        job_service.retry_job(s, job_id)
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=120, what="the retried job", env=env)
    assert _job(env, job_id)["status"] == "succeeded", env.worker_logs()
    _assert_outputs_complete(env.settings.data_dir / "outputs" / "fails", demo.dataset_root)


def test_two_workers_share_the_shards(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=24)
    env.start_worker("w1")
    env.start_worker("w2", queues="default,cpu")
    env.wait_ready("w1", "w2")
    job_id = _submit(env, demo, tta=True, scales=[0.75, 1.25, 1.5], shard_size=4, output_name="two")
    wait_for(lambda: _job(env, job_id)["status"] in TERMINAL, timeout=180, what="the job", env=env)
    assert _job(env, job_id)["status"] == "succeeded", env.worker_logs()
    with env.factory() as s:
        hosts = {sh.worker_host for sh in repo.list_shards(s, job_id)}
    assert len(hosts) == 2, f"both workers took shards: {hosts}"
    _assert_outputs_complete(env.settings.data_dir / "outputs" / "two", demo.dataset_root)


def test_evaluate_and_scan_jobs_run_on_a_worker(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    from app.schemas.jobs import EvaluateParams, ScanDatasetParams

    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=6)
    with unit_of_work(env.factory) as s:
        evaluation = job_service.submit_job(
            s,
            params=EvaluateParams(
                model_id=demo.model_id,
                dataset_id=demo.dataset_id,
                mapping_version_id=demo.mapping_version_id,
                tta=False,
                split="val",
            ),
            settings=env.settings,
        ).id
        scan_params = ScanDatasetParams(dataset_id=demo.dataset_id)
        scan = job_service.submit_job(s, params=scan_params, settings=env.settings).id
    env.start_worker("w1")
    for job_id in (evaluation, scan):
        done = lambda j=job_id: _job(env, j)["status"] in TERMINAL  # noqa: E731
        wait_for(done, timeout=120, what=f"job {job_id}", env=env)
        assert _job(env, job_id)["status"] == "succeeded", env.worker_logs()
    result = _job(env, evaluation)["result"]
    assert result["evaluated"] == 3 and 0.0 <= result["metrics"]["pixel_accuracy"] <= 1.0  # type: ignore[index]
    with env.factory() as s:
        assert job_service.read_summary(s, scan)["pairs"] == 6
        assert job_service.job_payload(s, job_service.get_job(s, evaluation))["device"] == "cpu"
