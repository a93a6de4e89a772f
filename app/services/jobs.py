"""Job use cases (services layer): submit, list, read, cancel, retry, logs, result artifacts.

``submit_job`` validates everything before anything is queued (the mapping version is approved or
an explicit override is recorded; the mapping's target taxonomy is the model's; the dataset's
taxonomy is the mapping's source; the output folder is new and writable), pins the mapping version
by content hash, inserts the row and registers the task *by name* to be sent after the commit.
Every refusal raises :class:`InvalidInput`/:class:`NotFound`/:class:`Conflict` naming the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_outbox as outbox_repo
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models import Mapping, MappingVersion
from app.db.models_registry import Dataset, Job, Model
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.jobs import JobStatus, can_transition
from app.queue import TASK_EVALUATE, TASK_PSEUDO_LABEL, TASK_SCAN_DATASET, TASK_TRAIN, enqueue_after_commit
from app.schemas.jobs import EvaluateParams, PseudoLabelParams, ScanDatasetParams, TrainParams
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import training as training_service

JOB_LOG_LINES = 200
TASK_OF_KIND = {
    "pseudo_label": TASK_PSEUDO_LABEL,
    "evaluate": TASK_EVALUATE,
    "scan_dataset": TASK_SCAN_DATASET,
    "train": TASK_TRAIN,
}
AnyParams = PseudoLabelParams | EvaluateParams | ScanDatasetParams | TrainParams


def check_compatible(mapping: Mapping, *, model: Model | None = None, dataset: Dataset | None = None) -> None:
    """Refuse a mapping whose target is not the model's taxonomy or whose source is not the dataset's.

    Shared by job submission and the CLI's database ids (``unilabel pseudo-label --model 3 ...``).
    """
    if model is not None and mapping.target_taxonomy_id != model.taxonomy_id:
        raise InvalidInput(
            f"mapping {mapping.name!r} targets taxonomy {mapping.target_taxonomy_id}, but model "
            f"{model.name!r} predicts taxonomy {model.taxonomy_id}",
            field="model_id",
            details={
                "mapping_target_taxonomy_id": mapping.target_taxonomy_id,
                "model_taxonomy_id": model.taxonomy_id,
            },
        )
    if dataset is not None and mapping.source_taxonomy_id != dataset.taxonomy_id:
        raise InvalidInput(
            f"dataset {dataset.name!r} is labelled in taxonomy {dataset.taxonomy_id}, but mapping "
            f"{mapping.name!r} maps from taxonomy {mapping.source_taxonomy_id}",
            field="dataset_id",
            details={
                "dataset_taxonomy_id": dataset.taxonomy_id,
                "mapping_source_taxonomy_id": mapping.source_taxonomy_id,
            },
        )


def _check_mapping(
    session: Session, params: PseudoLabelParams | EvaluateParams
) -> tuple[MappingVersion, str | None]:
    """The pinned version and the recorded override reason (None when approved)."""
    try:
        version = mapping_service.get_version(session, params.mapping_version_id)
    except NotFound as exc:
        raise NotFound(exc.message, field="mapping_version_id") from exc
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    check_compatible(
        mapping,
        model=model_service.get_model(session, params.model_id),
        dataset=dataset_service.get_dataset(session, params.dataset_id),
    )
    if version.status == "approved":
        return version, None
    if not params.allow_unapproved:
        raise InvalidInput(
            f"mapping version {version.number} of {mapping.name!r} is {version.status}, not approved; "
            "approve it or pass allow_unapproved with an override_reason",
            field="mapping_version_id",
            details={"status": version.status},
        )
    reason = (params.override_reason or "").strip()
    if not reason:
        raise InvalidInput(
            "allow_unapproved needs an override_reason (it is recorded)", field="override_reason"
        )
    return version, reason


def _output_dir(
    session: Session, params: PseudoLabelParams | TrainParams, settings: Settings, job_id: int
) -> Path:
    out = settings.data_dir / "outputs" / (params.output_name or f"job-{job_id}")
    if out.exists() and any(out.iterdir()) or repo.job_exists_with_output(session, str(out)):
        raise Conflict(f"output {out.name!r} already exists; choose another output_name", field="output_name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {out.parent}: {exc}", field="output_name") from exc
    if not os.access(out.parent, os.W_OK):
        raise InvalidInput(f"output folder {out.parent} is not writable", field="output_name")
    return out


def _validate(session: Session, params: AnyParams, settings: Settings) -> dict[str, Any]:
    """Column values for the new row; raises on any refusal before a row exists."""
    if isinstance(params, ScanDatasetParams):
        dataset = dataset_service.get_dataset(session, params.dataset_id)
        return {"dataset_id": dataset.id}
    if isinstance(params, TrainParams):
        return training_service.check_train(session, params)
    version, override = _check_mapping(session, params)
    model = model_service.get_model(session, params.model_id)
    model_service.usable_spec(session, model, field="model_id")  # files there; a pickle needs trust
    dataset = dataset_service.get_dataset(session, params.dataset_id)
    if params.split is not None and params.split not in json.loads(dataset.splits_json or "[]"):
        raise InvalidInput(f"dataset {dataset.name!r} has no split {params.split!r}", field="split")
    return {
        "dataset_id": dataset.id,
        "model_id": model.id,
        "mapping_version_id": version.id,
        "mapping_hash": version.content_hash,
        "approval_override": override,
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
    if isinstance(params, PseudoLabelParams | TrainParams):
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


def job_payload(session: Session, job: Job, *, with_shards: bool = False) -> dict[str, Any]:
    """The fields of ``JobRead`` (JSON decoded, fraction and ETA computed).

    A job whose message (or a shard's) could not be published yet says so: ``waiting_for_broker``
    and the message "waiting for the broker (<error>)".
    """
    fraction = min(1.0, job.progress_current / job.progress_total) if job.progress_total else 0.0
    eta = None
    if job.status == "running" and job.started_at and 0 < fraction < 1:
        elapsed = (utcnow() - job.started_at).total_seconds()
        eta = elapsed * (1 - fraction) / fraction
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
