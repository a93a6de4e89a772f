"""Experiment queries (DB layer): rows, runs, stages, and the run's compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.models_experiments import Experiment, ExperimentRun, ExperimentStage
from app.db.models_registry import Job


def get_experiment(session: Session, experiment_id: int) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def get_experiment_by_name(session: Session, name: str) -> Experiment | None:
    return session.scalar(select(Experiment).where(Experiment.name == name))


def page_experiments(session: Session, *, limit: int, offset: int) -> tuple[list[Experiment], int]:
    total = int(session.scalar(select(func.count()).select_from(Experiment)) or 0)
    rows = session.scalars(select(Experiment).order_by(Experiment.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def list_runs(session: Session, experiment_id: int) -> list[ExperimentRun]:
    stmt = select(ExperimentRun).where(ExperimentRun.experiment_id == experiment_id)
    return list(session.scalars(stmt.order_by(ExperimentRun.number)))


def get_run(session: Session, run_id: int) -> ExperimentRun | None:
    return session.get(ExperimentRun, run_id)


def get_run_by_number(session: Session, experiment_id: int, number: int) -> ExperimentRun | None:
    stmt = select(ExperimentRun).where(
        ExperimentRun.experiment_id == experiment_id, ExperimentRun.number == number
    )
    return session.scalar(stmt)


def next_run_number(session: Session, experiment_id: int) -> int:
    stmt = select(func.max(ExperimentRun.number)).where(ExperimentRun.experiment_id == experiment_id)
    return int(session.scalar(stmt) or 0) + 1


def list_stages(session: Session, run_id: int) -> list[ExperimentStage]:
    stmt = select(ExperimentStage).where(ExperimentStage.run_id == run_id).order_by(ExperimentStage.id)
    return list(session.scalars(stmt))


def stage_jobs(session: Session, run_id: int) -> list[tuple[ExperimentStage, Job | None]]:
    """Each stage of a run with its job (None when the job row was deleted)."""
    stmt = (
        select(ExperimentStage, Job)
        .join(Job, Job.id == ExperimentStage.job_id, isouter=True)
        .where(ExperimentStage.run_id == run_id)
        .order_by(ExperimentStage.id)
    )
    return [(stage, job) for stage, job in session.execute(stmt).all()]


def runs_of_job(session: Session, job_id: int) -> list[int]:
    """Ids of the runs with a stage on ``job_id`` (or on its parent, for a shard)."""
    stmt = select(ExperimentStage.run_id).where(ExperimentStage.job_id == job_id).distinct()
    return [int(r) for r in session.scalars(stmt)]


def active_run_ids(session: Session) -> list[int]:
    stmt = select(ExperimentRun.id).where(ExperimentRun.status == "running").order_by(ExperimentRun.id)
    return [int(r) for r in session.scalars(stmt)]


def bump_run(
    session: Session, run_id: int, *, version: int, statuses: Sequence[str] | None = None, **values: Any
) -> bool:
    """Compare-and-set: write ``values`` and ``version + 1`` if the run is still at ``version``
    (and, when given, in one of ``statuses``). False: someone else changed it first."""
    stmt = update(ExperimentRun).where(ExperimentRun.id == run_id, ExperimentRun.version == version)
    if statuses is not None:
        stmt = stmt.where(ExperimentRun.status.in_(list(statuses)))
    result = session.execute(
        stmt.values(version=version + 1, **values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
