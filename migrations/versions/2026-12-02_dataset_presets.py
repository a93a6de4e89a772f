"""Dataset presets and native label formats (issue 14): dataset.preset, preset_variant, label_palette_json.

Revision ID: 20261202_dataset_presets
Revises: 20261202_palette_generated
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_dataset_presets"
down_revision: str | None = "20261202_palette_generated"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Datasets registered before presets keep NULLs: no preset, the taxonomy's colours for rgb labels.
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preset", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("preset_variant", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("label_palette_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_column("label_palette_json")
        batch_op.drop_column("preset_variant")
        batch_op.drop_column("preset")
