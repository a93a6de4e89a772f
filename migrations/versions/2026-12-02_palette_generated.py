"""Taxonomy palette provenance (issue 11): ``label.color_generated``.

A label imported without a colour gets one from ``app.domain.palettes.generated_colors`` and this
flag, so that the taxonomy page can say "generated" (and a recolour by a person clears it). Rows
stored before this revision keep their colour, or lack of one, and read as not generated.

Revision ID: 20261202_palette_generated
Revises: 20261202_import_originals
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_palette_generated"
down_revision: str | None = "20261202_import_originals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("color_generated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.drop_column("color_generated")
