"""Mapping, version, diff, validation and review edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.schemas.common import Id, LabelName, Name, ORMModel, Page, Text

Edge = tuple[str, int]
TargetId = Annotated[int, Field(ge=0, le=255, description="Target class id (255 = void)")]
# An edge in a request: [source label name, target class id or 255 (void)].
EdgeIn = tuple[LabelName, TargetId]
Status = Literal["draft", "in_review", "approved", "rejected"]


class VersionSummary(ORMModel):
    id: int
    mapping_id: int
    number: int
    parent_id: int | None
    restored_from_id: int | None
    author: str | None = None
    created_at: datetime
    message: str
    content_hash: str
    edge_count: int
    status: Status
    reviewed_by: str | None = None
    reviewed_at: datetime | None
    self_approved: bool = Field(
        default=False, description="Approved by its own author (allowed only with UNILABEL_FOUR_EYES off)"
    )


class VersionRead(VersionSummary):
    edges: list[Edge] = Field(description="[source label name, target class id or 255 (void)], sorted")


class MappingCreate(BaseModel):
    name: Name
    description: Text = ""
    source_taxonomy_id: Id
    target_taxonomy_id: Id
    edges: list[EdgeIn] = []
    message: Text = "Created"


class MappingUpdate(BaseModel):
    name: Name | None = None
    description: Text | None = None


class MappingRead(ORMModel):
    id: int
    name: str
    description: str
    source_taxonomy_id: int
    target_taxonomy_id: int
    created_at: datetime
    updated_at: datetime
    current_version: VersionSummary | None = None


class EditBase(BaseModel):
    base_version: Id | None = Field(
        default=None, description="Number of the version this edit is based on (or send If-Match: <hash>)"
    )
    message: Text | None = None


class EdgeToggle(EditBase):
    source_name: LabelName
    target_id: TargetId
    on: bool | None = Field(default=None, description="true: add, false: remove, null: flip")


class TargetsSet(EditBase):
    source_name: LabelName
    target_ids: list[TargetId] = Field(description="Target class ids (255 = void); empty: unmapped")


class EdgesReplace(EditBase):
    edges: list[EdgeIn]


class VersionRef(EditBase):
    pass


class ReviewAction(BaseModel):
    message: Text | None = None
    # approve: keys of the harmless errors the reviewer acknowledges (ValidationReport.to_acknowledge)
    acknowledged: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default=[], max_length=1000
    )


class SourceDiffRead(BaseModel):
    source_name: str
    added: list[int]
    removed: list[int]


class DiffRead(BaseModel):
    from_version: int
    to_version: int
    added: list[Edge]
    removed: list[Edge]
    by_source: list[SourceDiffRead]


class FindingRead(BaseModel):
    code: str
    severity: Literal["error", "warning", "info"]
    message: str
    source_name: str | None
    target_id: int | None
    suggestion: str | None


class ValidationRead(BaseModel):
    version: int
    ok: bool
    counts: dict[str, int]
    findings: list[FindingRead]


class CommentCreate(BaseModel):
    body: Text = Field(min_length=1)
    source_name: LabelName | None = None


class CommentRead(ORMModel):
    id: int
    version_id: int
    author: str | None = None
    kind: str = Field(description="comment, or a review action: submit, approve, self_approve, reject")
    source_name: str | None
    body: str
    created_at: datetime


class ClassDifferenceRead(BaseModel):
    id: int
    file_name: str | None = Field(description="The class name in the file (null: the file lacks the id)")
    taxonomy_name: str | None = Field(description="The name in the taxonomy (null: it lacks the id)")


class ImportRead(BaseModel):
    mapping: MappingRead
    version: VersionSummary
    target_taxonomy_id: int
    target_taxonomy_name: str
    target_created: bool
    mapping_created: bool
    target_outcome: str | None = Field(
        default=None,
        description="New mappings: whether the target taxonomy was reused, created (under which name) "
        "or chosen, in words",
    )
    target_names_corrected: list[ClassDifferenceRead] = Field(
        default_factory=list,
        description="With target_taxonomy_id: the file's class names read as the chosen taxonomy's",
    )
    validation: ValidationRead


MappingList = Page[MappingRead]
VersionList = Page[VersionSummary]
CommentList = Page[CommentRead]
