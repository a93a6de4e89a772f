"""Server-side browser sessions, login throttling and the audit log (issue 10: items 2, 3, 5).

Revision ID: 20261202_auth_sessions
Revises: 20261125_registry_jobs
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "20261202_auth_sessions"
down_revision: str | None = "20261125_registry_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by helper A1 (auth)


def downgrade() -> None:
    pass
