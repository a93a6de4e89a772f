"""Export from the job page (web layer, issue 14): ``POST /jobs/{id}/export`` submits an export job
of the run in the chosen format and follows to its page, where the archive is downloaded from
``/api/v1/jobs/{export id}/export.zip`` once it succeeded (``templates/jobs/_export.html``).
``POST /jobs/{id}/cvat-import`` takes a CVAT zip of corrected masks and follows to the new
label-set version (a ``label_import`` job); a refusal flashes its message on the run's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.db.session import commit_now
from app.domain.errors import DomainError
from app.schemas.jobs import ExportParams
from app.services import jobs as job_service
from app.services import label_imports
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._render import flash

router = APIRouter()


@router.post("/jobs/{job_id}/export", response_class=HTMLResponse)
def job_export_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    job_id: int,
    format: Annotated[str, Form()] = "cvat",
) -> Response:
    """Queue an export of run ``job_id``; the export job's page follows (303), a refusal flashes."""
    try:
        params = ExportParams.model_validate({"job_id": job_id, "format": format})
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
        commit_now(session)
    except ValidationError:
        flash(request, f"{format!r} is not an export format", "error")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    flash(request, f"Export job {job.id} queued ({format}).")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/jobs/{job_id}/cvat-import", response_class=HTMLResponse)
def job_cvat_import_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    job_id: int,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Import corrected CVAT masks of run ``job_id``; the new version's page follows (303)."""
    try:
        job = label_imports.import_cvat(session, settings, job_id=job_id, archive=file.file, user_id=user.id)
        commit_now(session)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    flash(request, f"Imported as {job.name}: {job.message}.")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
