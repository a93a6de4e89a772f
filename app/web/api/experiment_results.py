"""Experiment results REST endpoints (web layer): a run's table and a comparison of two experiments.

``GET /experiments/{id}/results`` is the teacher vs student table of a run (default: the latest)
per evaluation set; ``GET /experiments/compare?a=&b=`` sets the latest runs of two experiments
side by side. Each is JSON by default, or a download in ``format=csv|md|tex`` (CSV, Markdown,
LaTeX booktabs); ``per_class=true`` adds the IoU of every class. Formats: ``docs/experiments.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.domain.experiment_results import ComparisonTable, ResultTable, to_csv, to_dict, to_latex, to_markdown
from app.domain.text import INT32_MAX
from app.schemas.experiment_results import ExperimentComparisonRead, ExperimentResultsRead
from app.services import experiment_results as service
from app.web.api._convert import attachment_headers
from app.web.api._responses import error_responses
from app.web.auth import ReadUser
from app.web.deps import IdPath, SessionDep

router = APIRouter(prefix="/experiments", tags=["experiments"])

Format = Literal["json", "csv", "md", "tex"]
FormatQuery = Annotated[
    Format, Query(description="json (default), or a download: csv, md (Markdown) or tex (LaTeX booktabs)")
]
PerClass = Annotated[bool, Query(description="Add the IoU of every class (JSON: each row's `classes`)")]
Side = Annotated[
    Literal["student", "teacher"], Query(description="Whose scores to compare (default: the students)")
]
ExperimentQuery = Annotated[int, Query(ge=1, le=INT32_MAX, description="An experiment id")]
RunQuery = Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Run number (default: the latest)")]
TEXT: dict[str, tuple[str, str]] = {  # format -> (media type, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "tex": ("text/x-tex; charset=utf-8", "tex"),
}
NAMED_IN_QUERY = error_responses(404)  # the compared experiments are named in the query string


def _text(table: ResultTable | ComparisonTable, fmt: str, per_class: bool) -> str:
    render = {"csv": to_csv, "md": to_markdown, "tex": to_latex}[fmt]
    return render(table, per_class=per_class)


def _download(table: ResultTable | ComparisonTable, fmt: str, per_class: bool, stem: str) -> Response:
    media, ext = TEXT[fmt]
    name = re.sub(r"[\\/\s]+", "_", stem) + ("-per-class" if per_class else "") + "." + ext
    return Response(_text(table, fmt, per_class), media_type=media, headers=attachment_headers(name))


def _rows(data: dict[str, Any], per_class: bool) -> dict[str, Any]:
    if not per_class:
        data["rows"] = [{k: v for k, v in row.items() if k != "classes"} for row in data["rows"]]
    return data


def _ref(r: service.RunResults) -> dict[str, Any]:
    return {
        "experiment_id": r.experiment_id,
        "experiment": r.experiment_name,
        "run": r.run_number,
        "run_status": r.run_status,
        "scored": r.scored,
        "expected": r.expected,
    }


@router.get(
    "/compare",
    response_model=ExperimentComparisonRead,
    responses={**NAMED_IN_QUERY, 200: {"content": {m: {} for m, _ in TEXT.values()}}},
)
def compare_experiments(
    session: SessionDep,
    _user: ReadUser,
    a: ExperimentQuery,
    b: ExperimentQuery,
    format: FormatQuery = "json",
    per_class: PerClass = False,
    side: Side = "student",
) -> Any:
    """The latest runs of experiments ``a`` and ``b`` side by side, per evaluation set (sets and
    classes matched by name; ``delta`` is b - a)."""
    comparison = service.compare(session, a, b, side=side)
    if format != "json":
        stem = f"compare-{comparison.a.experiment_name}-vs-{comparison.b.experiment_name}"
        return _download(comparison.table, format, per_class, stem)
    data = _rows(to_dict(comparison.table), per_class)
    return ExperimentComparisonRead(a=_ref(comparison.a), b=_ref(comparison.b), **data)


@router.get(
    "/{experiment_id}/results",
    response_model=ExperimentResultsRead,
    responses={200: {"content": {m: {} for m, _ in TEXT.values()}}},
)
def read_results(
    experiment_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    run: RunQuery = None,
    format: FormatQuery = "json",
    per_class: PerClass = False,
) -> Any:
    """Teacher vs student mIoU per evaluation set, with a mean row (stages that have not
    succeeded are ``null``: the table fills in as the run goes)."""
    got = service.run_results(session, experiment_id, run)
    if format != "json":
        stem = f"{got.experiment_name}-run{got.run_number}-results"
        return _download(got.table, format, per_class, stem)
    return ExperimentResultsRead(**_ref(got), **_rows(to_dict(got.table), per_class))
