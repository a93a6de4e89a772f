"""Queries of the registry and the job system (DB layer): the only place that builds their select()s.

The lease functions (:func:`claim_job`, :func:`touch_job`, :func:`finish_job`) are single
conditional UPDATEs, so two workers that received the same job (a redelivery after a crash, or
a re-queue by the recovery sweep) can never both own it: the loser's UPDATE matches no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.db.base import utcnow
from app.db.models_registry import Dataset, Job, JobLog, Model

TERMINAL = ("succeeded", "failed", "cancelled")


def _page(session: Session, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.limit(limit).offset(offset)))
    return rows, int(total)


# --- datasets -------------------------------------------------------------------------------------


def get_dataset(session: Session, dataset_id: int) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def get_dataset_by_name(session: Session, name: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name))


def page_datasets(session: Session, *, limit: int, offset: int) -> tuple[list[Dataset], int]:
    return _page(session, select(Dataset).order_by(Dataset.name), limit=limit, offset=offset)


# --- models ---------------------------------------------------------------------------------------


def get_model(session: Session, model_id: int) -> Model | None:
    return session.get(Model, model_id)


def get_model_by_name(session: Session, name: str) -> Model | None:
    return session.scalar(select(Model).where(Model.name == name))


def page_models(session: Session, *, limit: int, offset: int) -> tuple[list[Model], int]:
    return _page(session, select(Model).order_by(Model.name), limit=limit, offset=offset)


def update_model_trust(
    session: Session,
    model_id: int,
    *,
    expected_sha256: str,
    expected_status: str | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set on a model's pickle trust: write ``values`` only while the recorded trust is
    still ``expected_sha256`` (and the conversion is in ``expected_status``, when given)."""
    stmt = update(Model).where(Model.id == model_id, Model.trusted_sha256 == expected_sha256)
    if expected_status is not None:
        stmt = stmt.where(Model.conversion_status == expected_status)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# --- jobs -----------------------------------------------------------------------------------------


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def page_jobs(
    session: Session,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    kind: str | None = None,
    dataset_id: int | None = None,
    model_id: int | None = None,
) -> tuple[list[Job], int]:
    """Top-level jobs (shards excluded), newest first, optionally filtered."""
    stmt = select(Job).where(Job.parent_id.is_(None))
    if status:
        stmt = stmt.where(Job.status == status)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if dataset_id is not None:
        stmt = stmt.where(Job.dataset_id == dataset_id)
    if model_id is not None:
        stmt = stmt.where(Job.model_id == model_id)
    return _page(session, stmt.order_by(Job.id.desc()), limit=limit, offset=offset)


def list_shards(session: Session, parent_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.parent_id == parent_id).order_by(Job.shard_index)))


def job_exists_with_output(session: Session, output_dir: str) -> bool:
    return session.scalar(select(Job.id).where(Job.output_dir == output_dir).limit(1)) is not None


def claim_job(
    session: Session, job_id: int, *, worker_host: str, device: str, stale_before: datetime
) -> int | None:
    """Take the lease of a queued job (or of a running one whose heartbeat is older than
    ``stale_before``). Returns the new ``attempt`` number, or None when someone else owns it."""
    now = utcnow()
    claimable = or_(
        Job.status == "queued",
        and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)),
    )
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, claimable, Job.cancel_requested.is_(False))
        .values(
            status="running",
            attempt=Job.attempt + 1,
            worker_host=worker_host,
            device=device,
            heartbeat_at=now,
            started_at=func.coalesce(Job.started_at, now),
            error=None,
            traceback=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(Job.attempt).where(Job.id == job_id))


def touch_job(session: Session, job_id: int, attempt: int) -> bool:
    """Refresh the heartbeat of the lease ``attempt``; False when the lease was lost."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempt == attempt, Job.status == "running")
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def record_progress(
    session: Session, job_id: int, attempt: int, *, current: int, total: int, message: str
) -> None:
    """Progress of the lease ``attempt``; ``progress_current`` never goes backwards."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempt == attempt)
        .values(
            progress_current=func.max(Job.progress_current, current)
            if session.bind is not None and session.bind.dialect.name == "sqlite"
            else func.greatest(Job.progress_current, current),
            progress_total=total,
            message=message,
            heartbeat_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def roll_up_progress(session: Session, parent_id: int) -> None:
    """Set a parent's progress to the sum of its shards' (each shard's never decreases)."""
    total = select(func.coalesce(func.sum(Job.progress_current), 0)).where(Job.parent_id == parent_id)
    session.execute(
        update(Job)
        .where(Job.id == parent_id)
        .values(progress_current=total.scalar_subquery())
        .execution_options(synchronize_session=False)
    )


def finish_job(session: Session, job_id: int, attempt: int | None, **values: Any) -> bool:
    """Write a final (or re-queued) state if the lease ``attempt`` still holds (None: any)."""
    stmt = update(Job).where(Job.id == job_id)
    if attempt is not None:
        stmt = stmt.where(Job.attempt == attempt)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def is_cancel_requested(session: Session, job_ids: Sequence[int]) -> bool:
    return bool(
        session.scalar(select(func.count()).where(Job.id.in_(job_ids), Job.cancel_requested.is_(True)))
    )


def claim_finalize(session: Session, parent_id: int) -> bool:
    """True exactly once, when every shard of ``parent_id`` is terminal (the chord's counter)."""
    pending = select(Job.id).where(Job.parent_id == parent_id, Job.status.not_in(TERMINAL))
    result = session.execute(
        update(Job)
        .where(Job.id == parent_id, Job.finalize_claimed.is_(False), ~pending.exists())
        .values(finalize_claimed=True, heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def stale_running_jobs(
    session: Session, *, stale_before: datetime, worker_host: str | None = None
) -> list[Job]:
    """Running leaf jobs whose lease lapsed (or that ``worker_host`` held before it restarted)."""
    lapsed = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)
    if worker_host is not None:
        lapsed = or_(lapsed, Job.worker_host == worker_host)
    # A planned parent (shard_count > 0) holds no lease of its own: its shards do.
    stmt = select(Job).where(Job.status == "running", Job.shard_count == 0, lapsed)
    return list(session.scalars(stmt))


def running_parents(session: Session, *, worker_host: str) -> list[Job]:
    """Planned parents that ``worker_host`` claimed and that are still running."""
    stmt = select(Job).where(Job.status == "running", Job.shard_count > 0, Job.worker_host == worker_host)
    return list(session.scalars(stmt))


def stuck_parents(session: Session, *, stale_before: datetime) -> list[Job]:
    """Parents whose shards are all terminal but which did not finish (a lost finalize message)."""
    child = aliased(Job)
    pending = select(child.id).where(child.parent_id == Job.id, child.status.not_in(TERMINAL))
    stmt = select(Job).where(
        Job.status == "running",
        Job.shard_count > 0,
        Job.heartbeat_at < stale_before,
        ~pending.exists(),
    )
    return list(session.scalars(stmt))


# --- logs -----------------------------------------------------------------------------------------


def add_log(session: Session, job_id: int, message: str, *, level: str = "info", keep: int = 200) -> None:
    """Append a log line and drop lines beyond the newest ``keep`` of that job."""
    session.add(JobLog(job_id=job_id, message=message, level=level))
    session.flush()
    cutoff = session.scalar(
        select(JobLog.id).where(JobLog.job_id == job_id).order_by(JobLog.id.desc()).offset(keep).limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(JobLog)
            .where(JobLog.job_id == job_id, JobLog.id <= cutoff)
            .execution_options(synchronize_session=False)
        )


def list_logs(session: Session, job_ids: Sequence[int], *, limit: int) -> list[JobLog]:
    """The newest ``limit`` lines of ``job_ids``, oldest first."""
    stmt = select(JobLog).where(JobLog.job_id.in_(job_ids)).order_by(JobLog.id.desc()).limit(limit)
    return list(reversed(list(session.scalars(stmt))))
