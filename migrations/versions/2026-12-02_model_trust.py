"""Pickle trust as an admin's recorded decision, converted safetensors weights (issue 10: item 1).

Revision ID: 20261202_model_trust
Revises: 20261202_review_cas
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "20261202_model_trust"
down_revision: str | None = "20261202_review_cas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by helper B (model trust)


def downgrade() -> None:
    pass
