"""Pickle trust as an admin's recorded decision, converted safetensors weights (issue 10: item 1).

Adds who/when/sha256 of the trust, the converted weights' path and the conversion state to
``model`` and drops ``trust_pickle``: before this revision any editor could set that flag, so no
row keeps its trust. A row that had ``trust_pickle`` set is marked ``conversion_status='revoked'``
with a message saying an admin must trust the file again. The downgrade restores ``trust_pickle``
as "an admin's trust is recorded".

Revision ID: 20261202_model_trust
Revises: 20261202_review_cas
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_model_trust"
down_revision: str | None = "20261202_review_cas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REVOKED_MESSAGE = (
    "trust_pickle was set before trusting a pickle became an admin's recorded decision; "
    "an admin must trust this file again"
)


def upgrade() -> None:
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trusted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("trusted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trusted_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("trust_note", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("converted_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("conversion_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("conversion_error", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_model_trusted_by_id_user"), "user", ["trusted_by_id"], ["id"], ondelete="SET NULL"
        )
    model = sa.table(
        "model",
        sa.column("trust_pickle", sa.Boolean()),
        sa.column("conversion_status", sa.String()),
        sa.column("conversion_error", sa.Text()),
    )
    op.execute(
        model.update()
        .where(model.c.trust_pickle == sa.true())
        .values(conversion_status="revoked", conversion_error=REVOKED_MESSAGE)
    )
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.alter_column("trust_note", server_default=None)
        batch_op.drop_column("trust_pickle")


def downgrade() -> None:
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trust_pickle", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    model = sa.table("model", sa.column("trust_pickle", sa.Boolean()), sa.column("trusted_sha256", sa.String()))
    op.execute(model.update().where(model.c.trusted_sha256.is_not(None)).values(trust_pickle=True))
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.alter_column("trust_pickle", server_default=None)
        batch_op.drop_constraint(batch_op.f("fk_model_trusted_by_id_user"), type_="foreignkey")
        batch_op.drop_column("conversion_error")
        batch_op.drop_column("conversion_status")
        batch_op.drop_column("converted_path")
        batch_op.drop_column("trust_note")
        batch_op.drop_column("trusted_sha256")
        batch_op.drop_column("trusted_at")
        batch_op.drop_column("trusted_by_id")
