"""Compare two experiments (web layer, HTML): ``GET /experiments/compare?a=&b=``.

Pick two experiments; their latest runs are set side by side per evaluation set (the students by
default, ``side=teacher`` for the teachers), with the IoU of each class and downloads of the
table. The same data is JSON, CSV, Markdown and LaTeX under ``/api/v1/experiments/compare``.
A choice that cannot be compared (the same experiment twice, an unknown one, one without a run)
is said on the page, with the picker, under a 4xx status.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.domain.errors import DomainError
from app.domain.text import INT32_MAX
from app.services import experiment_results as results_service
from app.services import experiments as experiment_service
from app.web.auth import ReadUser
from app.web.deps import SessionDep
from app.web.pages._render import page

router = APIRouter(include_in_schema=False)

ExperimentChoice = Annotated[int | None, Query(ge=1, le=INT32_MAX)]
MAX_CHOICES = 500


@router.get("/experiments/compare", response_class=HTMLResponse)
def experiment_compare_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    a: ExperimentChoice = None,
    b: ExperimentChoice = None,
    side: Annotated[Literal["student", "teacher"], Query()] = "student",
) -> Response:
    """Two experiments' latest runs side by side; without both ``a`` and ``b``, the picker."""
    experiments, _ = experiment_service.list_experiments(session, limit=MAX_CHOICES)
    ctx: dict[str, Any] = {
        "choices": [(x.id, x.name) for x in experiments],
        "a": a,
        "b": b,
        "side": side,
        "comparison": None,
        "error": None,
    }
    status = 200
    if a is not None and b is not None:
        try:
            ctx["comparison"] = results_service.compare(session, a, b, side=side)
            ctx["query"] = urlencode({"a": a, "b": b, "side": side})
        except DomainError as exc:
            session.rollback()
            ctx["error"], status = exc.message, exc.status_code
    return page(request, "experiments/compare.html", status_code=status, active_nav="experiments", **ctx)
