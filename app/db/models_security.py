"""ORM tables of account security (DB layer): server-side browser sessions and login throttles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class UserSession(Base):
    """One browser login. The signed cookie carries only a random id; this row keeps its sha256.

    A session is valid while ``revoked_at`` is NULL, its user is active and it was seen within the
    session lifetime. Logout revokes one row; password, role and activation changes revoke all of a
    user's rows.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bookkeeping: updated at most once per UNILABEL_AUTH_TOUCH_INTERVAL_S, best effort.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    client_addr: Mapped[str | None] = mapped_column(String(64), default=None)


class LoginThrottle(Base):
    """Failed password logins of one account name or one client address (``scope``: account/client).

    Stored in the database so that every server process sees the same counts. ``updated_at`` is the
    last attempt that touched the row; rows idle for a whole throttle window are deleted.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("scope", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
