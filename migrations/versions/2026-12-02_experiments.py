"""Experiments (issue 12): experiment, experiment_run (CAS ``version``), experiment_stage.

Revision ID: 20261202_experiments
Revises: 20261202_any_class_values
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_experiments"
down_revision: str | None = "20261202_any_class_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column(
            "target_taxonomy_id",
            sa.Integer(),
            sa.ForeignKey("taxonomy.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column(
            "created_by_id", sa.Integer(), sa.ForeignKey("user.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_experiment_target_taxonomy_id", "experiment", ["target_taxonomy_id"])
    op.create_table(
        "experiment_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "experiment_id", sa.Integer(), sa.ForeignKey("experiment.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("resolved_json", sa.Text(), nullable=False),
        sa.Column(
            "previous_run_id",
            sa.Integer(),
            sa.ForeignKey("experiment_run.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "created_by_id", sa.Integer(), sa.ForeignKey("user.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("experiment_id", "number", name="uq_experiment_run_number"),
    )
    op.create_index("ix_experiment_run_experiment_id", "experiment_run", ["experiment_id"])
    op.create_index("ix_experiment_run_status", "experiment_run", ["status"])
    op.create_table(
        "experiment_stage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("experiment_run.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("job.id", ondelete="SET NULL"), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "key", name="uq_experiment_stage_key"),
    )
    op.create_index("ix_experiment_stage_run_id", "experiment_stage", ["run_id"])
    op.create_index("ix_experiment_stage_job_id", "experiment_stage", ["job_id"])


def downgrade() -> None:
    op.drop_table("experiment_stage")
    op.drop_table("experiment_run")
    op.drop_table("experiment")
