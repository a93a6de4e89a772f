"""Job REST endpoints (web layer): submit, list/filter, read, cancel, retry, logs, artifacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import FileResponse

from app.db.session import commit_now
from app.domain.eta import parse_state
from app.schemas.common import Page
from app.schemas.jobs import JobList, JobLogLine, JobLogs, JobParams, JobRead, JobShardRead, JobSubmit
from app.schemas.pseudo_label_updates import LabelChangeRead, StaleReportRead
from app.schemas.training import TrainMetrics
from app.services import jobs as service
from app.services import pseudo_label_updates as update_service
from app.services import training as training_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, IdQuery, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/jobs", tags=["jobs"])

SUBMIT_EXAMPLES = {
    "pseudo_label": {
        "summary": "Pseudo-label a dataset with priors",
        "value": {
            "params": {
                "kind": "pseudo_label",
                "model_id": 1,
                "dataset_id": 1,
                "mapping_version_id": 3,
                "tta": False,
                "shard_size": 50,
                "output_name": "demo-run-1",
            }
        },
    },
    "evaluate": {
        "summary": "Evaluate a teacher",
        "value": {"params": {"kind": "evaluate", "model_id": 1, "dataset_id": 1, "mapping_version_id": 3}},
    },
    "scan_dataset": {
        "summary": "Scan a dataset on a worker",
        "value": {"params": {"kind": "scan_dataset", "dataset_id": 1}},
    },
    "train": {
        "summary": "Train a student on ground truth + pseudo-labels",
        "value": {
            "params": {
                "kind": "train",
                "train_sets": [
                    {"kind": "ground_truth", "dataset_id": 1, "mapping_version_id": 3, "split": "train"},
                    {"kind": "pseudo_labels", "job_id": 7, "weight": 1.0},
                ],
                "val_sets": [{"dataset_id": 1, "mapping_version_id": 3, "split": "val"}],
                "start_model_id": 1,
                "recipe": {"max_iterations": 2000, "crop_size": [512, 512]},
            }
        },
    },
}


def _read(
    session: SessionDep, job: Any, *, with_shards: bool = False, eta_state: str | None = None
) -> JobRead:
    previous = parse_state(eta_state) if eta_state else None
    payload = service.job_payload(session, job, with_shards=with_shards, eta_state=previous)
    payload["shards"] = [JobShardRead.model_validate(s) for s in payload["shards"]]
    return JobRead(**payload)


@router.post("", response_model=JobRead, status_code=201)
def submit_job(
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    body: Annotated[JobSubmit, Body(openapi_examples=SUBMIT_EXAMPLES)],
) -> JobRead:
    """Submit a job; everything is validated first and the task is queued after the commit."""
    params: JobParams = body.params
    job = service.submit_job(session, params=params, settings=settings, user_id=user.id)
    # Commit and publish before answering, so the answer says whether the broker took the message
    # (``waiting_for_broker``: it is in the outbox and starts when the broker is back).
    commit_now(session)
    return _read(session, job)


@router.get("", response_model=JobList)
def list_jobs(
    session: SessionDep,
    _user: ReadUser,
    page: PageDep,
    status: Annotated[str | None, Query(description="queued|running|succeeded|failed|cancelled")] = None,
    kind: Annotated[str | None, Query(description="pseudo_label|evaluate|scan_dataset|train")] = None,
    dataset_id: IdQuery = None,
    model_id: IdQuery = None,
) -> JobList:
    """List jobs (newest first; shards are shown inside their job)."""
    rows, total = service.list_jobs(
        session,
        limit=page.limit,
        offset=page.offset,
        status=status,
        kind=kind,
        dataset_id=dataset_id,
        model_id=model_id,
    )
    return JobList(items=[_read(session, r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{job_id}", response_model=JobRead)
def read_job(
    job_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    eta_state: Annotated[
        str | None,
        Query(
            description="the eta_state of your previous read of this job: smooths eta_seconds across reads"
        ),
    ] = None,
) -> JobRead:
    """Read a job: status, progress, ETA, shards, result, error."""
    return _read(session, service.get_job(session, job_id), with_shards=True, eta_state=eta_state)


@router.post("/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: IdPath, session: SessionDep, _user: EditorUser) -> JobRead:
    """Cancel a job (cooperative: a running one stops after its current batch)."""
    return _read(session, service.cancel_job(session, job_id), with_shards=True)


@router.post("/{job_id}/retry", response_model=JobRead)
def retry_job(job_id: IdPath, session: SessionDep, _user: EditorUser) -> JobRead:
    """Retry a failed or cancelled job; it resumes from the outputs that exist."""
    job = service.retry_job(session, job_id)
    commit_now(session)
    return _read(session, job, with_shards=True)


@router.get("/{job_id}/logs", response_model=JobLogs)
def read_job_logs(
    job_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    limit: Annotated[int, Query(ge=1, le=service.JOB_LOG_LINES)] = service.JOB_LOG_LINES,
) -> JobLogs:
    """The last log lines of a job and its shards."""
    lines = [JobLogLine.model_validate(r) for r in service.job_logs(session, job_id, limit=limit)]
    return JobLogs(job_id=job_id, lines=lines)


@router.get("/{job_id}/staleness", response_model=StaleReportRead)
def read_job_staleness(
    job_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    version_id: IdQuery = None,
) -> StaleReportRead:
    """How many images of a pseudo-label run a newer mapping version (``version_id``, default: the
    newest approved one) would re-label."""
    report = update_service.staleness(session, job_id, version_id)
    return StaleReportRead(
        **{f: getattr(report, f) for f in StaleReportRead.model_fields if f != "changes"},
        changes=[
            LabelChangeRead(name=c.name, value=c.value, old=list(c.old), new=list(c.new))
            for c in report.changes
        ],
    )


@router.get("/{job_id}/summary")
def read_job_summary(job_id: IdPath, session: SessionDep, _user: ReadUser) -> dict[str, Any]:
    """The result summary (pseudo-label: merged summary.json with per-source-label histograms)."""
    return service.read_summary(session, job_id)


@router.get("/{job_id}/manifest", response_model=Page[dict[str, Any]])
def read_job_manifest(
    job_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    page: PageDep,
    worst_first: Annotated[bool, Query(description="Sort by correction rate, highest first")] = False,
) -> Page[dict[str, Any]]:
    """A page of the merged manifest (one record per image)."""
    items, total = service.read_manifest(
        session, job_id, limit=page.limit, offset=page.offset, worst_first=worst_first
    )
    return Page[dict[str, Any]](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{job_id}/manifest.jsonl", response_class=FileResponse)
def download_job_manifest(job_id: IdPath, session: SessionDep, _user: ReadUser) -> FileResponse:
    """The whole merged manifest as JSON lines."""
    return FileResponse(
        service.manifest_path(session, job_id),
        media_type="application/x-ndjson",
        filename=f"job-{job_id}-manifest.jsonl",
    )


@router.get("/{job_id}/files/{path:path}", response_class=FileResponse)
def read_job_file(job_id: IdPath, path: str, session: SessionDep, _user: ReadUser) -> FileResponse:
    """One output file, e.g. ``labels/val/0001.png`` or ``confidence/...``."""
    return FileResponse(service.artifact_path(session, job_id, path))


@router.get("/{job_id}/metrics", response_model=TrainMetrics)
def read_job_metrics(job_id: IdPath, session: SessionDep, _user: ReadUser) -> TrainMetrics:
    """Training metrics of a ``train`` job: its ``metrics.jsonl`` records (train: loss, lr, grad norm;
    val: mIoU per set and pooled, pixel accuracy, loss, per-class IoU) and the best checkpoint's
    per-class IoU and confusion matrices. Readable while the job runs (404 for other kinds)."""
    return TrainMetrics(**training_service.read_metrics(session, job_id))
