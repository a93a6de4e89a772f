"""Version numbers of imported label sets (DB layer, issue 14): claimed compare-and-set.

A number is claimed by inserting ``(run, highest + 1)`` into ``label_import_number`` inside a
savepoint; the primary key refuses it when a concurrent transaction took that number first, and
the caller reads the highest number again and retries.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models_registry import LabelImportNumber


def highest_number(session: Session, run_job_id: int) -> int:
    """The highest version number taken among the run's label sets (0 when none)."""
    stmt = select(func.max(LabelImportNumber.number)).where(LabelImportNumber.run_job_id == run_job_id)
    return int(session.scalar(stmt) or 0)


def claim_number(session: Session, run_job_id: int, job_id: int) -> int | None:
    """Claim the next number of the run for ``job_id``; None when a concurrent transaction took it
    first (its insert won the primary key): read again and retry."""
    row = LabelImportNumber(
        run_job_id=run_job_id, number=highest_number(session, run_job_id) + 1, job_id=job_id
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row.number
