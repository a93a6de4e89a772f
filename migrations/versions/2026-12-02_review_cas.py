"""Review workflow: self-approval recorded on versions (issue 10: items 6-8).

Revision ID: 20261202_review_cas
Revises: 20261202_auth_sessions
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_review_cas"
down_revision: str | None = "20261202_auth_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing approvals predate the four-eyes setting: they are recorded as not self-approved.
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("self_approved", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.drop_column("self_approved")
