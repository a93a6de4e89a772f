"""Experiment use cases (services layer): create from a spec, start runs, resume, cancel, update.

An experiment is created from an :class:`ExperimentSpec` (a YAML/JSON file, the API body or the
browser form: the same validation and resolution for all). Each run pins the spec's resolved inputs
and is advanced by :mod:`app.services.experiment_runs`. State changes of a run are compare-and-set
on its ``version``:

- **resume** (failed or cancelled -> running): failed or cancelled stage jobs are retried (they
  continue from the outputs they wrote), finished stages are kept;
- **cancel** (running or failed -> cancelled): every unfinished stage job is cancelled;
- **update**: a new run with the newest approved mapping versions; every stage whose inputs did not
  change is reused, a pseudo-label stage whose mapping changed re-labels only the affected images.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_experiments as repo
from app.db.models_experiments import Experiment, ExperimentRun
from app.domain.errors import Conflict, NotFound
from app.domain.experiments import RunStatus
from app.domain.jobs import TERMINAL_STATUSES
from app.schemas.experiments import ExperimentSpec
from app.services import jobs as job_service
from app.services.experiment_runs import advance
from app.services.experiment_specs import resolve
from app.services.pseudo_label_updates import newest_approved


def spec_hash(spec: ExperimentSpec) -> str:
    blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    row = repo.get_experiment(session, experiment_id)
    if row is None:
        raise NotFound(f"experiment {experiment_id} does not exist", field="experiment_id")
    return row


def get_run(session: Session, experiment_id: int, number: int) -> ExperimentRun:
    run = repo.get_run_by_number(session, experiment_id, number)
    if run is None:
        raise NotFound(f"experiment {experiment_id} has no run {number}", field="run")
    return run


def latest_run(session: Session, experiment_id: int) -> ExperimentRun | None:
    runs = repo.list_runs(session, experiment_id)
    return runs[-1] if runs else None


def spec_of(experiment: Experiment) -> ExperimentSpec:
    return ExperimentSpec.model_validate_json(experiment.spec_json)


def create_experiment(
    session: Session, *, spec: ExperimentSpec, settings: Settings, user_id: int | None, start: bool = True
) -> Experiment:
    """Validate and resolve ``spec``, store the experiment and (by default) start run 1."""
    if repo.get_experiment_by_name(session, spec.name) is not None:
        raise Conflict(f"an experiment named {spec.name!r} already exists", field="name")
    resolved = resolve(session, spec)
    row = Experiment(
        name=spec.name,
        description=spec.description,
        spec_json=spec.model_dump_json(),
        spec_hash=spec_hash(spec),
        target_taxonomy_id=resolved["target_taxonomy_id"],
        created_by_id=user_id,
    )
    session.add(row)
    session.flush()
    if start:
        _new_run(session, settings, row, resolved, user_id=user_id, reason="first run", previous=None)
    return row


def _new_run(
    session: Session,
    settings: Settings,
    experiment: Experiment,
    resolved: dict[str, Any],
    *,
    user_id: int | None,
    reason: str,
    previous: ExperimentRun | None,
) -> ExperimentRun:
    run = ExperimentRun(
        experiment_id=experiment.id,
        number=repo.next_run_number(session, experiment.id),
        status=RunStatus.RUNNING.value,
        version=0,
        reason=reason,
        message="",
        resolved_json=json.dumps(resolved, sort_keys=True),
        previous_run_id=previous.id if previous is not None else None,
        created_by_id=user_id,
    )
    session.add(run)
    session.flush()
    advance(session, settings, run.id)
    session.refresh(run)  # advance wrote its status with a compare-and-set UPDATE
    return run


def start_run(
    session: Session, *, experiment_id: int, settings: Settings, user_id: int | None
) -> ExperimentRun:
    """A new run of the spec as it resolves now (reusing the latest run's unchanged stages)."""
    experiment = get_experiment(session, experiment_id)
    previous = latest_run(session, experiment_id)
    if previous is not None and previous.status == RunStatus.RUNNING.value:
        raise Conflict(f"run {previous.number} is still running; cancel it first", field="run")
    resolved = resolve(session, spec_of(experiment))
    return _new_run(
        session, settings, experiment, resolved, user_id=user_id, reason="new run", previous=previous
    )


def update(session: Session, *, experiment_id: int, settings: Settings, user_id: int | None) -> ExperimentRun:
    """A new run with each extra's newest approved mapping version (refused when nothing changed)."""
    experiment = get_experiment(session, experiment_id)
    previous = latest_run(session, experiment_id)
    if previous is None:
        raise Conflict("the experiment has no run yet: start one", field="run")
    if previous.status == RunStatus.RUNNING.value:
        raise Conflict(f"run {previous.number} is still running; wait for it or cancel it", field="run")
    resolved = json.loads(previous.resolved_json)
    changes = []
    for field in ("sources", "extras", "evaluation"):
        for pinned in resolved[field]:
            newest = newest_approved(session, pinned["mapping_id"])
            if newest is not None and newest.number > pinned["version"]:
                changes.append(
                    f"{pinned['name']}: mapping {pinned['mapping']!r} v{pinned['version']} → v{newest.number}"
                )
                pinned.update(
                    mapping_version_id=newest.id, version=newest.number, mapping_hash=newest.content_hash
                )
    if not changes:
        raise Conflict("every mapping is at its newest approved version: nothing to update", field="run")
    reason = "update: " + "; ".join(changes)
    return _new_run(
        session, settings, experiment, resolved, user_id=user_id, reason=reason, previous=previous
    )


def _stage_jobs(session: Session, run: ExperimentRun) -> list[Any]:
    return [job for _, job in repo.stage_jobs(session, run.id) if job is not None]


def cancel(session: Session, *, experiment_id: int, number: int) -> ExperimentRun:
    """Cancel a running (or failed) run and every stage job that has not ended."""
    run = get_run(session, experiment_id, number)
    allowed = [RunStatus.RUNNING.value, RunStatus.FAILED.value]
    if not repo.bump_run(
        session,
        run.id,
        version=run.version,
        statuses=allowed,
        status=RunStatus.CANCELLED.value,
        message="cancelled",
    ):
        raise Conflict(
            f"run {number} is {run.status}; only running or failed runs can be cancelled", field="status"
        )
    for job in _stage_jobs(session, run):
        if job.status not in TERMINAL_STATUSES:
            job_service.cancel_job(session, job.id)
    session.refresh(run)
    return run


def resume(session: Session, *, experiment_id: int, number: int, settings: Settings) -> ExperimentRun:
    """Resume a failed or cancelled run: retry its broken stages, keep the finished ones."""
    run = get_run(session, experiment_id, number)
    allowed = [RunStatus.FAILED.value, RunStatus.CANCELLED.value]
    if not repo.bump_run(
        session,
        run.id,
        version=run.version,
        statuses=allowed,
        status=RunStatus.RUNNING.value,
        message="resumed",
        finished_at=None,
    ):
        raise Conflict(
            f"run {number} is {run.status}; only failed or cancelled runs can be resumed", field="status"
        )
    for stage, job in repo.stage_jobs(session, run.id):
        if job is None:  # its job row was deleted: submit the stage again
            session.delete(stage)
        elif job.status in ("failed", "cancelled") and not stage.reused:
            job_service.retry_job(session, job.id)
        elif job.status in ("failed", "cancelled"):  # a reused job of an earlier run: run it afresh
            session.delete(stage)
    session.flush()
    advance(session, settings, run.id)
    session.refresh(run)
    return run


def list_experiments(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[Experiment], int]:
    return repo.page_experiments(session, limit=limit, offset=offset)
