"""Per-image review schemas (schemas layer): one image's decision, a run's counts and list, bulk rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.domain.image_review import NOTE_MAX
from app.schemas.common import printable_text

Decision = Literal["accepted", "rejected", "flagged"]
State = Literal["accepted", "rejected", "flagged", "unreviewed"]
INT32_MAX = 2**31 - 1


class ImageReviewWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: Annotated[str, Field(max_length=NOTE_MAX), AfterValidator(printable_text)] | None = Field(
        default=None, description="Optional, shown on the card (line breaks and tabs allowed)"
    )
    base_version: int = Field(
        ge=0,
        le=INT32_MAX,
        description="The decision's version this change is based on (0: the image had none); "
        "a different stored version answers 409",
    )


class ImageReviewRead(BaseModel):
    job_id: int
    image: str = Field(description="The image's path as the dataset (and the run's manifest) names it")
    state: State = Field(description="The decision now; 'unreviewed' when none or when it is stale")
    stale: bool = Field(description="A decision was made on a pseudo-label that has changed since")
    decision: Decision | None = Field(description="The stored decision (also when stale)")
    note: str | None
    version: int = Field(description="0 when no decision is stored; send it as base_version")
    author: str | None
    updated_at: datetime | None
    label_hash: str | None = Field(description="sha256 of the image's pseudo-label PNG now")
    correction_rate: float | None
    void_fraction: float | None


class ImageReviewList(BaseModel):
    job_id: int
    counts: dict[str, int] = Field(description="Images per state: accepted, rejected, flagged, unreviewed")
    total: int = Field(description="Images matching the filter")
    items: list[ImageReviewRead]


class BulkRejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correction_above: float | None = Field(default=None, ge=0.0, le=1.0, description="Share, 0..1")
    void_above: float | None = Field(default=None, ge=0.0, le=1.0, description="Share, 0..1")
    dry_run: bool = Field(default=True, description="Only count (the preview); false rejects them")


class BulkRejectResult(BaseModel):
    job_id: int
    dry_run: bool
    rule: str = Field(description="The rule in words")
    matched: int = Field(description="Images the rule selects")
    rejected: int = Field(description="Of them, undecided images rejected (dry run: to be rejected)")
    kept: int = Field(description="Matched images already decided by a person: left as they are")
    changed_meanwhile: int = Field(description="Decided by someone else while this ran: left as they are")
    images: list[str] = Field(description="The images rejected (dry run: to be), at most 1,000")
