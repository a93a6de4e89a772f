"""Survey a dataset from its page (web layer, issue 15): a small form (teacher, sample size, split)
that submits a ``survey`` job; its result is the evidence of the mapping audit and the suggestions.

``GET /datasets/{id}/survey-form`` renders ``datasets/_survey_form.html`` (editors; loaded after the
page). Its teacher select lists first the models whose taxonomy some mapping from this dataset's
taxonomy maps to (a survey by any other model fits no mapping's audit or suggestions), each with its
taxonomy and the mIoU of the evaluation the audit shows for it (``app.services.teacher_quality``);
the first of them is preselected. The sample size says how many labelled images the dataset has (its
last scan). ``POST /datasets/{id}/survey`` submits the job and opens its page with a toast that
counts the images the survey will really take (all of them when the dataset has fewer than asked),
or flashes the refusal on the dataset's page (a model that cannot survey, a split the dataset lacks,
...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db.models_registry import Dataset
from app.domain.errors import DomainError
from app.domain.taxonomy import Taxonomy
from app.schemas.jobs import SurveyParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.teacher_quality import teacher_quality
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._render import flash, fragment, render_text

router = APIRouter(include_in_schema=False)
MODELS_LISTED = 200
MAPPINGS_LISTED = 500
DEFAULT_SAMPLE = SurveyParams.model_fields["sample_size"].default


@dataclass(frozen=True, slots=True)
class TeacherChoice:
    model_id: int
    name: str
    taxonomy: str
    miou: float | None  # of the evaluation the audit shows for it (None: not evaluated)
    fits: bool  # some mapping from the dataset's taxonomy maps to the model's


def teacher_choices(session: Session, row: Dataset) -> list[TeacherChoice]:
    """Every registered model, those a mapping from the dataset's taxonomy fits first (then by name)."""
    mappings, _ = mapping_service.list_mappings(
        session, limit=MAPPINGS_LISTED, source_taxonomy_id=row.taxonomy_id
    )
    targets = {m.target_taxonomy_id for m in mappings}
    models, _ = model_service.list_models(session, limit=MODELS_LISTED)
    taxonomies: dict[int, Taxonomy] = {}
    out = []
    for model in models:
        if model.taxonomy_id not in taxonomies:
            taxonomies[model.taxonomy_id] = taxonomy_service.load_taxonomy(session, model.taxonomy_id)
        taxonomy = taxonomies[model.taxonomy_id]
        quality = teacher_quality(session, model.id, dict(taxonomy.class_list()))  # as the audit shows it
        miou = quality.miou if quality else None
        out.append(TeacherChoice(model.id, model.name, taxonomy.name, miou, model.taxonomy_id in targets))
    return sorted(out, key=lambda c: (not c.fits, c.name))


def _counts(row: Dataset) -> dict[str, int]:
    """Labelled images per split ('' = all) from the dataset's last scan (empty: never scanned)."""
    if row.pair_count is None:
        return {}
    scan = json.loads(row.scan_json) if row.scan_json else {}
    return {"": int(row.pair_count), **{str(k): int(v) for k, v in (scan.get("per_split") or {}).items()}}


def survey_words(row: Dataset, sample_size: int, split: str | None) -> str:
    """How many images the survey takes, as far as the dataset's last scan tells."""
    where = f"the {split} split" if split else "the dataset"
    known = _counts(row).get(split or "")
    if known is None:
        return f"up to {sample_size:,} images of {where} (not scanned yet: its size is unknown)"
    if known <= sample_size:
        return f"all {known:,} labelled images of {where}" + (
            f" (asked for {sample_size:,})" if known < sample_size else ""
        )
    return f"{sample_size:,} of the {known:,} labelled images of {where}"


@router.get("/datasets/{dataset_id}/survey-form", response_class=HTMLResponse)
def dataset_survey_form(
    request: Request, session: SessionDep, _user: EditorUser, dataset_id: int
) -> Response:
    """The form: every registered model, fitting ones first (the submission refuses one that cannot
    survey), the splits, the sample size with the dataset's image count."""
    row = dataset_service.get_dataset(session, dataset_id)
    text = render_text(
        request,
        "datasets/_survey_form.html",
        d=row,
        teachers=teacher_choices(session, row),
        splits=json.loads(row.splits_json or "[]"),
        sample_size=DEFAULT_SAMPLE,
        images=_counts(row).get(""),
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
    row = dataset_service.get_dataset(session, dataset_id)
    try:
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
    flash(request, f"Surveying {survey_words(row, sample_size, params.split)} as job {job.id}.", "info")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
