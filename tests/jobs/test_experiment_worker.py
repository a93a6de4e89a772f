"""Experiments on real workers (issue 12): a run reaches its end, and a worker SIGKILLed in any
stage leaves it resumable with nothing lost (each stage submitted once, every job finished)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import load_settings
from app.db import repositories_experiments as repo
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.demo import ML_DEMO_DATASET, ML_DEMO_MAPPING, ML_DEMO_MODEL, ML_DEMO_TARGET
from app.schemas.experiments import ExperimentSpec
from app.services import experiments as service
from app.web.main import create_app
from tests import factories
from tests.jobs.conftest import JobEnv, make_demo, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
TERMINAL = ("succeeded", "failed", "cancelled")


def _spec(iterations: int = 4) -> ExperimentSpec:
    demo_set = {"dataset": ML_DEMO_DATASET, "mapping": ML_DEMO_MAPPING}
    return ExperimentSpec.model_validate(
        {
            "name": "worker-exp",
            "target_taxonomy": ML_DEMO_TARGET,
            "teacher": {"model": ML_DEMO_MODEL},
            "sources": [{**demo_set, "split": "train", "name": "source"}],
            "extras": [{**demo_set, "split": "train", "name": "extra"}],
            "evaluation": [{**demo_set, "split": "val"}],
            "student": {
                "training": {
                    "max_iterations": iterations,
                    "batch_size": 2,
                    "crop_size": [32, 32],
                    "val_every": 2,
                    "log_every": 1,
                }
            },
            "pseudo_label": {"tta": False, "batch_size": 1, "shard_size": 2},
            "device": "cpu",
        }
    )


def _create(env: JobEnv, spec: ExperimentSpec) -> tuple[int, int]:
    with unit_of_work(env.factory) as s:
        experiment = service.create_experiment(s, spec=spec, settings=env.settings, user_id=None)
        run = service.latest_run(s, experiment.id)
        assert run is not None
        return experiment.id, run.id


def _run_status(env: JobEnv, run_id: int) -> str:
    with env.factory() as s:
        run = repo.get_run(s, run_id)
        assert run is not None
        return run.status


def _stages(env: JobEnv, run_id: int) -> dict[str, Job | None]:
    with env.factory() as s:
        rows = repo.stage_jobs(s, run_id)
        s.expunge_all()
        return {stage.key: job for stage, job in rows}


def _wait_end(env: JobEnv, run_id: int, timeout: float = 300) -> None:
    def ended() -> bool:
        stages = _stages(env, run_id)
        jobs_done = all(j is not None and j.status in TERMINAL for j in stages.values())
        return _run_status(env, run_id) != "running" and jobs_done

    wait_for(ended, timeout=timeout, interval=0.5, what=f"experiment run {run_id} to end", env=env)


def _assert_complete(env: JobEnv, run_id: int) -> dict[str, Any]:
    stages = _stages(env, run_id)
    assert _run_status(env, run_id) == "succeeded", (stages, env.worker_logs())
    assert set(stages) == {"eval:teacher:0", "pl:r1:0", "student:r1", "eval:student:r1:0"}
    assert all(j is not None and j.status == "succeeded" for j in stages.values())
    with env.factory() as s:  # every stage submitted once: no duplicate job anywhere
        count = dict(
            s.execute(select(Job.kind, func.count()).where(Job.parent_id.is_(None)).group_by(Job.kind)).all()
        )
    assert count == {"pseudo_label": 1, "train": 1, "evaluate": 2}
    student = stages["student:r1"]
    assert student is not None and student.result_json
    return {"student_model_id": json.loads(student.result_json)["model_id"], "stages": stages}


def test_a_spec_file_runs_headless_from_the_cli(
    sqla_job_env: JobEnv, teacher_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`unilabel experiment run spec.yaml` against the API and a real worker, to the results."""
    env = sqla_job_env
    make_demo(env, teacher_template, count=8, height=48, width=64)
    with unit_of_work(env.factory) as s:
        _, token = factories.make_user(s, role="editor")
    spec_file = env.tmp / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(_spec().model_dump(mode="json", exclude_defaults=True)))
    env.start_worker("w1", threads=2)
    with TestClient(create_app(load_settings())) as client:

        def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
            client.base_url = client.base_url.join("/api/v1/")  # type: ignore[assignment]
            client.headers.update({"Authorization": f"Bearer {token}"})
            return contextlib.nullcontext(client)

        monkeypatch.setattr("app.cli_experiments._client", make)
        result = CliRunner().invoke(
            cli, ["experiment", "run", str(spec_file), "--token", token, "--interval", "0.5"]
        )
    assert result.exit_code == 0, (result.output, env.worker_logs())
    assert "experiment 1 'worker-exp': run 1 started" in result.output
    assert "run 1: succeeded (4/4 stages)" in result.output
    with env.factory() as s:
        run = service.latest_run(s, 1)
        assert run is not None
        run_id = run.id
    done = _assert_complete(env, run_id)
    evaluation = done["stages"]["eval:student:r1:0"]
    assert evaluation.model_id == done["student_model_id"]  # the student is what was scored
    assert "miou" in json.loads(evaluation.result_json)["metrics"]
    _fix_mapping_and_update(env, run_id, cli_args=["--token", token])


def _approve_grass_fix(env: JobEnv) -> None:
    """A new approved mapping version: `grass` may no longer be void (vegetation only)."""
    from app.services import mapping_edits, mappings, reviews, users

    with unit_of_work(env.factory) as s:
        admin, _ = users.ensure_local_admin(s)
        mapping = mappings.get_mapping_by_name(s, ML_DEMO_MAPPING)
        head = mappings.current_version(s, mapping.id)
        version = mapping_edits.toggle_edge(
            s,
            mapping_id=mapping.id,
            source_name="grass",
            target_id=255,
            on=False,
            author=admin,
            base_version_id=head.id,
        )
        reviews.submit_for_review(s, version_id=version.id, author=admin)
        reviews.approve(s, version_id=version.id, reviewer=admin, message="fix", four_eyes="off")


def _fix_mapping_and_update(env: JobEnv, run_id: int, *, cli_args: list[str]) -> None:
    """After a mapping fix the experiment says it is stale, and `update` re-runs only what changed."""
    _approve_grass_fix(env)
    with TestClient(create_app(load_settings())) as client:

        def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
            client.base_url = client.base_url.join("/api/v1/")  # type: ignore[assignment]
            client.headers.update({"Authorization": f"Bearer {token}"})
            return contextlib.nullcontext(client)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("app.cli_experiments._client", make)
            shown = CliRunner().invoke(cli, ["experiment", "show", "1", *cli_args])
            assert shown.exit_code == 0, shown.output
            assert "extra: stale: " in shown.output and "(grass)" in shown.output, shown.output
            updated = CliRunner().invoke(cli, ["experiment", "update", "1", "--wait", *cli_args])
    assert updated.exit_code == 0, (updated.output, env.worker_logs())
    assert "update: source: mapping " in updated.output and "run 2: succeeded" in updated.output, (
        updated.output
    )
    with env.factory() as s:
        second = service.latest_run(s, 1)
        assert second is not None and second.number == 2 and second.status == "succeeded"
        stages = {stage.key: (stage, job) for stage, job in repo.stage_jobs(s, second.id)}
        first = {stage.key: stage.job_id for stage, _ in repo.stage_jobs(s, run_id)}
    # One mapping serves the source, the extra and the evaluation set here, so every stage changed:
    # the teacher is scored again (its ground truth changed) and the labels are an update of run 1's.
    assert not stages["eval:teacher:0"][0].reused
    pl = stages["pl:r1:0"][1]
    assert pl is not None and json.loads(pl.params_json)["update_from_job_id"] == first["pl:r1:0"]
    assert not stages["student:r1"][0].reused and stages["student:r1"][0].job_id != first["student:r1"]


def test_sigkill_in_every_stage_loses_nothing(sqla_job_env: JobEnv, teacher_template: Path) -> None:
    """The worker is killed while a pseudo-label, then a training, then an evaluation stage runs;
    a fresh worker takes over each time, and the run still ends with each stage run once."""
    env = sqla_job_env
    make_demo(env, teacher_template, count=8, height=48, width=64)
    env.start_worker("w0")
    _, run_id = _create(env, _spec(iterations=8))
    for n, kind in enumerate(("pseudo_label", "train", "evaluate")):

        def stage_running(kind: str = kind) -> bool:
            jobs = _stages(env, run_id).values()
            return any(j is not None and j.kind == kind and j.status == "running" for j in jobs)

        wait_for(stage_running, timeout=240, interval=0.05, what=f"a running {kind} stage", env=env)
        env.kill_worker(f"w{n}")
        env.start_worker(f"w{n + 1}")
    _wait_end(env, run_id)
    _assert_complete(env, run_id)
