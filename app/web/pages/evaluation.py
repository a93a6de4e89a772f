"""Evaluation pages (web layer): the evaluation panel of an evaluate job, the list of evaluations,
and the comparison of several models on the same dataset and mapping.

``GET /jobs/{id}/evaluation``: the panel (mIoU, pixel accuracy, per-class IoU with bars, confusion
heat-map normalised per true class, what was evaluated with which code, downloads, other models
evaluated on the same data); it polls itself every 3 s while the job is queued or running and is
rendered without ``hx-trigger`` once it has ended. ``GET /evaluations``: succeeded evaluations
grouped by dataset, split and mapping, with checkboxes to compare. ``GET /evaluations/compare``:
per-class IoU side by side, differences to the first evaluation coloured, the best one marked.
The same data is JSON and CSV under ``/api/v1/evaluations``.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound
from app.domain.jobs import JobStatus
from app.domain.text import INT32_MAX
from app.services import evaluations as evaluation_service
from app.services import jobs as job_service
from app.web.auth import ReadUser
from app.web.deps import IdQuery, SessionDep
from app.web.pages._access import can_edit
from app.web.pages._evaluation_view import (
    comparable_key,
    compare_url,
    comparison_view,
    confusion_view,
    groups,
)
from app.web.pages._render import page, render_text

router = APIRouter(include_in_schema=False)

JobIds = Annotated[list[Annotated[int, Query(ge=1, le=INT32_MAX)]] | None, Query(alias="job_id")]


def model_evaluations(session: Session, model_id: int) -> list[dict[str, Any]]:
    """The model's newest evaluation per dataset, split and mapping, each with a link comparing it
    to the newest evaluation of every other model on the same data."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in evaluation_service.list_evaluations(session, model_id=model_id):
        rows.setdefault(comparable_key(e), e)
    for key, e in rows.items():
        latest: dict[Any, int] = {}
        for o in evaluation_service.list_evaluations(session, dataset_id=e["dataset_id"]):
            if comparable_key(o) == key and o["model_id"] != model_id:
                latest.setdefault(o["model_id"], o["job_id"])
        e["compare_count"] = len(latest)
        e["compare_url"] = compare_url([e["job_id"], *latest.values()]) if latest else None
    return list(rows.values())


@router.get("/jobs/{job_id}/evaluation", response_class=HTMLResponse)
def evaluation_panel_fragment(request: Request, session: SessionDep, user: ReadUser, job_id: int) -> Response:
    """The evaluation panel of an ``evaluate`` job (polls itself while the job is queued or running)."""
    job = job_service.job_payload(session, job_service.get_job(session, job_id))
    if job["kind"] != "evaluate":
        return HTMLResponse("", status_code=404)
    report: dict[str, Any] | None = None
    others: list[dict[str, Any]] = []
    with contextlib.suppress(NotFound):
        report = evaluation_service.evaluation(session, job_id)
    if report is not None and job["status"] == JobStatus.SUCCEEDED.value:
        same = evaluation_service.list_evaluations(session, dataset_id=report["dataset_id"])
        others = [s for s in same if s["job_id"] != job_id and comparable_key(s) == comparable_key(report)]
    terminal = JobStatus(job["status"]).is_terminal
    ctx = {
        "j": job,
        "terminal": terminal,
        "report": report,
        "confusion": confusion_view(report) if report else None,
        "others": others,
        "compare_all": compare_url([job_id, *(o["job_id"] for o in others)]) if others else None,
        "compare_url": compare_url,
    }
    return HTMLResponse(render_text(request, "evaluation/_job_panel.html", **ctx))


@router.get("/evaluations", response_class=HTMLResponse)
def evaluation_list_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    model_id: IdQuery = None,
    dataset_id: IdQuery = None,
) -> Response:
    """Succeeded evaluations grouped by dataset, split and mapping; pick two or more to compare."""
    items = evaluation_service.list_evaluations(session, model_id=model_id, dataset_id=dataset_id)
    return page(
        request,
        "evaluation/list.html",
        active_nav="jobs",
        groups=groups(items),
        total=len(items),
        filtered=model_id is not None or dataset_id is not None,
        can_edit=can_edit(user),
    )


@router.get("/evaluations/compare", response_class=HTMLResponse)
def evaluation_compare_page(
    request: Request, session: SessionDep, user: ReadUser, job_ids: JobIds = None
) -> Response:
    """Per-class IoU of the chosen evaluations side by side; a mixed choice is explained (422)."""
    job_ids = job_ids or []
    try:
        comparison = evaluation_service.compare(session, job_ids)
    except InvalidInput as exc:
        session.rollback()
        return page(
            request,
            "evaluation/compare.html",
            status_code=422,
            active_nav="jobs",
            error=exc.message,
            job_ids=job_ids,
        )
    query = "&".join(f"job_id={i}" for i in dict.fromkeys(job_ids))
    return page(
        request,
        "evaluation/compare.html",
        active_nav="jobs",
        comparison=comparison,
        view=comparison_view(comparison),
        query=query,
        error=None,
        job_ids=job_ids,
    )
