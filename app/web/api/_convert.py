"""ORM rows -> response schemas (web layer helpers shared by the API routers)."""

from __future__ import annotations

import json

from fastapi import UploadFile
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Mapping, MappingVersion, ReviewComment, Taxonomy
from app.domain.validation import ValidationReport
from app.schemas.mappings import CommentRead, MappingRead, ValidationRead, VersionRead, VersionSummary
from app.schemas.taxonomies import LabelRead, TaxonomyRead, TaxonomySummary
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from app.services.uploads import decode_upload


def taxonomy_summary(row: Taxonomy) -> TaxonomySummary:
    return TaxonomySummary(
        id=row.id,
        name=row.name,
        description=row.description,
        label_count=row.label_count,
        is_class_list=row.class_signature is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def taxonomy_read(session: Session, row: Taxonomy) -> TaxonomyRead:
    labels = [LabelRead.model_validate(lb) for lb in taxonomy_service.list_labels(session, row.id)]
    return TaxonomyRead(**taxonomy_summary(row).model_dump(), labels=labels)


def _names(session: Session, versions: list[MappingVersion]) -> dict[int, str]:
    ids: list[int | None] = [v.author_id for v in versions] + [v.reviewed_by_id for v in versions]
    return user_service.user_names(session, ids)


def version_summaries(session: Session, versions: list[MappingVersion]) -> list[VersionSummary]:
    names = _names(session, versions)
    return [
        VersionSummary.model_validate(v).model_copy(
            update={
                "author": names.get(v.author_id) if v.author_id else None,
                "reviewed_by": names.get(v.reviewed_by_id) if v.reviewed_by_id else None,
            }
        )
        for v in versions
    ]


def version_read(session: Session, version: MappingVersion) -> VersionRead:
    summary = version_summaries(session, [version])[0]
    edges = [(n, t) for n, t in json.loads(version.edges_json)]
    return VersionRead(**summary.model_dump(), edges=edges)


def mapping_read(session: Session, row: Mapping, head: MappingVersion | None) -> MappingRead:
    current = version_summaries(session, [head])[0] if head is not None else None
    return MappingRead.model_validate(row).model_copy(update={"current_version": current})


def validation_read(version: MappingVersion, report: ValidationReport) -> ValidationRead:
    return ValidationRead.model_validate({"version": version.number, **report.to_dict()})


def comment_reads(session: Session, comments: list[ReviewComment]) -> list[CommentRead]:
    names = user_service.user_names(session, [c.author_id for c in comments])
    return [
        CommentRead.model_validate(c).model_copy(
            update={"author": names.get(c.author_id) if c.author_id else None}
        )
        for c in comments
    ]


def read_upload(file: UploadFile, settings: Settings) -> str:
    """The UTF-8 text of an uploaded file; 413 past ``max_upload_bytes``, 422 when empty/not UTF-8."""
    data = file.file.read(settings.max_upload_bytes + 1)
    return decode_upload(data, max_bytes=settings.max_upload_bytes)


def attachment_headers(filename: str) -> dict[str, str]:
    """``Content-Disposition`` for a download; non-ASCII names via RFC 5987 ``filename*``."""
    from urllib.parse import quote

    # Control characters would break the header line (the server drops the connection), so they
    # become "_" in the ASCII name and are percent-encoded in filename*.
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    encoded = quote(filename, errors="replace")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"}
