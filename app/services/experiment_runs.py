"""Advance an experiment run (services layer): submit every ready stage as an ordinary job.

:func:`advance` is idempotent and safe to call from anywhere at any time: the web request that
starts, resumes or updates a run; a worker right after one of the run's jobs ended; and every
worker's recovery sweep (:func:`advance_active`), which is what makes a run reach its end whatever
process dies when. It bumps the run's ``version`` with a compare-and-set before submitting, in the
same transaction as the jobs' outbox messages, so two advancers never both submit a stage, and a
kill before the commit leaves the run exactly as it was.

A stage whose inputs equal a finished stage of the run this one was started from (same key, same
:func:`~app.domain.experiments.fingerprint`) is *reused* rather than run again; a pseudo-label stage
whose only change is a newer version of the same mapping is submitted as an *update* of the old
job (only the images whose labels' allowed sets changed are labelled again).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_experiments as repo
from app.db.base import utcnow
from app.db.models_experiments import ExperimentRun, ExperimentStage
from app.db.models_registry import Job
from app.domain.errors import DomainError
from app.domain.experiments import (
    TEACHER,
    RunStatus,
    Stage,
    StageKind,
    fingerprint,
    plan,
    same_except_mapping,
    stage_graph,
    student_key,
)
from app.schemas.jobs import EvaluateParams, PseudoLabelParams, TrainParams
from app.services import jobs as job_service

log = logging.getLogger(__name__)
INFERENCE_KEYS = ("tta", "scales", "tta_windows", "tta_memory_budget_mb", "batch_size")


def graph_of(resolved: dict[str, Any]) -> tuple[Stage, ...]:
    return stage_graph(
        extras=len(resolved["extras"]),
        evaluations=len(resolved["evaluation"]),
        rounds=int(resolved["rounds"]),
        train_teacher=resolved["teacher"]["train"] is not None,
    )


def _gt(s: dict[str, Any]) -> dict[str, Any]:
    keys = ("dataset_id", "mapping_version_id", "split", "weight", "name")
    return {"kind": "ground_truth", **{k: s[k] for k in keys}}


def _val(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in ("dataset_id", "mapping_version_id", "split", "name")}


def _model_of(jobs: dict[str, Job | None], key: str) -> int:
    job = jobs[key]
    assert job is not None and job.result_json  # the planner only readies stages whose needs succeeded
    return int(json.loads(job.result_json)["model_id"])


def _labeller(resolved: dict[str, Any], jobs: dict[str, Job | None], round_: int) -> int:
    if round_ > 1:
        return _model_of(jobs, student_key(round_ - 1))
    if resolved["teacher"]["model_id"] is not None:
        return int(resolved["teacher"]["model_id"])
    return _model_of(jobs, TEACHER)


def _train_params(
    resolved: dict[str, Any], stage: Stage, jobs: dict[str, Job | None], run: ExperimentRun
) -> dict[str, Any]:
    source_ids = {s["dataset_id"] for s in resolved["sources"]}
    train_sets = [_gt(s) for s in resolved["sources"]]
    val = [_val(s) for s in resolved["evaluation"] if s["dataset_id"] in source_ids]
    if stage.kind == StageKind.TRAIN_TEACHER:
        part, title = resolved["teacher"], "teacher"
        recipe, start = part["train"], part["start_model_id"]
    else:
        part, title = resolved["student"], f"student-r{stage.round}"
        recipe, start = part["training"], part["start_model_id"]
        if part.get("start_from_teacher"):
            start = _labeller(resolved, jobs, stage.round)
        for i, extra in enumerate(resolved["extras"]):
            job = jobs[f"pl:r{stage.round}:{i}"]
            assert job is not None
            train_sets.append(
                {"kind": "pseudo_labels", "job_id": job.id, "weight": extra["weight"], "name": extra["name"]}
            )
    return {
        "kind": "train",
        "train_sets": train_sets,
        "val_sets": val,
        "recipe": recipe,
        "start_model_id": start,
        "architecture": part["architecture"],
        "target_taxonomy_id": resolved["target_taxonomy_id"],
        "model_name": f"experiment-{run.experiment_id}-run-{run.number}-{title}",
    }


def stage_params(
    resolved: dict[str, Any], stage: Stage, jobs: dict[str, Job | None], run: ExperimentRun
) -> dict[str, Any]:
    """The job parameters of ``stage`` (names included; :func:`fingerprint` leaves them out)."""
    options = resolved["pseudo_label"]
    common = {"queue": resolved["queue"], "device": resolved["device"]}
    label = f"experiment {run.experiment_id} run {run.number}: {stage.key}"
    if stage.kind in (StageKind.TRAIN_TEACHER, StageKind.TRAIN_STUDENT):
        return {**_train_params(resolved, stage, jobs, run), **common, "name": label}
    if stage.kind == StageKind.PSEUDO_LABEL:
        extra = resolved["extras"][int(stage.index or 0)]
        return {
            "kind": "pseudo_label",
            **common,
            "name": label,
            "model_id": _labeller(resolved, jobs, stage.round),
            "dataset_id": extra["dataset_id"],
            "mapping_version_id": extra["mapping_version_id"],
            "split": extra["split"],
            "output_name": f"experiment-{run.experiment_id}-run-{run.number}-{stage.key.replace(':', '-')}",
            **options,
        }
    target = resolved["evaluation"][int(stage.index or 0)]
    model = (
        _labeller(resolved, jobs, 1) if stage.model == TEACHER else _model_of(jobs, student_key(stage.round))
    )
    return {
        "kind": "evaluate",
        **common,
        "name": label,
        "model_id": model,
        "dataset_id": target["dataset_id"],
        "mapping_version_id": target["mapping_version_id"],
        "split": target["split"],
        **{k: options[k] for k in INFERENCE_KEYS if k in options},
    }


def _previous(session: Session, run: ExperimentRun) -> dict[str, tuple[ExperimentStage, Job | None]]:
    if run.previous_run_id is None:
        return {}
    return {stage.key: (stage, job) for stage, job in repo.stage_jobs(session, run.previous_run_id)}


def _start_stage(
    session: Session,
    settings: Settings,
    run: ExperimentRun,
    stage: Stage,
    params: dict[str, Any],
    previous: dict[str, tuple[ExperimentStage, Job | None]],
) -> bool:
    """Reuse, update or submit one stage; True when it was reused (already succeeded)."""
    print_ = fingerprint(params["kind"], params)
    old_stage, old_job = previous.get(stage.key, (None, None))
    if old_stage is not None and old_job is not None and old_job.status == "succeeded":
        if old_stage.fingerprint == print_:
            session.add(
                ExperimentStage(
                    run_id=run.id,
                    key=stage.key,
                    kind=stage.kind.value,
                    job_id=old_job.id,
                    fingerprint=print_,
                    reused=True,
                )
            )
            return True
        if stage.kind == StageKind.PSEUDO_LABEL:
            # Compared as submitted (every field, defaults included), as the old job stored them.
            now = PseudoLabelParams.model_validate(params).model_dump(mode="json")
            if same_except_mapping(json.loads(old_job.params_json), now):
                params = {**params, "update_from_job_id": old_job.id}
    body: PseudoLabelParams | EvaluateParams | TrainParams
    if params["kind"] == "train":
        body = TrainParams.model_validate(params)
    elif params["kind"] == "pseudo_label":
        body = PseudoLabelParams.model_validate(params)
    else:
        body = EvaluateParams.model_validate(params)
    job = job_service.submit_job(session, params=body, settings=settings, user_id=run.created_by_id)
    session.add(
        ExperimentStage(
            run_id=run.id, key=stage.key, kind=stage.kind.value, job_id=job.id, fingerprint=print_
        )
    )
    return False


def _finish_run(session: Session, run: ExperimentRun, version: int, status: RunStatus, message: str) -> None:
    done = status != RunStatus.RUNNING
    repo.bump_run(
        session,
        run.id,
        version=version,
        statuses=[RunStatus.RUNNING.value],
        status=status.value,
        message=message,
        finished_at=utcnow() if done else None,
    )


def _step(session: Session, settings: Settings, run: ExperimentRun) -> bool:
    """One planning step; True when stages were reused (planning again may ready more)."""
    resolved = json.loads(run.resolved_json)
    graph = graph_of(resolved)
    rows = repo.stage_jobs(session, run.id)
    jobs = {stage.key: job for stage, job in rows}
    states = {stage.key: (job.status if job is not None else "failed") for stage, job in rows}
    current = plan(graph, states)
    if current.status != RunStatus.RUNNING:
        text = (
            "every stage succeeded"
            if current.status == RunStatus.SUCCEEDED
            else f"stage {', '.join(current.broken)} did not succeed; resume to retry it"
        )
        _finish_run(session, run, run.version, current.status, text)
        return False
    if not current.ready:
        return False
    if not repo.bump_run(session, run.id, version=run.version, statuses=[RunStatus.RUNNING.value]):
        return False  # another advancer got there first
    version = run.version + 1  # the row's now (the ORM object is left as read: no second UPDATE)
    previous, reused = _previous(session, run), False
    for stage in current.ready:
        try:
            with session.begin_nested():
                reused |= _start_stage(
                    session, settings, run, stage, stage_params(resolved, stage, jobs, run), previous
                )
        except DomainError as exc:
            session.flush()
            _finish_run(
                session,
                run,
                version,
                RunStatus.FAILED,
                f"stage {stage.key} could not be submitted: {exc.message}",
            )
            return False
    session.flush()
    return reused


def advance(session: Session, settings: Settings, run_id: int) -> None:
    """Submit what is ready, or record that the run ended (a no-op for a run that is not running)."""
    for _ in range(64):  # reuse can ready the next stages at once; the graph bounds the loop
        session.expire_all()
        run = repo.get_run(session, run_id)
        if run is None or run.status != RunStatus.RUNNING.value or not _step(session, settings, run):
            return


def advance_for_job(session: Session, settings: Settings, job_id: int) -> None:
    """After ``job_id`` ended: advance the runs it is a stage of."""
    for run_id in repo.runs_of_job(session, job_id):
        advance(session, settings, run_id)


def advance_active(session: Session, settings: Settings) -> None:
    """Advance every running run (the recovery sweep's safety net)."""
    for run_id in repo.active_run_ids(session):
        advance(session, settings, run_id)
