"""Taxonomy REST endpoints (web layer): CRUD, file import, export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from app.domain.taxonomy import Label, Taxonomy
from app.schemas.common import Name, Text
from app.schemas.taxonomies import (
    FileWarningRead,
    LabelSchema,
    TaxonomyCreate,
    TaxonomyImportRead,
    TaxonomyList,
    TaxonomyRead,
    TaxonomyUpdate,
)
from app.services import taxonomies as service
from app.services import taxonomy_files
from app.web.api._convert import attachment_headers, read_upload, taxonomy_read, taxonomy_summary
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/taxonomies", tags=["taxonomies"])
Format = Literal["labels_csv", "json"]


def _labels(items: list[LabelSchema]) -> tuple[Label, ...]:
    return tuple(Label(**item.model_dump()) for item in items)


@router.get("", response_model=TaxonomyList)
def list_taxonomies(
    session: SessionDep, _user: ReadUser, page: PageDep, q: Annotated[str | None, Query()] = None
) -> TaxonomyList:
    """List taxonomies (paginated, optional name/description search)."""
    rows, total = service.list_taxonomies(session, limit=page.limit, offset=page.offset, query=q)
    return TaxonomyList(
        items=[taxonomy_summary(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post("", response_model=TaxonomyRead, status_code=201)
def create_taxonomy(body: TaxonomyCreate, session: SessionDep, _user: EditorUser) -> TaxonomyRead:
    """Create a taxonomy from JSON."""
    taxonomy = Taxonomy(name=body.name, labels=_labels(body.labels), description=body.description)
    return taxonomy_read(session, service.create_taxonomy(session, taxonomy=taxonomy))


def _guess_format(filename: str | None, text: str) -> str:
    name = (filename or "").lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith(".csv"):
        return "labels_csv"
    return "json" if text.lstrip().startswith("{") else "labels_csv"


def _default_name(filename: str | None) -> str | None:
    if not filename:
        return None
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return None if stem in ("", "labels") else stem


@router.post("/import", response_model=TaxonomyImportRead, status_code=201)
def import_taxonomy(
    session: SessionDep,
    settings: SettingsDep,
    _user: EditorUser,
    file: Annotated[UploadFile, File(description="labels.csv or taxonomy JSON")],
    name: Annotated[Name | None, Form()] = None,
    description: Annotated[Text | None, Form()] = None,
    format: Annotated[Format | None, Form()] = None,
) -> TaxonomyImportRead:
    """Import a taxonomy from the paper's labels.csv or the JSON format (with the file's warnings)."""
    text = read_upload(file, settings)
    fmt = format or _guess_format(file.filename, text)
    row, findings = taxonomy_files.import_taxonomy_report(
        session,
        text=text,
        fmt=fmt,
        name=name or (_default_name(file.filename) if fmt == "labels_csv" else None),
        description=description,
    )
    warnings = [FileWarningRead(code=f.code, message=f.message, row=f.row, column=f.column) for f in findings]
    return TaxonomyImportRead(**taxonomy_read(session, row).model_dump(), warnings=warnings)


@router.get("/{taxonomy_id}", response_model=TaxonomyRead)
def read_taxonomy(taxonomy_id: IdPath, session: SessionDep, _user: ReadUser) -> TaxonomyRead:
    """Read a taxonomy with its labels."""
    return taxonomy_read(session, service.get_taxonomy(session, taxonomy_id))


@router.patch("/{taxonomy_id}", response_model=TaxonomyRead)
def update_taxonomy(
    taxonomy_id: IdPath, body: TaxonomyUpdate, session: SessionDep, _user: EditorUser
) -> TaxonomyRead:
    """Rename, re-describe or (while unused) replace the labels of a taxonomy."""
    row = service.update_taxonomy(
        session,
        taxonomy_id,
        name=body.name,
        description=body.description,
        labels=None if body.labels is None else _labels(body.labels),
    )
    return taxonomy_read(session, row)


@router.delete("/{taxonomy_id}", status_code=204)
def delete_taxonomy(taxonomy_id: IdPath, session: SessionDep, _user: EditorUser) -> Response:
    """Delete a taxonomy that no mapping uses."""
    service.delete_taxonomy(session, taxonomy_id)
    return Response(status_code=204)


@router.get("/{taxonomy_id}/export", response_class=Response)
def export_taxonomy(
    taxonomy_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    format: Annotated[Format, Query()] = "labels_csv",
) -> Response:
    """Export as labels.csv or JSON (a file download)."""
    row = service.get_taxonomy(session, taxonomy_id)
    text = taxonomy_files.export_taxonomy(session, taxonomy_id, fmt=format)
    ext, media = ("csv", "text/csv") if format == "labels_csv" else ("json", "application/json")
    return Response(
        text, media_type=f"{media}; charset=utf-8", headers=attachment_headers(f"{row.name}.{ext}")
    )
