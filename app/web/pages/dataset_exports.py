"""Export a dataset's ground truth from its page (web layer, issue 14): a small form (an approved
mapping version from the dataset's taxonomy, a format) that submits an ``export`` job with
``dataset_id`` + ``mapping_version_id``; its page offers the archive once it succeeded
(``templates/jobs/_export.html``), as a run's export does.

``GET /datasets/{id}/export-form`` renders ``datasets/_export_form.html`` (editors; loaded after
the page, like the survey card); ``POST /datasets/{id}/export`` submits the job and opens its page,
or flashes the refusal on the dataset's page (a version not approved, another taxonomy, ...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db.models import Mapping, MappingVersion
from app.domain.errors import DomainError
from app.schemas.jobs import ExportParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._render import flash, fragment, render_text

router = APIRouter(include_in_schema=False)
MAPPINGS_LISTED = 100
VERSIONS_LISTED = 10
FORMATS = (
    ("cvat", "CVAT Segmentation mask 1.1 (to correct in CVAT)"),
    ("cityscapes", "Cityscapes (labelIds + color)"),
    ("hf_imagefolder", "Hugging Face imagefolder"),
    ("fiftyone", "FiftyOne segmentation directory"),
)


def approved_versions(session: Session, taxonomy_id: int) -> list[tuple[Mapping, MappingVersion]]:
    """The approved versions (newest first) of the mappings from ``taxonomy_id``, by mapping name."""
    mappings, _ = mapping_service.list_mappings(
        session, source_taxonomy_id=taxonomy_id, limit=MAPPINGS_LISTED
    )
    out: list[tuple[Mapping, MappingVersion]] = []
    for mapping in sorted(mappings, key=lambda m: m.name):
        versions, _ = mapping_service.list_versions(
            session, mapping.id, limit=VERSIONS_LISTED, status="approved"
        )
        out.extend((mapping, v) for v in versions)
    return out


@router.get("/datasets/{dataset_id}/export-form", response_class=HTMLResponse)
def dataset_export_form(
    request: Request, session: SessionDep, _user: EditorUser, dataset_id: int
) -> Response:
    """The form: the approved versions a ground-truth export can go through, and the formats."""
    row = dataset_service.get_dataset(session, dataset_id)
    text = render_text(
        request,
        "datasets/_export_form.html",
        d=row,
        versions=approved_versions(session, row.taxonomy_id),
        formats=FORMATS,
    )
    return fragment(request, text)


@router.post("/datasets/{dataset_id}/export", response_class=HTMLResponse)
def dataset_export_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    dataset_id: int,
    mapping_version_id: Annotated[int, Form(ge=1)],
    format: Annotated[str, Form(max_length=50)] = "cvat",
) -> Response:
    """Submit a ground-truth export of this dataset; to the job's page (a refusal: back, with a toast)."""
    back = RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
    try:
        params = ExportParams.model_validate(
            {"dataset_id": dataset_id, "mapping_version_id": mapping_version_id, "format": format}
        )
    except ValidationError:
        flash(request, f"{format!r} is not an export format", "error")
        return back
    try:
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return back
    flash(request, f"Exporting the ground truth as {format}: job {job.id}.", "info")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
