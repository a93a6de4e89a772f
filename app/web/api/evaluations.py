"""Evaluation REST endpoints (web layer): evaluate jobs' results as JSON and CSV, and comparisons.

``GET /evaluations`` lists succeeded evaluations (filter by model or dataset); ``/evaluations/{job}``
is one evaluation (per-class IoU, confusion counts); ``/evaluations/compare?job_id=1&job_id=2``
sets two or more evaluations of the same dataset, split and mapping side by side. Each table is
also a CSV download (``per-class.csv``, ``confusion.csv``, ``compare.csv``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.domain.text import INT32_MAX
from app.schemas.evaluations import EvaluationComparison, EvaluationRead, EvaluationSummary
from app.services import evaluations as service
from app.web.api._convert import attachment_headers
from app.web.api._responses import error_responses
from app.web.auth import ReadUser
from app.web.deps import IdPath, IdQuery, SessionDep

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

JobIds = Annotated[
    list[Annotated[int, Query(ge=1, le=INT32_MAX)]],
    Query(alias="job_id", description="Two or more evaluate job ids; the first is the baseline"),
]
CSV = "text/csv; charset=utf-8"
NAMED_IN_QUERY = error_responses(404)  # the compared jobs are named in the query string


@router.get("", response_model=list[EvaluationSummary])
def list_evaluations(
    session: SessionDep, _user: ReadUser, model_id: IdQuery = None, dataset_id: IdQuery = None
) -> list[EvaluationSummary]:
    """Succeeded evaluations, newest first (mIoU, pixel accuracy, dataset, split, mapping)."""
    rows = service.list_evaluations(session, model_id=model_id, dataset_id=dataset_id)
    return [EvaluationSummary(**r) for r in rows]


@router.get("/compare", response_model=EvaluationComparison, responses=NAMED_IN_QUERY)
def compare_evaluations(session: SessionDep, _user: ReadUser, job_ids: JobIds) -> EvaluationComparison:
    """Per-class IoU of 2–8 evaluations side by side, with each one's difference to the first.

    Refused (422) when they differ in dataset, split, mapping content, image limit or classes."""
    return EvaluationComparison(**service.compare(session, job_ids))


@router.get("/compare.csv", response_class=Response, responses=NAMED_IN_QUERY)
def compare_evaluations_csv(session: SessionDep, _user: ReadUser, job_ids: JobIds) -> Response:
    """The comparison as CSV: one IoU column per evaluation, one difference column per later one."""
    text = service.compare_csv(service.compare(session, job_ids))
    name = "compare-" + "-".join(str(i) for i in dict.fromkeys(job_ids)) + ".csv"
    return Response(text, media_type=CSV, headers=attachment_headers(name))


@router.get("/{job_id}", response_model=EvaluationRead)
def read_evaluation(job_id: IdPath, session: SessionDep, _user: ReadUser) -> EvaluationRead:
    """One evaluation: mIoU, pixel accuracy, per-class IoU and accuracy, confusion counts (rows =
    truth, columns = prediction, last column = void). 404 for other job kinds or before a result."""
    return EvaluationRead(**service.evaluation(session, job_id))


@router.get("/{job_id}/per-class.csv", response_class=Response)
def read_evaluation_per_class_csv(job_id: IdPath, session: SessionDep, _user: ReadUser) -> Response:
    """Per-class IoU, accuracy and pixel counts as CSV."""
    text = service.per_class_csv(service.evaluation(session, job_id))
    return Response(text, media_type=CSV, headers=attachment_headers(f"evaluation-{job_id}-per-class.csv"))


@router.get("/{job_id}/confusion.csv", response_class=Response)
def read_evaluation_confusion_csv(job_id: IdPath, session: SessionDep, _user: ReadUser) -> Response:
    """The confusion matrix (pixel counts; rows = truth, columns = prediction, then void) as CSV."""
    text = service.confusion_csv(service.evaluation(session, job_id))
    return Response(text, media_type=CSV, headers=attachment_headers(f"evaluation-{job_id}-confusion.csv"))
