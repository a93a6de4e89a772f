"""Celery tasks (task adapter layer): thin adapters registered under the names in ``app.queue``.

Messages carry a job id only. Every leaf task runs through :func:`_run_leased`: claim the row's
lease (a duplicate delivery finds it taken and returns), heartbeat while running, call the ML
library with a :class:`JobProgressRecorder`, then write the final status under the same lease.
Sharding follows a chord's shape — parent -> shard tasks -> finalize — but the join is
counted in the database (:func:`repositories_registry.claim_finalize`) rather than in a result
backend, so a shard re-sent by the recovery sweep still completes the job, and the job row stays
the single source of truth. Every message goes through the outbox (``enqueue_after_commit``), in
the commit of the state change that calls for it.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from app.config import get_settings
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain.errors import DomainError
from app.queue import (
    TASK_CONVERT_LABELS,
    TASK_CONVERT_MODEL,
    TASK_EVALUATE,
    TASK_EXPORT,
    TASK_FINALIZE_PSEUDO_LABEL,
    TASK_PING,
    TASK_PSEUDO_LABEL,
    TASK_PSEUDO_LABEL_SHARD,
    TASK_SCAN_DATASET,
    TASK_TRAIN,
    enqueue_after_commit,
)
from app.services import experiment_runs
from app.services.jobs import log
from worker import context, conversion_job, export_job, model_conversion, steps, survey_job, train_job
from worker.celery_app import celery_app
from worker.progress import JobCancelled, JobProgressRecorder, Lease, LeaseLost
from worker.sharding import SHARD_TASK_OF_KIND

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, ConnectionError, TimeoutError)
TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": 5,
}
Body = Callable[[Job, JobProgressRecorder], dict[str, Any]]


@celery_app.task(name=TASK_PING)
def ping() -> dict[str, str]:
    """Health check: which worker answered and on what device."""
    return {"status": "ok", "worker": context.worker_hostname(), "device": context.device_name()}


def _finish(job_id: int, attempt: int, status: str, message: str, **values: Any) -> None:
    with unit_of_work(context.session_factory()) as s:
        if repo.finish_job(
            s, job_id, attempt, status=status, message=message, finished_at=utcnow(), **values
        ):
            log(s, job_id, message, level="error" if status == "failed" else "info")


def _claim(job_id: int) -> tuple[Job, int] | None:
    timings = context.lease_timings()
    with unit_of_work(context.session_factory()) as s:
        attempt = repo.claim_job(
            s,
            job_id,
            worker_host=context.worker_hostname(),
            device=context.device_name(),
            stale_before=utcnow() - timedelta(seconds=timings.lease_s),
        )
        job = repo.get_job(s, job_id)
        if attempt is None or job is None:
            return None
        log(s, job_id, f"started on {context.worker_hostname()} ({context.device_name()}), attempt {attempt}")
        return job, attempt


def _run_leased(task: Task, job_id: int, body: Body) -> None:
    """Claim, heartbeat, run ``body``, record the outcome; transient errors retry with backoff."""
    try:
        claimed = _claim(job_id)
    except TRANSIENT as exc:  # e.g. "database is locked": nothing was claimed, try again later
        raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from exc
    if claimed is None:
        logger.info("job %s is not claimable (done, cancelled or owned by a live worker)", job_id)
        _maybe_finalize_parent(job_id)
        return
    job, attempt = claimed
    timings = context.lease_timings()
    factory = context.session_factory()
    with Lease(factory, job_id, attempt, timings.heartbeat_s) as lease:
        recorder = JobProgressRecorder(
            factory,
            job_id,
            attempt,
            parent_id=job.parent_id,
            interval_s=timings.progress_interval_s,
            lease=lease,
        )
        try:
            result = body(job, recorder)
        except JobCancelled:
            _finish(job_id, attempt, "cancelled", "cancelled")
        except LeaseLost:
            logger.warning("job %s: lease lost; another worker continues", job_id)
            return
        except TRANSIENT as exc:
            _release_for_retry(job_id, attempt, exc)
            raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from exc
        except Exception as exc:
            _finish(
                job_id,
                attempt,
                "failed",
                f"failed: {type(exc).__name__}: {exc}",
                error=_error_text(exc),
                traceback=traceback.format_exc()[-8000:],
            )
            _maybe_finalize_parent(job_id)
            _advance_experiments(job_id)
            if not isinstance(exc, DomainError):
                raise
            return
        else:
            if result.pop("_planned", False):
                return  # a planned parent stays running; its shards hold the leases now
            status = "cancelled" if result.pop("_stopped", False) else "succeeded"
            _finish(job_id, attempt, status, status, result_json=json.dumps(result))
    _maybe_finalize_parent(job_id)
    _advance_experiments(job_id)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        detail = f" {json.dumps(exc.details)}" if exc.details else ""
        return f"{type(exc).__name__}: {exc.message}{detail}"
    return f"{type(exc).__name__}: {exc}"


def _release_for_retry(job_id: int, attempt: int, exc: BaseException) -> None:
    try:
        with unit_of_work(context.session_factory()) as s:
            repo.finish_job(s, job_id, attempt, status="queued", message=f"transient error, retrying: {exc}")
    except Exception:
        logger.exception("could not release job %s for retry", job_id)


def _advance_experiments(job_id: int) -> None:
    """After a job ended: advance the experiment runs it is a stage of (issue 12).

    Never raises: a failure here (or a kill before it) is caught up by every worker's recovery
    sweep, which advances all running experiment runs.
    """
    try:
        with unit_of_work(context.session_factory()) as s:
            experiment_runs.advance_for_job(s, get_settings(), job_id)
    except Exception:
        logger.exception("could not advance the experiment runs of job %s; the recovery sweep will", job_id)


def _maybe_finalize_parent(job_id: int) -> None:
    """When the last shard of a parent ends, send the finalize step (exactly once)."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.parent_id is None:
            return
        parent = repo.get_job(s, job.parent_id)
        if parent is None or not repo.claim_finalize(s, parent.id):
            return
        # In the claim's commit (outbox): a kill after it cannot lose the finalize message.
        enqueue_after_commit(s, TASK_FINALIZE_PSEUDO_LABEL, queue=parent.queue, job_id=parent.id)


# --- pseudo-labeling: plan -> shards -> finalize --------------------------------------------------


@celery_app.task(name=TASK_PSEUDO_LABEL, **TASK_OPTIONS)
def pseudo_label(self: Task, job_id: int) -> None:
    """Plan the shards of a pseudo-label job (once); a repeated message re-sends the queued shards."""
    _plan_and_send(self, job_id)


def _plan_and_send(task: Task, job_id: int) -> None:
    """Plan a sharded job (once; the plan body by its kind); a repeated message re-sends the queued shards.

    The planner commits the shard rows with their messages (outbox), so a fresh plan sends nothing
    here. A message for a job planned before (a retry, a duplicate) re-queues the shards still
    queued; a duplicate shard message is a no-op, since a shard is claimed by compare-and-set.
    """
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return
        planned = job.shard_count > 0
    if not planned:
        _run_leased(task, job_id, _plan_body)
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.shard_count == 0 or job.status in ("succeeded", "failed", "cancelled"):
            return
        shards = [sh for sh in repo.list_shards(s, job_id) if sh.status == "queued"]
        if job.cancel_requested:  # cancelled while it was being planned: run nothing
            for shard in shards:
                shard.status, shard.finished_at, shard.message = "cancelled", utcnow(), "cancelled"
            shards = []
        elif planned:
            for shard in shards:
                enqueue_after_commit(s, SHARD_TASK_OF_KIND[job.kind], queue=job.queue, job_id=shard.id)
        repo.finish_job(
            s, job_id, None, status="running", started_at=job.started_at or utcnow(), heartbeat_at=utcnow()
        )
        if not shards and repo.claim_finalize(s, job_id):
            enqueue_after_commit(s, TASK_FINALIZE_PSEUDO_LABEL, queue=job.queue, job_id=job_id)


@celery_app.task(name=TASK_PSEUDO_LABEL_SHARD, **TASK_OPTIONS)
def pseudo_label_shard(self: Task, job_id: int) -> None:
    """Pseudo-label one slice of the job's pairs; resumes from the files already written."""
    _run_leased(self, job_id, _shard_body)


@celery_app.task(name=TASK_FINALIZE_PSEUDO_LABEL, **TASK_OPTIONS)
def finalize_pseudo_label(self: Task, job_id: int) -> None:
    """Merge the shards' manifests and summaries; end the parent job (idempotent)."""
    if not survey_job.finalize_survey(job_id) and not conversion_job.finalize_conversion(job_id):
        steps.finalize(job_id)
    _advance_experiments(job_id)


# Survey (worker.survey_job) and conversion (worker.conversion_job) jobs run through the same
# plan -> shards -> finalize tasks; the bodies are chosen by the job's kind.
PLAN_OF_KIND: dict[str, Body] = {
    "survey": survey_job.plan_survey,
    "convert_labels": conversion_job.plan_conversion,
}
SHARD_OF_KIND: dict[str, Body] = {
    "survey": survey_job.run_survey_shard,
    "convert_labels": conversion_job.run_conversion_shard,
}


def _plan_body(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    return PLAN_OF_KIND.get(job.kind, steps.plan_shards)(job, recorder)


def _shard_body(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    return SHARD_OF_KIND.get(job.kind, steps.run_shard)(job, recorder)


# --- evaluation and dataset scans -----------------------------------------------------------------


@celery_app.task(name=TASK_EVALUATE, **TASK_OPTIONS)
def evaluate(self: Task, job_id: int) -> None:
    """Evaluate a teacher on a dataset with its ground truth mapped to the target classes."""
    _run_leased(self, job_id, steps.run_evaluation)


@celery_app.task(name=TASK_SCAN_DATASET, **TASK_OPTIONS)
def scan_dataset(self: Task, job_id: int) -> None:
    """Scan a registered dataset's files on a worker (large folders) and store the report."""
    _run_leased(self, job_id, steps.run_scan)


# --- student training -----------------------------------------------------------------------------


@celery_app.task(name=TASK_TRAIN, **TASK_OPTIONS)
def train(self: Task, job_id: int) -> None:
    """Train a student on the job's weighted sets and register its best checkpoint (resumable)."""
    _run_leased(self, job_id, train_job.run_training)


# --- exports (issue 14) ---------------------------------------------------------------------------


@celery_app.task(name=TASK_EXPORT, **TASK_OPTIONS)
def export(self: Task, job_id: int) -> None:
    """Write a run's labels in a tool's layout as ``export.zip`` (one task, not sharded)."""
    _run_leased(self, job_id, export_job.run_export)


# --- native label formats (issue 14) --------------------------------------------------------------


@celery_app.task(name=TASK_CONVERT_LABELS, **TASK_OPTIONS)
def convert_labels(self: Task, job_id: int) -> None:
    """Convert a dataset's native labels once into label-id PNGs: planned into shards that run as
    ``TASK_PSEUDO_LABEL_SHARD`` and join in ``TASK_FINALIZE_PSEUDO_LABEL`` (worker.conversion_job)."""
    _plan_and_send(self, job_id)


# --- model trust ----------------------------------------------------------------------------------


@celery_app.task(name=TASK_CONVERT_MODEL, bind=True, acks_late=True, max_retries=5)
def convert_model(self: Task, model_id: int) -> str:
    """Convert an admin-trusted paper .pth into safetensors weights (the only unpickling of one)."""
    try:
        return model_conversion.convert_model(
            model_id, factory=context.session_factory(), data_dir=get_settings().data_dir
        )
    except TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
