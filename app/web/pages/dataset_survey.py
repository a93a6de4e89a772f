"""Survey a dataset from its page (web layer, issue 15): a small form (teacher, sample size, split)
that submits a ``survey`` job; its result is the evidence of the mapping audit and the suggestions.

``GET /datasets/{id}/survey-form`` renders ``datasets/_survey_form.html`` (editors; loaded after the
page); ``POST /datasets/{id}/survey`` submits the job and opens its page, or flashes the refusal on
the dataset's page (a model that cannot survey, a split the dataset lacks, ...).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.domain.errors import DomainError
from app.schemas.jobs import SurveyParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import models as model_service
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._render import flash, fragment, render_text

router = APIRouter(include_in_schema=False)
MODELS_LISTED = 200
DEFAULT_SAMPLE = SurveyParams.model_fields["sample_size"].default


@router.get("/datasets/{dataset_id}/survey-form", response_class=HTMLResponse)
def dataset_survey_form(
    request: Request, session: SessionDep, _user: EditorUser, dataset_id: int
) -> Response:
    """The form: every registered model (the submission refuses one that cannot survey), the splits."""
    row = dataset_service.get_dataset(session, dataset_id)
    models, _ = model_service.list_models(session, limit=MODELS_LISTED)
    text = render_text(
        request,
        "datasets/_survey_form.html",
        d=row,
        models=models,
        splits=json.loads(row.splits_json or "[]"),
        sample_size=DEFAULT_SAMPLE,
    )
    return fragment(request, text)


@router.post("/datasets/{dataset_id}/survey", response_class=HTMLResponse)
def dataset_survey_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    dataset_id: int,
    model_id: Annotated[int, Form(ge=1)],
    sample_size: Annotated[int, Form(ge=1, le=100_000)] = DEFAULT_SAMPLE,
    split: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Submit a survey job of this dataset; to the job's page (a refusal: back, with a toast)."""
    try:
        params = SurveyParams(
            model_id=model_id, dataset_id=dataset_id, sample_size=sample_size, split=split.strip() or None
        )
    except ValidationError as exc:
        flash(request, f"Not submitted: {exc.errors()[0]['msg']}", "error")
        return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
    try:
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
    flash(request, f"Surveying {sample_size} images as job {job.id}.", "info")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
