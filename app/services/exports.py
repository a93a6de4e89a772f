"""Export use cases (services layer, issue 14): check an export submission, find its archive.

An export reads a *run*: a succeeded ``pseudo_label`` job or a ``label_import`` (corrected masks
imported back, :mod:`app.services.label_imports`); both have the same output layout (``labels/``,
``pairs.jsonl``, ``manifest.jsonl``, ``summary.json``). The archive itself is written by the
worker (``worker/export_job.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.models_registry import Job
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.schemas.jobs import ExportParams
from app.services import datasets as dataset_service
from app.services import job_inputs
from app.services import mappings as mapping_service

RUN_KINDS = ("pseudo_label", "label_import")
ARCHIVE = "export.zip"  # under the export job's output folder (worker/export_job.py)


def get_run(session: Session, job_id: int, *, field: str = "job_id") -> Job:
    """A succeeded run whose labels are on disk, or a 4xx naming ``field``."""
    run = repo.get_job(session, job_id)
    if run is None or run.parent_id is not None:
        raise NotFound(f"job {job_id} does not exist", field=field)
    if run.kind not in RUN_KINDS:
        raise InvalidInput(
            f"job {job_id} is a {run.kind} job; only pseudo-label runs (and imported corrections) "
            "have labels to export",
            field=field,
        )
    if run.status != "succeeded":
        raise InvalidInput(
            f"job {job_id} is {run.status}; only succeeded runs can be exported",
            field=field,
            details={"status": run.status},
        )
    if not run.output_dir or not (Path(run.output_dir) / "manifest.jsonl").is_file():
        raise InvalidInput(f"the outputs of job {job_id} are gone (no manifest.jsonl)", field=field)
    if run.model_id is None or run.dataset_id is None:
        raise InvalidInput(f"job {job_id} has no model or dataset recorded", field=field)
    return run


def check_ground_truth(session: Session, dataset_id: int, mapping_version_id: int) -> dict[str, Any]:
    """Column values of a ground-truth export: the dataset and an *approved* mapping version from
    its taxonomy (pinned by content hash); a 4xx naming the field otherwise."""
    dataset = dataset_service.get_dataset(session, dataset_id)
    version = mapping_service.get_version(session, mapping_version_id)
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    if version.status != "approved":
        raise InvalidInput(
            f"version {version.number} of mapping {mapping.name!r} is {version.status.replace('_', ' ')}; "
            "ground truth is exported only through an approved version",
            field="mapping_version_id",
            details={"status": version.status},
        )
    job_inputs.check_compatible(mapping, dataset=dataset)
    return {"dataset_id": dataset.id, "mapping_version_id": version.id, "mapping_hash": version.content_hash}


def check_export(session: Session, params: ExportParams) -> dict[str, Any]:
    """Column values of the export job row (the run's dataset, model and mapping pins)."""
    if params.job_id is None:
        assert params.dataset_id is not None and params.mapping_version_id is not None  # the schema's rule
        return check_ground_truth(session, params.dataset_id, params.mapping_version_id)
    run = get_run(session, params.job_id)
    return {
        "dataset_id": run.dataset_id,
        "model_id": run.model_id,
        "mapping_version_id": run.mapping_version_id,
        "mapping_hash": run.mapping_hash,
    }


def archive_path(session: Session, job_id: int) -> Path:
    """The finished archive of export job ``job_id``."""
    job = repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    if job.kind != "export":
        raise NotFound(f"job {job_id} is a {job.kind} job, not an export", field="job_id")
    path = Path(job.output_dir or "") / ARCHIVE
    if job.status != "succeeded" or not job.output_dir or not path.is_file():
        raise Conflict(f"export job {job_id} has no archive yet (status {job.status})", field="job_id")
    return path
