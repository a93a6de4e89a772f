"""A ``train`` job end to end with a real worker process (no eager mode).

Pseudo-label the synthetic demo dataset with the tiny teacher, then train a fresh tiny student on
its ground truth (train split) plus those pseudo-labels for a handful of iterations, validating on
the val split: the job succeeds, the best checkpoint is registered as a student model with the
target taxonomy and provenance, and the metrics are readable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.db.session import unit_of_work
from app.schemas.jobs import PseudoLabelParams, TrainParams
from app.services import jobs as job_service
from app.services import models as model_service
from app.services import training as training_service
from tests.factories import make_user
from tests.jobs.conftest import JobEnv, make_demo, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
TERMINAL = ("succeeded", "failed", "cancelled")


def _status(env: JobEnv, job_id: int) -> str:
    with env.factory() as s:
        return job_service.get_job(s, job_id).status


def test_train_job_registers_the_best_checkpoint_as_a_student(
    sqla_job_env: JobEnv, teacher_template: Path
) -> None:
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=8, height=48, width=64)
    env.start_worker("w1", threads=2)
    pl = PseudoLabelParams(
        model_id=demo.model_id,
        dataset_id=demo.dataset_id,
        mapping_version_id=demo.mapping_version_id,
        split="train",
        tta=False,
        output_name="pl",
    )
    with unit_of_work(env.factory) as s:
        pl_id = job_service.submit_job(s, params=pl, settings=env.settings).id
    wait_for(lambda: _status(env, pl_id) in TERMINAL, timeout=120, what="the pseudo-label job", env=env)
    assert _status(env, pl_id) == "succeeded", env.worker_logs()

    params = TrainParams.model_validate(
        {
            "name": "student",
            "train_sets": [
                {
                    "dataset_id": demo.dataset_id,
                    "mapping_version_id": demo.mapping_version_id,
                    "split": "train",
                },
                {"kind": "pseudo_labels", "job_id": pl_id, "weight": 0.5, "split": "train"},
            ],
            "val_sets": [
                {"dataset_id": demo.dataset_id, "mapping_version_id": demo.mapping_version_id, "split": "val"}
            ],
            "recipe": {
                "max_iterations": 4,
                "batch_size": 2,
                "crop_size": [32, 32],
                "val_every": 2,
                "log_every": 1,
            },
            "device": "cpu",
        }
    )
    with unit_of_work(env.factory) as s:
        submitter, _ = make_user(s, name="trainer")
        submitter_id = submitter.id
        job_id = job_service.submit_job(s, params=params, settings=env.settings, user_id=submitter_id).id
    wait_for(lambda: _status(env, job_id) in TERMINAL, timeout=150, what="the train job", env=env)

    with env.factory() as s:
        job = job_service.get_job(s, job_id)
        assert job.status == "succeeded", (job.error, job.traceback, env.worker_logs())
        result = json.loads(str(job.result_json))
        assert job.progress_current == job.progress_total == 4
        model = model_service.get_model(s, int(result["model_id"]))
        assert model.role == "student" and model.name == f"student-job-{job_id}"
        assert model.created_by_id == submitter_id  # the student belongs to whoever submitted the job
        assert model.taxonomy_id == json.loads(job.params_json)["target_taxonomy_id"]
        assert Path(model.spec).name == "best" and (Path(model.spec) / "unilabel.json").is_file()
        provenance = json.loads(model.provenance_json)
        kinds = {t["kind"]: t for t in provenance["training_sets"]}
        assert kinds["ground_truth"]["mapping_hash"] == job.mapping_hash
        assert kinds["pseudo_labels"]["pseudo_label_job_id"] == pl_id
        assert kinds["pseudo_labels"]["weight"] == 0.5
        # Only the train split's pseudo-labels: the val images are the validation set's.
        assert kinds["pseudo_labels"]["split"] == "train"
        assert kinds["pseudo_labels"]["images"] == kinds["ground_truth"]["images"]
        assert provenance["preset"] == "paper" and "max_iterations" in provenance["overrides"]
        metrics = training_service.read_metrics(s, job_id)
    assert [r["step"] for r in metrics["train"]] == [1, 2, 3, 4]
    assert [r["step"] for r in metrics["val"]] == [2, 4]
    best = metrics["best"]
    assert best is not None and best["class_names"] == ["drivable", "vehicle", "vegetation", "sky"]
    assert len(best["confusion"]["pooled"]) == 4 and len(best["confusion"]["pooled"][0]) == 5
    assert metrics["model_id"] == model.id

    # The next round starts from the registered student; the registry's normalisation override
    # (and trust flag) reach the training run.
    with unit_of_work(env.factory) as s:
        registered = model_service.get_model(s, model.id)
        registered.normalization_json = json.dumps({"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]})
        next_params = params.model_copy(
            update={
                "name": "round-2",
                "start_model_id": model.id,
                "recipe": params.recipe.model_copy(update={"max_iterations": 2}),
            }
        )
        next_id = job_service.submit_job(s, params=next_params, settings=env.settings).id
    wait_for(lambda: _status(env, next_id) in TERMINAL, timeout=150, what="the round-2 job", env=env)
    with env.factory() as s:
        job = job_service.get_job(s, next_id)
        assert job.status == "succeeded", (job.error, job.traceback, env.worker_logs())
        second = model_service.get_model(s, int(json.loads(str(job.result_json))["model_id"]))
        metadata = json.loads((Path(second.spec) / "unilabel.json").read_text())
        assert metadata["normalization"] == {"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]}
