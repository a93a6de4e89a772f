"""Review workflow: self-approval recorded on versions (issue 10: items 6-8).

Revision ID: 20261202_review_cas
Revises: 20261202_auth_sessions
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "20261202_review_cas"
down_revision: str | None = "20261202_auth_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by helper A2 (reviews)


def downgrade() -> None:
    pass
