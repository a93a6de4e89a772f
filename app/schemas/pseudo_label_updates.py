"""Staleness of a pseudo-label run against a newer mapping version (schemas layer)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LabelChangeRead(BaseModel):
    """A source label whose allowed set changed (target ids, 255 = void)."""

    name: str
    value: int
    old: list[int]
    new: list[int]


class StaleReportRead(BaseModel):
    """``GET /api/v1/jobs/{id}/staleness``: how much a newer mapping version touches the run."""

    job_id: int
    mapping_id: int
    pinned_version_id: int
    pinned_number: int
    newest_approved_number: int | None = Field(description="The mapping's newest approved version")
    new_version_id: int | None = Field(description="The version compared with (None: no newer approved one)")
    new_number: int | None
    stale: bool = Field(description="Some labelled image contains a label whose allowed set changed")
    changed_labels: list[str]
    changes: list[LabelChangeRead]
    affected_images: int
    total_images: int
    message: str
