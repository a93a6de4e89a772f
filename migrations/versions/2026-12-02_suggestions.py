"""Mapping suggestions (issue 15): suggestion_rejection, the suggested edges rejected per mapping.

Revision ID: 20261202_suggestions
Revises: 20261202_dataset_presets
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_suggestions"
down_revision: str | None = "20261202_dataset_presets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suggestion_rejection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mapping_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
            name=op.f("fk_suggestion_rejection_author_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mapping_id"],
            ["mapping.id"],
            name=op.f("fk_suggestion_rejection_mapping_id_mapping"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_rejection")),
        sa.UniqueConstraint(
            "mapping_id",
            "source_name",
            "target_id",
            name=op.f("uq_suggestion_rejection_mapping_id_source_name_target_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("suggestion_rejection")
