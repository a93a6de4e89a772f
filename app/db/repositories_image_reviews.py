"""Queries for per-image review decisions (DB layer): read per job, insert, compare-and-set update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import ImageReview


def reviews_of_job(session: Session, job_id: int) -> dict[str, ImageReview]:
    """Every stored decision of a run, by image path."""
    stmt = select(ImageReview).where(ImageReview.job_id == job_id)
    return {row.image: row for row in session.scalars(stmt)}


def get_review(session: Session, job_id: int, image: str) -> ImageReview | None:
    stmt = select(ImageReview).where(ImageReview.job_id == job_id, ImageReview.image == image)
    return session.scalar(stmt)


def insert_review(session: Session, **values: Any) -> ImageReview | None:
    """Insert the first decision on an image (in a savepoint); None when a concurrent transaction
    stored one first (the unique key on job and image refused this one)."""
    row = ImageReview(**values, version=1)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def update_review(session: Session, job_id: int, image: str, *, expected_version: int, **values: Any) -> bool:
    """Compare-and-set: write ``values`` (decision, note, label_hash, author_id) only while the
    stored version is ``expected_version`` (one conditional UPDATE); the version grows by one.
    False when someone changed it in between (or there is no decision to update)."""
    stmt = (
        update(ImageReview)
        .where(
            ImageReview.job_id == job_id,
            ImageReview.image == image,
            ImageReview.version == expected_version,
        )
        .values(**values, updated_at=utcnow(), version=ImageReview.version + 1)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
