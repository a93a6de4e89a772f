"""Job pages (web layer): list with filters, detail, the self-polling status fragment, cancel, retry,
and the *Update* of a stale pseudo-label run to a newer mapping version.

``GET /jobs/{id}/status`` renders ``jobs/_status.html``: while the job is queued or running its root
element carries ``hx-get`` (itself), ``hx-trigger="every 2s"`` and ``hx-swap="outerHTML"``; once
terminal it renders without them and the polling stops. The same answer refreshes the header's
times, the log tail, the shards table and the result panel out of band, so one request every two
seconds keeps the page live and the header and the status card always show the same times. The
polling element also carries the ETA estimator's state (``hx-vals``), so the ETA is smoothed across
polls (:mod:`app.domain.eta`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models_registry import Job
from app.domain.errors import DomainError, InvalidInput, NotFound
from app.domain.eta import decode_state
from app.domain.jobs import JobStatus
from app.domain.text import INT32_MAX
from app.schemas.jobs import PseudoLabelParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import pseudo_label_updates as update_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_edit
from app.web.pages._render import Fragments, Toast, flash, fragment, is_htmx, page, toast_response

router = APIRouter(include_in_schema=False)

STATUSES = ("", "queued", "running", "succeeded", "failed", "cancelled")
KINDS = ("", "pseudo_label", "evaluate", "scan_dataset", "train", "export", "label_import", "survey")
LOG_TAIL = 60


def _names(session: Session, jobs: list[Job]) -> dict[str, dict[int, str]]:
    """Dataset and model names for the rows (one lookup per distinct id)."""
    out: dict[str, dict[int, str]] = {"datasets": {}, "models": {}}
    for j in jobs:
        if j.dataset_id is not None and j.dataset_id not in out["datasets"]:
            try:
                out["datasets"][j.dataset_id] = dataset_service.get_dataset(session, j.dataset_id).name
            except NotFound:
                out["datasets"][j.dataset_id] = f"#{j.dataset_id}"
        if j.model_id is not None and j.model_id not in out["models"]:
            try:
                out["models"][j.model_id] = model_service.get_model(session, j.model_id).name
            except NotFound:
                out["models"][j.model_id] = f"#{j.model_id}"
    return out


@router.get("/jobs", response_class=HTMLResponse)
def job_list_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    status: Annotated[str, Query()] = "",
    kind: Annotated[str, Query()] = "",
) -> Response:
    """All top-level jobs, newest first; filters by status and kind (HTMX swaps only the rows)."""
    status = status if status in STATUSES else ""
    kind = kind if kind in KINDS else ""
    rows, total = job_service.list_jobs(session, limit=200, status=status or None, kind=kind or None)
    items = [job_service.job_payload(session, r) for r in rows]
    context: dict[str, Any] = {"items": items, "total": total, "names": _names(session, rows)}
    if is_htmx(request) and request.headers.get("HX-Target") == "job-list-body":
        return fragment(request, Fragments().add(request, "jobs/_list_rows.html", **context))
    return page(
        request,
        "jobs/list.html",
        active_nav="jobs",
        status=status,
        kind=kind,
        statuses=STATUSES,
        kinds=KINDS,
        can_edit=can_edit(user),
        **context,
    )


def _mapping_info(session: Session, job: Job) -> dict[str, Any] | None:
    if job.mapping_version_id is None:
        return None
    try:
        version = mapping_service.get_version(session, job.mapping_version_id)
        mapping = mapping_service.get_mapping(session, version.mapping_id)
    except NotFound:
        return None
    return {"id": mapping.id, "name": mapping.name, "number": version.number, "status": version.status}


def _summary(session: Session, job: Job) -> dict[str, Any] | None:
    """The result summary when there is one (pseudo-label: summary.json; others: the job's result).

    A failed or cancelled pseudo-label job has one too when it was finalized: it lists the failed
    and skipped images of the shards that ran.
    """
    if not JobStatus(job.status).is_terminal and job.kind == "pseudo_label":
        return None
    try:
        return job_service.read_summary(session, job.id)
    except NotFound:
        return None


def _times(job: Job, now: datetime) -> dict[str, Any]:
    """The job's times, once, for the page header and the status card (so both say the same)."""
    requeued = job.queued_at is not None and (job.queued_at - job.created_at).total_seconds() > 1
    end = job.finished_at or (now if job.status == JobStatus.RUNNING.value else None)
    return {
        "points": [
            ("Submitted", job.created_at),
            *([("Re-queued", job.queued_at)] if requeued else []),
            ("Started", job.started_at),
            ("Finished", job.finished_at),
        ],
        "span_label": "Took" if job.finished_at else "Running for",
        "span_s": (end - job.started_at).total_seconds() if end and job.started_at else None,
    }


def _context(request: Request, session: Session, job: Job, *, eta: str = "") -> dict[str, Any]:
    """Everything ``jobs/detail.html`` and its partials show (``eta``: the last poll's ETA state)."""
    # The poll's state comes back from the page itself; anything else is ignored, not refused.
    j = job_service.job_payload(session, job, with_shards=True, eta_state=decode_state(eta) if eta else None)
    lines = job_service.job_logs(session, job.id, limit=LOG_TAIL)
    user = getattr(request.state, "user", None)
    now = utcnow()
    return {
        "j": j,
        "terminal": JobStatus(job.status).is_terminal,
        "times": _times(job, now),
        "eta": {"seconds": j["eta_seconds"], "state": j["eta_state"] or ""},
        "shard_index": {s.id: s.shard_index for s in j["shards"]},
        "logs": lines,
        "summary": _summary(session, job),
        "mapping": _mapping_info(session, job),
        "names": _names(session, [job]),
        "can_edit": can_edit(user),
        "can_retry": job.status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value),
        "params_json": json.dumps(j["params"], indent=2, sort_keys=True),
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_detail_page(request: Request, session: SessionDep, user: ReadUser, job_id: int) -> Response:
    """Status with live progress and ETA, parameters, shards, log tail and result summary."""
    job = job_service.get_job(session, job_id)
    ctx = _context(request, session, job) | {"staleness": _staleness(session, job)}
    return page(request, "jobs/detail.html", active_nav="jobs", **ctx)


def _staleness(session: Session, job: Job) -> update_service.StaleReport | None:
    """A succeeded pseudo-label run's staleness against its mapping's newest approved version."""
    if job.kind != "pseudo_label" or job.status != JobStatus.SUCCEEDED.value or job.parent_id is not None:
        return None
    try:
        return update_service.staleness(session, job.id)
    except DomainError:  # no priors, or the outputs or the mapping are gone: nothing to say
        return None


def _status_answer(
    request: Request, session: Session, job: Job, toast: Toast | None = None, *, eta: str = ""
) -> Response:
    """The status partial plus the header's times, log tail, shards and result swapped out of band
    (and a toast)."""
    ctx = _context(request, session, job, eta=eta)
    parts = Fragments().add(request, "jobs/_status.html", **ctx)
    for name in ("jobs/_times.html", "jobs/_logs.html", "jobs/_shards.html", "jobs/_result.html"):
        parts.add(request, name, oob=True, **ctx)
    if toast is not None:
        parts.toast(request, toast)
    return fragment(request, parts)


@router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
def job_status_fragment(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    job_id: int,
    eta: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """``jobs/_status.html`` (polls itself while queued/running; no polling attributes once terminal).

    ``eta`` is the ETA estimator's state that the previous answer gave the polling element, so the
    estimate is smoothed across polls without the server keeping anything.
    """
    return _status_answer(request, session, job_service.get_job(session, job_id), eta=eta)


def _act(request: Request, session: Session, job_id: int, action: str) -> Response:
    try:
        job = (job_service.cancel_job if action == "cancel" else job_service.retry_job)(session, job_id)
    except DomainError as exc:
        session.rollback()
        if is_htmx(request):
            return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)
        flash(request, exc.message, "error")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    message = "Cancel requested." if action == "cancel" else "Retry queued: resuming from existing outputs."
    if is_htmx(request):
        return _status_answer(request, session, job, Toast(message))
    flash(request, message)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def job_cancel_page(request: Request, session: SessionDep, user: EditorUser, job_id: int) -> Response:
    """Cancel (cooperative); HTMX gets the new status fragment, a form post a redirect."""
    return _act(request, session, job_id, "cancel")


@router.post("/jobs/{job_id}/retry", response_class=HTMLResponse)
def job_retry_page(request: Request, session: SessionDep, user: EditorUser, job_id: int) -> Response:
    """Retry a failed or cancelled job; it resumes from the outputs that exist."""
    return _act(request, session, job_id, "retry")


def _version_id(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 0 < int(text) <= INT32_MAX:
        raise InvalidInput(
            f"mapping_version_id must be a mapping version's id (a positive whole number), got {value!r}",
            field="mapping_version_id",
        )
    return int(text)


def _update_params(session: Session, job_id: int, mapping_version_id: str) -> PseudoLabelParams:
    body = update_service.update_params(session, job_id, _version_id(mapping_version_id))
    try:
        return PseudoLabelParams.model_validate(body)
    except ValidationError as exc:  # the stored run's options no longer pass: say which
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc


@router.post("/jobs/{job_id}/update", response_class=HTMLResponse)
def job_update_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    job_id: int,
    mapping_version_id: Annotated[str, Form()] = "",
) -> Response:
    """Update this pseudo-label run to ``mapping_version_id`` (the stale notice's button): the same
    job as ``unilabel job submit --update-from``. The new job's page follows (303); a refusal
    re-renders this page with the reason (4xx)."""
    job_service.get_job(session, job_id)
    try:
        params = _update_params(session, job_id, mapping_version_id)
        new = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
        number = mapping_service.get_version(session, params.mapping_version_id).number
    except DomainError as exc:
        session.rollback()
        job = job_service.get_job(session, job_id)
        ctx = _context(request, session, job) | {"staleness": _staleness(session, job)}
        toast = Toast(f"Update refused: {exc.message}", "error")
        return page(
            request,
            "jobs/detail.html",
            status_code=exc.status_code,
            active_nav="jobs",
            flashes=[toast],
            **ctx,
        )
    flash(request, f"Job {new.id} queued: update of job {job_id} to mapping v{number}.")
    return RedirectResponse(f"/jobs/{new.id}", status_code=303)
