"""Job use cases (services layer): submit, list, read, cancel, retry, logs, result artifacts.

``submit_job`` validates everything before anything is queued (the mapping version is approved or
an explicit override is recorded; the mapping's target taxonomy is the model's; the dataset's
taxonomy is the mapping's source; the output folder is new and writable: see
:mod:`app.services.job_inputs`), pins the mapping version by content hash, inserts the row and
registers the task *by name* to be sent after the commit. A refusal raises
:class:`InvalidInput`/:class:`NotFound`/:class:`Conflict` naming the field; several at once are
raised together as one :class:`InvalidInput` listing them all in ``details["errors"]``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_outbox as outbox_repo
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Job
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.eta import EtaState, observe, seconds_left
from app.domain.jobs import JobStatus, can_transition
from app.queue import (
    TASK_CONVERT_LABELS,
    TASK_EVALUATE,
    TASK_EXPORT,
    TASK_PSEUDO_LABEL,
    TASK_SCAN_DATASET,
    TASK_TRAIN,
    enqueue_after_commit,
)
from app.schemas.jobs import (
    ConvertLabelsParams,
    EvaluateParams,
    ExportParams,
    PseudoLabelParams,
    ScanDatasetParams,
    SurveyParams,
    TrainParams,
)
from app.services import datasets as dataset_service
from app.services import exports as export_service
from app.services import label_conversions as label_conversion_service
from app.services import pseudo_label_updates as update_service
from app.services import training as training_service
from app.services.job_inputs import (
    CheckedInputs,
    JobInputs,
    check_inputs,
    check_output_name,
    raise_problems,
)
from app.services.job_inputs import (
    check_compatible as check_compatible,  # the CLI checks its database ids through this module
)
from app.services.surveys import check_survey

JOB_LOG_LINES = 200
TASK_OF_KIND = {
    "pseudo_label": TASK_PSEUDO_LABEL,
    "evaluate": TASK_EVALUATE,
    "scan_dataset": TASK_SCAN_DATASET,
    "train": TASK_TRAIN,
    "survey": TASK_PSEUDO_LABEL,  # the same plan -> shards -> finalize tasks (worker.survey_job)
    "export": TASK_EXPORT,
    "convert_labels": TASK_CONVERT_LABELS,
}
AnyParams = (
    PseudoLabelParams
    | EvaluateParams
    | ScanDatasetParams
    | TrainParams
    | SurveyParams
    | ExportParams
    | ConvertLabelsParams
)
OutputParams = PseudoLabelParams | TrainParams | SurveyParams | ExportParams


def _check(session: Session, params: PseudoLabelParams | EvaluateParams, settings: Settings) -> CheckedInputs:
    """Every problem of a pseudo-label or evaluation submission, found at once (raised together)."""
    output_name = params.output_name if isinstance(params, PseudoLabelParams) else None
    inputs = JobInputs(
        model_id=params.model_id,
        dataset_id=params.dataset_id,
        mapping_version_id=params.mapping_version_id,
        split=params.split,
        allow_unapproved=params.allow_unapproved,
        override_reason=params.override_reason,
        output_name=output_name,
    )
    checked = check_inputs(session, inputs, settings=settings)
    raise_problems(checked.problems)
    return checked


def _output_dir(session: Session, params: OutputParams, settings: Settings, job_id: int) -> Path:
    out = settings.data_dir / "outputs" / (params.output_name or f"job-{job_id}")
    problem = check_output_name(session, settings, out.name)
    if problem is not None:
        raise problem
    return out


def _validate(session: Session, params: AnyParams, settings: Settings) -> dict[str, Any]:
    """Column values for the new row; raises on any refusal before a row exists."""
    if isinstance(params, ScanDatasetParams):
        dataset = dataset_service.get_dataset(session, params.dataset_id)
        return {"dataset_id": dataset.id}
    if isinstance(params, TrainParams):
        return training_service.check_train(session, params)
    if isinstance(params, SurveyParams):
        return check_survey(session, params)
    if isinstance(params, ExportParams):
        return export_service.check_export(session, params)
    if isinstance(params, ConvertLabelsParams):
        return label_conversion_service.check_conversion(session, params)
    checked = _check(session, params, settings)
    assert checked.model and checked.dataset and checked.version  # found, or a problem was raised
    if isinstance(params, PseudoLabelParams) and params.update_from_job_id is not None:
        update_service.check_update(session, params)
    return {
        "dataset_id": checked.dataset.id,
        "model_id": checked.model.id,
        "mapping_version_id": checked.version.id,
        "mapping_hash": checked.version.content_hash,
        "approval_override": checked.override,
    }


def submit_job(session: Session, *, params: AnyParams, settings: Settings, user_id: int | None = None) -> Job:
    """Validate, insert the job row (queued) and send its task after the commit."""
    columns = _validate(session, params, settings)
    job = Job(
        kind=params.kind,
        status=JobStatus.QUEUED.value,
        name=params.name or params.kind,
        queue=params.queue,
        params_json=params.model_dump_json(),
        created_by_id=user_id,
        **columns,
    )
    session.add(job)
    session.flush()
    if isinstance(params, OutputParams):
        job.output_dir = str(_output_dir(session, params, settings, job.id))
    if columns.get("approval_override"):
        log(
            session,
            job.id,
            f"unapproved mapping version used; override: {columns['approval_override']}",
            level="warning",
        )
    log(session, job.id, f"submitted {params.kind} (mapping hash {columns.get('mapping_hash') or '-'})")
    session.flush()
    enqueue_after_commit(session, TASK_OF_KIND[params.kind], queue=params.queue, job_id=job.id)
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    return job


def list_jobs(
    session: Session,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    kind: str | None = None,
    dataset_id: int | None = None,
    model_id: int | None = None,
) -> tuple[list[Job], int]:
    return repo.page_jobs(
        session,
        limit=limit,
        offset=offset,
        status=status,
        kind=kind,
        dataset_id=dataset_id,
        model_id=model_id,
    )


def list_shards(session: Session, job_id: int) -> list[Job]:
    return repo.list_shards(session, job_id)


def log(session: Session, job_id: int, message: str, *, level: str = "info") -> None:
    repo.add_log(session, job_id, message, level=level, keep=JOB_LOG_LINES)


def job_logs(session: Session, job_id: int, *, limit: int = JOB_LOG_LINES) -> list[Any]:
    """The last ``limit`` log lines of a job and its shards, oldest first."""
    job = get_job(session, job_id)
    ids = [job.id, *(s.id for s in repo.list_shards(session, job.id))]
    return repo.list_logs(session, ids, limit=limit)


def cancel_job(session: Session, job_id: int) -> Job:
    """Flag a job (and its shards) for cancellation; a queued one is cancelled at once."""
    job = get_job(session, job_id)
    if JobStatus(job.status).is_terminal:
        raise Conflict(f"job {job_id} is already {job.status}", field="status")
    now = utcnow()
    for row in [job, *repo.list_shards(session, job.id)]:
        if JobStatus(row.status).is_terminal:
            continue
        row.cancel_requested = True
        if row.status == JobStatus.QUEUED.value and (row.parent_id is not None or row.shard_count == 0):
            row.status, row.finished_at, row.message = (
                JobStatus.CANCELLED.value,
                now,
                "cancelled before it started",
            )
    if job.status == JobStatus.QUEUED.value:
        job.status, job.finished_at = JobStatus.CANCELLED.value, now
    log(session, job.id, "cancel requested")
    session.flush()
    return job


def retry_job(session: Session, job_id: int) -> Job:
    """Re-queue a failed or cancelled job; it resumes from the outputs that exist."""
    job = get_job(session, job_id)
    if job.status == JobStatus.QUEUED.value and (waiting := outbox_repo.broker_wait(session, job.id)):
        # Its message is committed in the outbox: a relay sends it when the broker is back.
        raise Conflict(
            f"job {job_id} is queued and waiting for the broker ({waiting}); it starts by itself "
            "once the broker is reachable, no retry needed",
            field="status",
        )
    if not can_transition(JobStatus(job.status), JobStatus.QUEUED) or job.status == JobStatus.RUNNING.value:
        raise Conflict(
            f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried", field="status"
        )
    now = utcnow()
    for row in [job, *repo.list_shards(session, job.id)]:
        if row.status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value) or row is job:
            row.status, row.cancel_requested, row.queued_at = JobStatus.QUEUED.value, False, now
            row.finished_at, row.error, row.traceback = None, None, None
    job.finalize_claimed = False
    log(session, job.id, "retry requested: resuming from existing outputs")
    session.flush()
    enqueue_after_commit(session, TASK_OF_KIND[job.kind], queue=job.queue, job_id=job.id)
    return job


def estimate_eta(job: Job, previous: EtaState | None, *, now: datetime) -> EtaState | None:
    """The ETA estimator's state after looking at ``job`` at ``now`` (None unless it is running).

    ``previous`` is the state of the last look (the job page's poll carries it); without one the
    rate is the one over all items finished since the job started (see :mod:`app.domain.eta`).
    """
    if job.status != JobStatus.RUNNING.value or job.progress_total <= 0:
        return None
    elapsed = (now - job.started_at).total_seconds() if job.started_at else None
    return observe(previous, done=job.progress_current, now=now.timestamp(), elapsed_s=elapsed)


def job_payload(
    session: Session, job: Job, *, with_shards: bool = False, eta_state: EtaState | None = None
) -> dict[str, Any]:
    """The fields of ``JobRead`` (JSON decoded, fraction and ETA computed). The ETA is smoothed from
    ``eta_state``, the estimator state of the caller's previous look (the page's poll or an API
    client's ``eta_state``); without one it comes from the rate over all items finished so far.

    A job whose message (or a shard's) could not be published yet says so: ``waiting_for_broker``
    and the message "waiting for the broker (<error>)".
    """
    fraction = min(1.0, job.progress_current / job.progress_total) if job.progress_total else 0.0
    now = utcnow()
    state = estimate_eta(job, eta_state, now=now)
    eta = None if state is None else seconds_left(state, total=job.progress_total, now=now.timestamp())
    payload = {
        c: getattr(job, c)
        for c in (
            "id",
            "kind",
            "status",
            "name",
            "parent_id",
            "shard_index",
            "shard_count",
            "queue",
            "progress_current",
            "progress_total",
            "message",
            "dataset_id",
            "model_id",
            "mapping_version_id",
            "mapping_hash",
            "approval_override",
            "output_dir",
            "error",
            "traceback",
            "cancel_requested",
            "attempt",
            "worker_host",
            "device",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        )
    }
    payload |= {
        "progress_fraction": fraction,
        "eta_seconds": eta,
        "eta_state": None if state is None else state.encode(),
        "params": json.loads(job.params_json or "{}"),
        "result": json.loads(job.result_json) if job.result_json else None,
        "shards": [s for s in repo.list_shards(session, job.id)] if with_shards else [],
        "waiting_for_broker": False,
    }
    if job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
        waiting = outbox_repo.broker_wait(session, job.id)
        if waiting is not None:
            payload |= {"waiting_for_broker": True, "message": f"waiting for the broker ({waiting})"}
    return payload


# --- artifacts ------------------------------------------------------------------------------------


def _output_root(job: Job) -> Path:
    if not job.output_dir:
        raise NotFound(f"job {job.id} has no output folder", field="job_id")
    return Path(job.output_dir)


def read_summary(session: Session, job_id: int) -> dict[str, Any]:
    """The merged ``summary.json`` of a finished pseudo-label job (or the job's result)."""
    job = get_job(session, job_id)
    if job.kind != "pseudo_label":
        if job.result_json is None:
            raise NotFound(f"job {job_id} has no result yet", field="job_id")
        return dict(json.loads(job.result_json))
    path = _output_root(job) / "summary.json"
    if not path.is_file():
        raise NotFound(f"job {job_id} has no summary yet (status {job.status})", field="job_id")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def manifest_path(session: Session, job_id: int) -> Path:
    """The merged ``manifest.jsonl`` (one JSON record per image) of a finished job."""
    path = _output_root(get_job(session, job_id)) / "manifest.jsonl"
    if not path.is_file():
        raise NotFound(f"job {job_id} has no manifest yet", field="job_id")
    return path


def read_manifest(
    session: Session, job_id: int, *, limit: int = 100, offset: int = 0, worst_first: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """A page of manifest records (optionally worst first: failed images, then images not labelled,
    then the rest by correction rate, highest first; ties keep the dataset order)."""
    lines = manifest_path(session, job_id).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    if worst_first:
        records.sort(key=_worst_first_key)
    return records[offset : offset + limit], len(records)


def _worst_first_key(record: dict[str, Any]) -> tuple[int, float]:
    status = record.get("status", "ok")
    rank = 0 if status == "error" else 2 if status == "ok" else 1
    return rank, -float(record.get("correction_rate", 0.0))


def artifact_path(session: Session, job_id: int, relpath: str) -> Path:
    """A file under the job's output folder (``labels/...``, ``confidence/...``); no escapes."""
    root = _output_root(get_job(session, job_id)).resolve()
    if relpath.startswith("/") or ".." in Path(relpath).parts:
        raise InvalidInput(f"{relpath!r} must be a relative path inside the job output", field="path")
    path = (root / relpath).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"job {job_id} has no file {relpath!r}", field="path")
    return path
