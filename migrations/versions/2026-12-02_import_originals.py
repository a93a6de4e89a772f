"""The imported file's text, so that an unedited import exports byte-identical (issue 13, section 3).

Adds ``taxonomy.original_text`` (an imported labels.csv) and ``mapping_version.original_text`` (the
master_labels CSV a version was imported from). Both nullable: rows stored before this revision
export canonically, as before.

Revision ID: 20261202_import_originals
Revises: 20261202_outbox
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_import_originals"
down_revision: str | None = "20261202_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_text", sa.Text(), nullable=True))
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.drop_column("original_text")
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.drop_column("original_text")
