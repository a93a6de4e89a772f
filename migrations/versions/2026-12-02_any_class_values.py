"""A dataset's "any class allowed" pixel values (issue 14, the Cityscapes ego-vehicle mask case).

``any_class_values_json``: a JSON list of source pixel values whose pixels may take every target
class (the teacher's arg-max over the N classes, never void) in pseudo-labelling; NULL = none.

Revision ID: 20261202_any_class_values
Revises: 20261202_conversions
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_any_class_values"
down_revision: str | None = "20261202_conversions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("any_class_values_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_column("any_class_values_json")
