"""Export and corrected-mask import endpoints (web layer, issue 14).

``GET /jobs/{id}/export.zip`` downloads the archive of a finished ``export`` job (submitted with
``POST /jobs`` and ``{"kind": "export", "job_id": <run>, "format": ...}``); ``POST
/jobs/{id}/cvat-import`` takes a CVAT "Segmentation mask 1.1" zip of run ``id`` and answers the new
``label_import`` job (a label-set version of the run, trainable as a ``pseudo_labels`` set).
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import FileResponse

from app.domain.errors import InvalidInput, PayloadTooLarge
from app.schemas.jobs import JobRead
from app.services import exports as export_service
from app.services import jobs as job_service
from app.services import label_imports
from app.web.api._convert import attachment_headers
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, SessionDep, SettingsDep

router = APIRouter(prefix="/jobs", tags=["jobs"])
MAX_ARCHIVE_BYTES = 4 << 30


@router.get("/{job_id}/export.zip", response_class=FileResponse)
def download_export(job_id: IdPath, session: SessionDep, _user: ReadUser) -> FileResponse:
    """The archive of a finished export job (404 for other kinds, 409 while it runs)."""
    job = job_service.get_job(session, job_id)
    path = export_service.archive_path(session, job_id)
    fmt = job_service.job_payload(session, job)["params"].get("format", "export")
    return FileResponse(
        path,
        media_type="application/zip",
        headers=attachment_headers(f"job-{job_id}-{fmt}.zip"),
    )


@router.post("/{job_id}/cvat-import", response_model=JobRead, status_code=201)
def import_cvat(
    job_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    file: Annotated[UploadFile, File(description="A CVAT 'Segmentation mask 1.1' export (zip)")],
) -> JobRead:
    """Import corrected masks of run ``job_id`` as a new label-set version (a ``label_import`` job)."""
    size = file.file.seek(0, os.SEEK_END)
    file.file.seek(0)
    if size == 0:
        raise InvalidInput("the upload is empty", field="file")
    if size > MAX_ARCHIVE_BYTES:
        raise PayloadTooLarge(f"the upload has {size} bytes; at most {MAX_ARCHIVE_BYTES}", field="file")
    job = label_imports.import_cvat(session, settings, job_id=job_id, archive=file.file, user_id=user.id)
    return JobRead(**job_service.job_payload(session, job))
