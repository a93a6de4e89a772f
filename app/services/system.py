"""System checks (services layer): database reachability for the health endpoint."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session


def database_ok(session: Session) -> bool:
    """True when the database answers a trivial query."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        session.rollback()  # leave the session usable, so the request can still answer (503)
        return False
    return True
