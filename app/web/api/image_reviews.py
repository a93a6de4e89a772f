"""Per-image review endpoints (web layer): one image's decision, a run's counts and list, bulk reject.

An image is named by its path as the run's manifest gives it (``images/train/0001.png``); in the URL
it is the rest of the path before ``/review`` (slashes as they are, other characters percent-encoded).
Readers read; editors decide. The role is checked before the body is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from app.domain.image_review import BulkRule, check_state, count_states
from app.schemas.image_reviews import (
    BulkRejectRequest,
    BulkRejectResult,
    ImageReviewList,
    ImageReviewRead,
    ImageReviewWrite,
    State,
)
from app.services import image_reviews as service
from app.services import users as user_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, SessionDep

router = APIRouter(prefix="/jobs", tags=["reviews"])
MAX_LIST = 1000


def _read(job_id: int, s: service.ImageState, authors: dict[int, str]) -> ImageReviewRead:
    row = s.row
    return ImageReviewRead(
        job_id=job_id,
        image=s.image,
        state=s.state,
        stale=s.stale,
        decision=row.decision if row else None,
        note=row.note if row else None,
        version=row.version if row else 0,
        author=authors.get(row.author_id) if row and row.author_id is not None else None,
        updated_at=row.updated_at if row else None,
        label_hash=s.current_hash,
        correction_rate=s.item.correction_rate,
        void_fraction=s.item.void_fraction,
    )


def _authors(session: Session, states: list[service.ImageState]) -> dict[int, str]:
    return user_service.user_names(session, [s.row.author_id for s in states if s.row is not None])


@router.get("/{job_id}/reviews", response_model=ImageReviewList)
def list_reviews(
    job_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    state: Annotated[State | None, Query(description="Only images in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ImageReviewList:
    """Counts per state (accepted, rejected, flagged, unreviewed) and the images, manifest order."""
    if state is not None:
        check_state(state, "state")
    states = service.image_states(session, job_id)
    chosen = [s for s in states if state is None or s.state == state]
    page = chosen[offset : offset + limit]
    authors = _authors(session, page)
    return ImageReviewList(
        job_id=job_id,
        counts=count_states(s.state for s in states),
        total=len(chosen),
        items=[_read(job_id, s, authors) for s in page],
    )


@router.get("/{job_id}/images/{image:path}/review", response_model=ImageReviewRead)
def read_review(job_id: IdPath, image: str, session: SessionDep, _user: ReadUser) -> ImageReviewRead:
    """One image's review: its state now, the stored decision, note, version and who decided when."""
    s = service.image_state(session, job_id, image)
    return _read(job_id, s, _authors(session, [s]))


@router.put("/{job_id}/images/{image:path}/review", response_model=ImageReviewRead)
def write_review(
    job_id: IdPath, image: str, body: ImageReviewWrite, session: SessionDep, user: EditorUser
) -> ImageReviewRead:
    """Accept, reject or flag an image (editor). ``base_version`` is the version read (0: none):
    409 when someone decided since."""
    s = service.decide(
        session,
        job_id,
        image,
        decision=body.decision,
        note=body.note,
        base_version=body.base_version,
        author=user,
    )
    return _read(job_id, s, _authors(session, [s]))


@router.post("/{job_id}/reviews/bulk-reject", response_model=BulkRejectResult)
def bulk_reject(
    job_id: IdPath, body: BulkRejectRequest, session: SessionDep, user: EditorUser
) -> BulkRejectResult:
    """Reject the undecided images above a correction rate or void share (editor). ``dry_run``
    (the default) only counts them: the preview before confirming."""
    rule = BulkRule(body.correction_above, body.void_above)
    result = service.bulk_reject(session, job_id, rule, dry_run=body.dry_run, author=user)
    return BulkRejectResult(
        job_id=job_id,
        dry_run=body.dry_run,
        rule=rule.describe(),
        matched=result.matched,
        rejected=len(result.rejected),
        kept=result.kept,
        changed_meanwhile=result.changed_meanwhile,
        images=result.rejected[:MAX_LIST],
    )
