"""Celery tasks (task adapter layer): thin adapters registered under the names in ``app.queue``.

Messages carry a job id only. Every leaf task runs through :func:`_run_leased`: claim the row's
lease (a duplicate delivery finds it taken and returns), heartbeat while running, call the ML
library with a :class:`JobProgressRecorder`, then write the final status under the same lease.
Sharding follows a chord's shape — parent -> group of shard tasks -> finalize — but the join is
counted in the database (:func:`repositories_registry.claim_finalize`) rather than in a result
backend, so a shard re-sent by the recovery sweep still completes the job, and the job row stays
the single source of truth.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Task, group
from sqlalchemy.exc import OperationalError

from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain.errors import DomainError
from app.queue import (
    TASK_EVALUATE,
    TASK_FINALIZE_PSEUDO_LABEL,
    TASK_PING,
    TASK_PSEUDO_LABEL,
    TASK_PSEUDO_LABEL_SHARD,
    TASK_SCAN_DATASET,
)
from app.services import datasets as dataset_service
from app.services.jobs import log
from worker import context
from worker.celery_app import celery_app
from worker.progress import JobCancelled, JobProgressRecorder, Lease, LeaseLost
from worker.runtime import JobInputs, load_inputs, load_teacher, source_names
from worker.sharding import merge_outputs, read_pairs, remove_temp_files, shard_bounds, shard_tag, write_pairs

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
    claimed = _claim(job_id)
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
            if not isinstance(exc, DomainError):
                raise
            return
        else:
            if result.pop("_planned", False):
                return  # a planned parent stays running; its shards hold the leases now
            status = "cancelled" if result.pop("_stopped", False) else "succeeded"
            _finish(job_id, attempt, status, status, result_json=json.dumps(result))
    _maybe_finalize_parent(job_id)


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


def _maybe_finalize_parent(job_id: int) -> None:
    """When the last shard of a parent ends, send the finalize step (exactly once)."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.parent_id is None:
            return
        parent = repo.get_job(s, job.parent_id)
        if parent is None or not repo.claim_finalize(s, parent.id):
            return
        queue = parent.queue
    celery_app.send_task(TASK_FINALIZE_PSEUDO_LABEL, kwargs={"job_id": job.parent_id}, queue=queue)


# --- pseudo-labeling: plan -> shards -> finalize --------------------------------------------------


@celery_app.task(name=TASK_PSEUDO_LABEL, **TASK_OPTIONS)
def pseudo_label(self: Task, job_id: int) -> None:
    """Plan the shards of a pseudo-label job (once) and dispatch those still to do as a group."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return
        planned = job.shard_count > 0
    if not planned:
        _run_leased(self, job_id, _plan_shards)
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.shard_count == 0 or job.status in ("failed", "cancelled"):
            return
        repo.finish_job(s, job_id, None, status="running", started_at=job.started_at or utcnow())
        todo = [sh.id for sh in repo.list_shards(s, job_id) if sh.status == "queued"]
        queue = job.queue
    group(
        celery_app.signature(TASK_PSEUDO_LABEL_SHARD, kwargs={"job_id": i}, queue=queue) for i in todo
    ).apply_async()
    if not todo:
        with unit_of_work(context.session_factory()) as s:
            claimed = repo.claim_finalize(s, job_id)
        if claimed:
            celery_app.send_task(TASK_FINALIZE_PSEUDO_LABEL, kwargs={"job_id": job_id}, queue=queue)


def _plan_shards(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    out_dir = Path(str(job.output_dir))
    with unit_of_work(context.session_factory()) as s:
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        pairs = list(dataset_service.pair_dataset(dataset, split=params.get("split")).pairs)
        if params.get("max_images"):
            pairs = pairs[: int(params["max_images"])]
        out_dir.mkdir(parents=True, exist_ok=True)
        write_pairs(out_dir, pairs)
        bounds = shard_bounds(len(pairs), int(params.get("shard_size", 50)))
        for index, (start, end) in enumerate(bounds):
            s.add(
                Job(
                    kind=job.kind,
                    status="queued",
                    name=f"{job.name} shard {index}",
                    parent_id=job.id,
                    shard_index=index,
                    queue=job.queue,
                    progress_total=end - start,
                    params_json=json.dumps({"start": start, "end": end}),
                    dataset_id=job.dataset_id,
                    model_id=job.model_id,
                    mapping_version_id=job.mapping_version_id,
                    mapping_hash=job.mapping_hash,
                    output_dir=job.output_dir,
                )
            )
        # shard_count > 0 hands the lease over to the shards (the parent is no longer swept).
        repo.finish_job(
            s,
            job.id,
            recorder.attempt,
            shard_count=max(1, len(bounds)) if bounds else 0,
            progress_total=len(pairs),
            message=f"{len(pairs)} images in {len(bounds)} shard(s)",
        )
        log(
            s,
            job.id,
            f"planned {len(pairs)} images in {len(bounds)} shard(s) of <= {params.get('shard_size', 50)}",
        )
    if not bounds:
        return {"images": 0, "note": "the dataset has no pairs to label"}
    return {"_planned": True}


def _parent_inputs(job: Job) -> tuple[JobInputs, dict[str, Any]]:
    with unit_of_work(context.session_factory()) as s:
        parent = repo.get_job(s, int(job.parent_id or 0))
        if parent is None:
            raise DomainError(f"shard {job.id} lost its parent job")
        params = json.loads(parent.params_json)
        inputs = load_inputs(
            s,
            params,
            mapping_version_id=job.mapping_version_id,
            mapping_hash=job.mapping_hash,
            model_id=job.model_id,
            dataset_id=job.dataset_id,
        )
    return inputs, json.loads(job.params_json)


@celery_app.task(name=TASK_PSEUDO_LABEL_SHARD, **TASK_OPTIONS)
def pseudo_label_shard(self: Task, job_id: int) -> None:
    """Pseudo-label one slice of the job's pairs; resumes from the files already written."""
    _run_leased(self, job_id, _run_shard)


def _run_shard(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    from worker.ml.config import DataConfig, PseudoLabelConfig
    from worker.ml.pseudo_label import run_pseudo_labeling
    from worker.runtime import inference_config
    from worker.sharding import repair_shard

    inputs, bounds = _parent_inputs(job)
    teacher = load_teacher(inputs)
    out_dir = Path(str(job.output_dir))
    pairs = read_pairs(out_dir, int(bounds["start"]), int(bounds["end"]))
    tag = shard_tag(int(job.shard_index or 0))
    use_priors = bool(inputs.params.get("use_priors", True))
    repaired = repair_shard(out_dir, pairs, tag, use_labels=use_priors)
    if repaired:
        with unit_of_work(context.session_factory()) as s:
            log(s, job.id, f"resume: redoing {repaired} output file(s) without a manifest record")
    config = PseudoLabelConfig(
        out_dir=out_dir,
        inference=inference_config(inputs),
        use_priors=use_priors,
        write_confidence=bool(inputs.params.get("write_confidence")),
        threshold=inputs.params.get("threshold"),
        shard=tag,
    )
    summary = run_pseudo_labeling(
        config,
        teacher,
        pairs,
        DataConfig(root=inputs.root, label_encoding=inputs.encoding),
        priors=inputs.priors,
        source=inputs.source,
        mapping_hash=inputs.mapping_hash,
        on_progress=recorder,
        should_stop=recorder.should_stop,
    )
    data = summary.to_json()
    result = {
        k: data[k]
        for k in (
            "total",
            "written",
            "skipped_existing",
            "failed",
            "void_fraction",
            "correction_rate",
            "seconds",
            "views",
        )
    }
    result["_stopped"] = summary.stopped
    return result


@celery_app.task(name=TASK_FINALIZE_PSEUDO_LABEL, **TASK_OPTIONS)
def finalize_pseudo_label(self: Task, job_id: int) -> None:
    """Merge the shards' manifests and summaries; end the parent job (idempotent)."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return
        shards = repo.list_shards(s, job_id)
        inputs = load_inputs(
            s,
            json.loads(job.params_json),
            mapping_version_id=job.mapping_version_id,
            mapping_hash=job.mapping_hash,
            model_id=job.model_id,
            dataset_id=job.dataset_id,
        )
        out_dir = Path(str(job.output_dir))
        remove_temp_files(out_dir)
        summary = merge_outputs(
            out_dir,
            shard_tags=[shard_tag(int(sh.shard_index or 0)) for sh in shards],
            source_names=source_names(inputs.source),
            unknown_row=inputs.priors.unknown_row,
        )
        failed = [sh for sh in shards if sh.status == "failed"]
        cancelled = job.cancel_requested or any(sh.status == "cancelled" for sh in shards)
        status = "failed" if failed else "cancelled" if cancelled else "succeeded"
        error = f"{len(failed)} of {len(shards)} shard(s) failed: {failed[0].error}" if failed else None
        message = error or f"{summary.get('images_ok', 0)}/{summary.get('images', 0)} images labelled"
        repo.roll_up_progress(s, job_id)
        repo.finish_job(
            s,
            job_id,
            None,
            status=status,
            message=message,
            error=error,
            finished_at=utcnow(),
            result_json=json.dumps({k: v for k, v in summary.items() if k != "histogram"}),
        )
        log(s, job_id, f"finished {status}: {message}", level="error" if failed else "info")


# --- evaluation and dataset scans -----------------------------------------------------------------


@celery_app.task(name=TASK_EVALUATE, **TASK_OPTIONS)
def evaluate(self: Task, job_id: int) -> None:
    """Evaluate a teacher on a dataset with its ground truth mapped to the target classes."""
    _run_leased(self, job_id, _run_evaluation)


def _run_evaluation(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    from worker.ml.config import DataConfig, EvaluateConfig
    from worker.ml.evaluate import evaluate_dataset
    from worker.runtime import inference_config

    with unit_of_work(context.session_factory()) as s:
        params = json.loads(job.params_json)
        inputs = load_inputs(
            s,
            params,
            mapping_version_id=job.mapping_version_id,
            mapping_hash=job.mapping_hash,
            model_id=job.model_id,
            dataset_id=job.dataset_id,
        )
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        pairs = list(dataset_service.pair_dataset(dataset, split=params.get("split")).pairs)
    if params.get("max_images"):
        pairs = pairs[: int(params["max_images"])]
    teacher = load_teacher(inputs)
    result = evaluate_dataset(
        EvaluateConfig(inference=inference_config(inputs)),
        teacher,
        pairs,
        DataConfig(root=inputs.root, label_encoding=inputs.encoding),
        priors=inputs.priors,
        source=inputs.source,
        mapping_hash=inputs.mapping_hash,
        on_progress=recorder,
        should_stop=recorder.should_stop,
    )
    return result.to_json()


@celery_app.task(name=TASK_SCAN_DATASET, **TASK_OPTIONS)
def scan_dataset(self: Task, job_id: int) -> None:
    """Scan a registered dataset's files on a worker (large folders) and store the report."""
    _run_leased(self, job_id, _run_scan)


def _run_scan(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    with unit_of_work(context.session_factory()) as s:
        report = dataset_service.scan_dataset(s, int(job.dataset_id or 0), max_pairs=params.get("max_pairs"))
    from app.domain.jobs import Progress

    recorder(Progress(report.checked, report.checked, f"scanned {report.checked} pairs"))
    return report.model_dump()
