"""Native label format conversions (issue 14): where a dataset's converted label-id PNGs live.

A dataset registered from a preset whose labels need a converter (Cityscapes polygons, COCO
panoptic) pairs its images with the PNGs a ``convert_labels`` job writes under
``converted_labels_dir``; NULL for every other dataset (labels read from the root).

Revision ID: 20261202_conversions
Revises: 20261202_image_reviews
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_conversions"
down_revision: str | None = "20261202_image_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label_converter", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("converted_labels_dir", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_column("converted_labels_dir")
        batch_op.drop_column("label_converter")
