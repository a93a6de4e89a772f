"""Mapping version REST endpoints (web layer): history, diff, validation, restore, review, comments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.domain.text import INT32_MAX
from app.schemas.mappings import (
    CommentCreate,
    CommentList,
    CommentRead,
    DiffRead,
    ReviewAction,
    SourceDiffRead,
    Status,
    ValidationRead,
    VersionList,
    VersionRead,
    VersionRef,
    VersionSummary,
)
from app.services import mappings as service
from app.web.api._convert import comment_reads, validation_read, version_read, version_summaries
from app.web.api.mappings import IfMatch, edited_response, resolve_base
from app.web.auth import EditorUser, ReadUser, ReviewerUser
from app.web.deps import IdPath, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/mappings/{mapping_id}", tags=["mapping versions"])


@router.get("/versions", response_model=VersionList)
def list_versions(
    mapping_id: IdPath, session: SessionDep, _user: ReadUser, page: PageDep, status: Status | None = None
) -> VersionList:
    """Versions of a mapping, newest first (paginated, optional status filter)."""
    rows, total = service.list_versions(
        session, mapping_id, limit=page.limit, offset=page.offset, status=status
    )
    return VersionList(
        items=version_summaries(session, rows), total=total, limit=page.limit, offset=page.offset
    )


@router.get("/versions/by-hash/{content_hash}", response_model=VersionRead)
def read_version_by_hash(
    mapping_id: IdPath, content_hash: str, session: SessionDep, _user: ReadUser
) -> VersionRead:
    """The version with this content hash (approved preferred, then newest)."""
    return version_read(
        session, service.find_version_by_hash(session, mapping_id=mapping_id, content_hash=content_hash)
    )


@router.get("/versions/{number}", response_model=VersionRead)
def read_version(mapping_id: IdPath, number: IdPath, session: SessionDep, _user: ReadUser) -> VersionRead:
    """One version with its edges."""
    return version_read(session, service.get_version_by_number(session, mapping_id, number))


@router.post("/versions/{number}/restore")
def restore_version(
    mapping_id: IdPath,
    number: IdPath,
    body: VersionRef,
    session: SessionDep,
    user: EditorUser,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Make a new version whose edges equal those of version ``number``."""
    old = service.get_version_by_number(session, mapping_id, number)
    base_id, base_hash = resolve_base(session, mapping_id, body.base_version, if_match)
    version = service.restore_version(
        session,
        mapping_id=mapping_id,
        version_id=old.id,
        base_version_id=base_id,
        base_hash=base_hash,
        author=user,
        message=body.message,
    )
    return edited_response(session, version)


@router.get("/diff", response_model=DiffRead)
def diff_versions(
    mapping_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    from_version: Annotated[
        int | None, Query(alias="from", ge=1, le=INT32_MAX, description="Default: the head's parent")
    ] = None,
    to_version: Annotated[
        int | None, Query(alias="to", ge=1, le=INT32_MAX, description="Default: the head")
    ] = None,
) -> DiffRead:
    """Edges added and removed between two versions."""
    new = (
        service.get_version_by_number(session, mapping_id, to_version)
        if to_version is not None
        else service.current_version(session, mapping_id)
    )
    if from_version is not None:
        old = service.get_version_by_number(session, mapping_id, from_version)
    elif new.parent_id is not None:
        old = service.get_version(session, new.parent_id)
    else:
        old = new
    diff = service.diff_versions(session, old_version_id=old.id, new_version_id=new.id)
    return DiffRead(
        from_version=old.number,
        to_version=new.number,
        added=list(diff.added),
        removed=list(diff.removed),
        by_source=[
            SourceDiffRead(source_name=d.source_name, added=list(d.added), removed=list(d.removed))
            for d in diff.by_source
        ],
    )


@router.get("/validation", response_model=ValidationRead)
def validate_mapping(
    mapping_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    version: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="Version number; default: current")
    ] = None,
) -> ValidationRead:
    """The validation report of a version (unknown names, unmapped labels, ambiguities, ...)."""
    target = (
        service.get_version_by_number(session, mapping_id, version)
        if version is not None
        else service.current_version(session, mapping_id)
    )
    return validation_read(target, service.validation_report(session, target.id))


def _summary(session: SessionDep, version_id: int) -> VersionSummary:
    return version_summaries(session, [service.get_version(session, version_id)])[0]


@router.post("/versions/{number}/submit", response_model=VersionSummary)
def submit_version(
    mapping_id: IdPath, number: IdPath, body: ReviewAction, session: SessionDep, user: EditorUser
) -> VersionSummary:
    """Ask for review: draft (or rejected) -> in_review."""
    version = service.get_version_by_number(session, mapping_id, number)
    service.submit_for_review(session, version_id=version.id, author=user, message=body.message)
    return _summary(session, version.id)


@router.post("/versions/{number}/approve", response_model=VersionSummary)
def approve_version(
    mapping_id: IdPath,
    number: IdPath,
    body: ReviewAction,
    session: SessionDep,
    settings: SettingsDep,
    user: ReviewerUser,
) -> VersionSummary:
    """Approve a version in review (reviewers/admins; not its author while four eyes are on)."""
    version = service.get_version_by_number(session, mapping_id, number)
    service.approve(
        session,
        version_id=version.id,
        reviewer=user,
        message=body.message,
        four_eyes=settings.four_eyes,
        acknowledged=body.acknowledged,
    )
    return _summary(session, version.id)


@router.post("/versions/{number}/reject", response_model=VersionSummary)
def reject_version(
    mapping_id: IdPath, number: IdPath, body: ReviewAction, session: SessionDep, user: ReviewerUser
) -> VersionSummary:
    """Reject a version in review (reviewers/admins)."""
    version = service.get_version_by_number(session, mapping_id, number)
    service.reject(session, version_id=version.id, reviewer=user, message=body.message)
    return _summary(session, version.id)


@router.get("/versions/{number}/comments", response_model=CommentList)
def list_comments(
    mapping_id: IdPath, number: IdPath, session: SessionDep, _user: ReadUser, page: PageDep
) -> CommentList:
    """Comments and review actions on a version, oldest first."""
    version = service.get_version_by_number(session, mapping_id, number)
    rows, total = service.list_comments(session, version.id, limit=page.limit, offset=page.offset)
    return CommentList(items=comment_reads(session, rows), total=total, limit=page.limit, offset=page.offset)


@router.post("/versions/{number}/comments", response_model=CommentRead, status_code=201)
def add_comment(
    mapping_id: IdPath, number: IdPath, body: CommentCreate, session: SessionDep, user: EditorUser
) -> CommentRead:
    """Comment on a version, optionally about one source label."""
    version = service.get_version_by_number(session, mapping_id, number)
    comment = service.add_comment(
        session, version_id=version.id, author=user, body=body.body, source_name=body.source_name
    )
    return comment_reads(session, [comment])[0]
