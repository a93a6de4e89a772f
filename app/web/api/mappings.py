"""Mapping REST endpoints (web layer): CRUD, master_labels import/export, edge edits.

Every edit names its base: ``base_version`` (a version number) in the body, or the header
``If-Match: <content hash>``. A stale base answers 409 with ``details.current_version``
(number, hash and edges of the head). Successful edits return the new head with an ``ETag``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.db.models import MappingVersion
from app.domain.errors import InvalidInput, NotFound
from app.domain.text import INT32_MAX
from app.schemas.common import Name, Text
from app.schemas.mappings import (
    ClassDifferenceRead,
    EdgesReplace,
    EdgeToggle,
    ImportRead,
    MappingCreate,
    MappingList,
    MappingRead,
    MappingUpdate,
    TargetsSet,
    VersionRef,
)
from app.services import mappings as service
from app.services.mapping_files import target_name_from_filename, target_outcome
from app.web.api._convert import (
    attachment_headers,
    mapping_read,
    read_upload,
    validation_read,
    version_read,
    version_summaries,
)
from app.web.auth import AdminUser, EditorUser, ReadUser
from app.web.deps import IdPath, IdQuery, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/mappings", tags=["mappings"])
IfMatch = Annotated[str | None, Header(description="Content hash of the version the edit is based on")]


def resolve_base(
    session: Session, mapping_id: int, base_version: int | None, if_match: str | None
) -> tuple[int | None, str | None]:
    """(base_version_id, base_hash) for the services from a version number and/or If-Match."""
    base_id = None
    if base_version is not None:
        try:
            base_id = service.get_version_by_number(session, mapping_id, base_version).id
        except NotFound:
            service.get_mapping(session, mapping_id)
            raise InvalidInput(
                f"mapping {mapping_id} has no version {base_version}", field="base_version"
            ) from None
    base_hash = if_match.strip().removeprefix("W/").strip('"') if if_match else None
    return base_id, base_hash or None


def edited_response(session: Session, version: MappingVersion) -> JSONResponse:
    body = version_read(session, version).model_dump(mode="json")
    return JSONResponse(body, headers={"ETag": f'"{version.content_hash}"'})


@router.get("", response_model=MappingList)
def list_mappings(
    session: SessionDep,
    _user: ReadUser,
    page: PageDep,
    source_taxonomy_id: IdQuery = None,
    target_taxonomy_id: IdQuery = None,
    q: Annotated[str | None, Query()] = None,
) -> MappingList:
    """List mappings with their current version (paginated)."""
    rows, total = service.list_mappings(
        session,
        limit=page.limit,
        offset=page.offset,
        source_taxonomy_id=source_taxonomy_id,
        target_taxonomy_id=target_taxonomy_id,
        query=q,
    )
    heads = service.heads_of(session, rows)
    items = [mapping_read(session, r, heads.get(r.id)) for r in rows]
    return MappingList(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=MappingRead, status_code=201)
def create_mapping(body: MappingCreate, session: SessionDep, user: EditorUser) -> MappingRead:
    """Create a mapping (and its version 1) between a source and a target taxonomy."""
    row = service.create_mapping(
        session,
        name=body.name,
        description=body.description,
        source_taxonomy_id=body.source_taxonomy_id,
        target_taxonomy_id=body.target_taxonomy_id,
        edges=body.edges,
        author=user,
        message=body.message,
    )
    return mapping_read(session, row, service.current_version(session, row.id))


@router.post("/import", response_model=ImportRead, status_code=201)
def import_mapping(
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    file: Annotated[UploadFile, File(description="master_labels_<taxonomy>.csv")],
    source_taxonomy_id: Annotated[int | None, Form(ge=1, le=INT32_MAX)] = None,
    mapping_id: Annotated[
        int | None, Form(ge=1, le=INT32_MAX, description="Import as a new version of this mapping")
    ] = None,
    name: Annotated[Name | None, Form()] = None,
    target_name: Annotated[
        Name | None,
        Form(
            description="Name of a new target taxonomy (default: from master_labels_NAME.csv); 409 if taken"
        ),
    ] = None,
    base_version: Annotated[int | None, Form(ge=1, le=INT32_MAX)] = None,
    message: Annotated[Text | None, Form()] = None,
    target_taxonomy_id: Annotated[
        int | None,
        Form(
            ge=1,
            le=INT32_MAX,
            description="Use this existing target taxonomy (same class ids; its names replace the file's)",
        ),
    ] = None,
    create_target: Annotated[
        bool, Form(description="Create a new target taxonomy even though a stored one is close")
    ] = False,
) -> ImportRead:
    """Import a master_labels CSV: a new mapping (target taxonomy created or reused) or a new version.

    A file whose target classes are close to a stored taxonomy's (same ids, a few names differ)
    answers 409 ``target_classes_differ`` with ``details.closest_taxonomy`` and
    ``details.differences``; repeat with ``target_taxonomy_id`` or ``create_target=true``.
    """
    text = read_upload(file, settings)
    base_id = None
    if mapping_id is not None and base_version is not None:
        base_id, _ = resolve_base(session, mapping_id, base_version, None)
    result = service.import_master_labels(
        session,
        text=text,
        source_taxonomy_id=source_taxonomy_id,
        mapping_id=mapping_id,
        name=name,
        target_name=target_name or target_name_from_filename(file.filename),
        base_version_id=base_id,
        author=user,
        message=message,
        target_name_exact=target_name is not None,
        target_taxonomy_id=target_taxonomy_id,
        create_target=create_target,
    )
    return ImportRead(
        mapping=mapping_read(session, result.mapping, result.version),
        version=version_summaries(session, [result.version])[0],
        target_taxonomy_id=result.target_taxonomy.id,
        target_taxonomy_name=result.target_taxonomy.name,
        target_created=result.target_created,
        mapping_created=result.mapping_created,
        target_outcome=target_outcome(result),
        target_names_corrected=[ClassDifferenceRead(**d.to_dict()) for d in result.target_corrected],
        validation=validation_read(result.version, result.report),
    )


@router.get("/{mapping_id}", response_model=MappingRead)
def read_mapping(mapping_id: IdPath, session: SessionDep, _user: ReadUser) -> MappingRead:
    """Read a mapping and a summary of its current version."""
    row = service.get_mapping(session, mapping_id)
    return mapping_read(session, row, service.current_version(session, mapping_id))


@router.patch("/{mapping_id}", response_model=MappingRead)
def update_mapping(
    mapping_id: IdPath, body: MappingUpdate, session: SessionDep, _user: EditorUser
) -> MappingRead:
    """Rename or re-describe a mapping."""
    row = service.update_mapping(session, mapping_id, name=body.name, description=body.description)
    return mapping_read(session, row, service.current_version(session, mapping_id))


@router.delete("/{mapping_id}", status_code=204)
def delete_mapping(mapping_id: IdPath, session: SessionDep, _user: AdminUser) -> Response:
    """Delete a mapping with all versions (admins only)."""
    service.delete_mapping(session, mapping_id)
    return Response(status_code=204)


@router.get("/{mapping_id}/export", response_class=Response)
def export_mapping(
    mapping_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    version: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="Version number; default: current")
    ] = None,
) -> Response:
    """Export a version as master_labels CSV (a file download)."""
    row = service.get_mapping(session, mapping_id)
    target = (
        service.get_version_by_number(session, mapping_id, version)
        if version is not None
        else service.current_version(session, mapping_id)
    )
    text = service.export_master_labels(session, version_id=target.id)
    filename = f"master_labels_{row.name}_v{target.number}.csv"
    headers = {**attachment_headers(filename), "ETag": f'"{target.content_hash}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{mapping_id}/edges")
def read_edges(mapping_id: IdPath, session: SessionDep, _user: ReadUser) -> JSONResponse:
    """The current version with its edges; the ETag is its content hash (use it as If-Match)."""
    return edited_response(session, service.current_version(session, mapping_id))


@router.put("/{mapping_id}/edges")
def replace_edges(
    mapping_id: IdPath, body: EdgesReplace, session: SessionDep, user: EditorUser, if_match: IfMatch = None
) -> JSONResponse:
    """Replace all edges (a new version); 409 with the current edges when the base is stale."""
    base_id, base_hash = resolve_base(session, mapping_id, body.base_version, if_match)
    version = service.replace_edges(
        session,
        mapping_id=mapping_id,
        edges=body.edges,
        base_version_id=base_id,
        base_hash=base_hash,
        author=user,
        message=body.message or "",
    )
    return edited_response(session, version)


@router.post("/{mapping_id}/edges/toggle")
def toggle_edge(
    mapping_id: IdPath, body: EdgeToggle, session: SessionDep, user: EditorUser, if_match: IfMatch = None
) -> JSONResponse:
    """Add, remove or flip one edge (a new version)."""
    base_id, base_hash = resolve_base(session, mapping_id, body.base_version, if_match)
    version = service.toggle_edge(
        session,
        mapping_id=mapping_id,
        source_name=body.source_name,
        target_id=body.target_id,
        on=body.on,
        base_version_id=base_id,
        base_hash=base_hash,
        author=user,
        message=body.message,
    )
    return edited_response(session, version)


@router.post("/{mapping_id}/targets")
def set_targets(
    mapping_id: IdPath, body: TargetsSet, session: SessionDep, user: EditorUser, if_match: IfMatch = None
) -> JSONResponse:
    """Set all targets of one source label (an empty list unmaps it)."""
    base_id, base_hash = resolve_base(session, mapping_id, body.base_version, if_match)
    version = service.set_targets(
        session,
        mapping_id=mapping_id,
        source_name=body.source_name,
        target_ids=body.target_ids,
        base_version_id=base_id,
        base_hash=base_hash,
        author=user,
        message=body.message,
    )
    return edited_response(session, version)


@router.post("/{mapping_id}/undo")
def undo(
    mapping_id: IdPath, body: VersionRef, session: SessionDep, user: EditorUser, if_match: IfMatch = None
) -> JSONResponse:
    """Undo the last edit (a new version equal to the one before it)."""
    base_id, base_hash = resolve_base(session, mapping_id, body.base_version, if_match)
    version = service.undo(
        session, mapping_id=mapping_id, base_version_id=base_id, base_hash=base_hash, author=user
    )
    return edited_response(session, version)
