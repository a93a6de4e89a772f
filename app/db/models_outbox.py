"""ORM table of the transactional outbox (DB layer): broker messages committed with the rows they concern.

A message to the broker is first an :class:`OutboxMessage` row, inserted in the same transaction as
the job (or shard) it starts. A relay (``app/outbox.py``) publishes committed rows and marks them
sent, so a committed job always reaches the broker, whichever process dies when, and a rolled-back
one never does. ``claimed_by``/``claimed_until`` are the relay's lease on a row: a relay that dies
mid-publish leaves a claim that lapses, and any other relay takes the row over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    """One task message to publish: task name, JSON keyword arguments, queue; sent once ``sent_at`` is set."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_pending", "sent_at", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    kwargs_json: Mapped[str] = mapped_column(Text, default="{}")
    queue: Mapped[str | None] = mapped_column(String(40), default=None)
    # The job the message starts (``kwargs["job_id"]``), so a job's page can say it waits for the
    # broker. No foreign key: a message for a job deleted meanwhile is a no-op at the worker.
    job_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
