"""Queries of the transactional outbox (DB layer): add, claim, mark sent, back off, prune.

A relay owns a message only through :func:`claim_messages`, a conditional UPDATE on "not sent and
not claimed (or the claim lapsed)", so two relays racing over the same rows never both publish one;
:func:`mark_sent` and :func:`release_failed` are conditional on the claim (``claimed_by``), so a
relay whose lease lapsed and was taken over cannot overwrite the new owner's bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from app.db.models_outbox import OutboxMessage
from app.db.models_registry import Job

ERROR_CHARS = 1000


def add_message(
    session: Session, task: str, kwargs: dict[str, Any], *, queue: str | None, available_at: datetime
) -> OutboxMessage:
    """Insert (and flush) one message in the caller's transaction; ``kwargs`` must be JSON."""
    job_id = kwargs.get("job_id")
    message = OutboxMessage(
        task=task,
        kwargs_json=json.dumps(kwargs, sort_keys=True),
        queue=queue,
        job_id=job_id if isinstance(job_id, int) else None,
        available_at=available_at,
    )
    session.add(message)
    session.flush()
    return message


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.sent_at.is_(None),
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def claim_messages(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    ids: Sequence[int] | None = None,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` unsent messages for ``owner`` (the caller commits), oldest first.

    Without ``ids``: the messages due (``available_at <= now``). With ``ids``: those messages,
    whenever due (the after-commit nudge of the transaction that wrote them). The UPDATE repeats
    the claimable condition, so under concurrency each row goes to exactly one claimant (PostgreSQL
    re-checks it on the row it waited for; SQLite serialises writers).
    """
    stmt = select(OutboxMessage.id).where(_claimable(now))
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    else:
        stmt = stmt.where(OutboxMessage.available_at <= now)
    # A read first: an idle relay pass takes no write lock (SQLite has one for the whole file).
    candidates = list(session.scalars(stmt.order_by(OutboxMessage.id).limit(limit)))
    if not candidates:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), _claimable(now))
        .values(claimed_by=owner, claimed_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    claimed = select(OutboxMessage).where(
        OutboxMessage.id.in_(candidates), OutboxMessage.claimed_by == owner, OutboxMessage.sent_at.is_(None)
    )
    return list(session.scalars(claimed.order_by(OutboxMessage.id).execution_options(populate_existing=True)))


def mark_sent(session: Session, message_id: int, *, owner: str, now: datetime) -> bool:
    """Record a publish by the claim's ``owner``; False when the claim was taken over meanwhile."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.claimed_by == owner,
            OutboxMessage.sent_at.is_(None),
        )
        .values(sent_at=now, claimed_until=None, attempts=OutboxMessage.attempts + 1, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_failed(
    session: Session, message_ids: Sequence[int], *, owner: str, error: str, available_at: datetime
) -> None:
    """Give claimed messages back after a failed publish: count the attempt, keep the error, back off."""
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.claimed_by == owner,
            OutboxMessage.sent_at.is_(None),
        )
        .values(
            claimed_by=None,
            claimed_until=None,
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:ERROR_CHARS],
            available_at=available_at,
        )
        .execution_options(synchronize_session=False)
    )


def broker_wait(session: Session, job_id: int) -> str | None:
    """The error of an unsent message of the job or its shards whose publish failed (None: none waits)."""
    shards = select(Job.id).where(Job.parent_id == job_id)
    stmt = (
        select(OutboxMessage.last_error)
        .where(
            or_(OutboxMessage.job_id == job_id, OutboxMessage.job_id.in_(shards)),
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts > 0,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    error = session.scalar(stmt)
    return None if error is None else error or "unknown error"


def unsent_messages(session: Session) -> list[OutboxMessage]:
    """Every message not yet published, oldest first (operators, tests)."""
    stmt = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id)
    return list(session.scalars(stmt))


def prune_sent(session: Session, *, before: datetime) -> int:
    """Delete messages published before ``before``; returns how many."""
    result = session.execute(delete(OutboxMessage).where(OutboxMessage.sent_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
