"""Transactional outbox: broker messages as rows committed with their job (issue 10: item 9).

Revision ID: 20261202_outbox
Revises: 20261202_model_trust
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "20261202_outbox"
down_revision: str | None = "20261202_model_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by helper D (outbox)


def downgrade() -> None:
    pass
