"""Label-import version numbers (issue 14): ``label_import_number`` (run, number) unique per run.

Until now a ``label_import`` job's version number lived only in its ``params_json`` (counted, not
enforced: two imports racing could both be version 2). The table's primary key (run_job_id,
number) enforces it; existing imports are copied in with their numbers, and one whose number an
earlier import of its run already has (a past race) gets the run's next free number, in id order
(written back to ``params_json``).

Revision ID: 20261202_label_import_numbers
Revises: 20261202_experiments
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_label_import_numbers"
down_revision: str | None = "20261202_experiments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_import_number",
        sa.Column(
            "run_job_id",
            sa.Integer(),
            sa.ForeignKey("job.id", name="fk_label_import_number_run_job_id_job", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "job_id",
            sa.Integer(),
            sa.ForeignKey("job.id", name="fk_label_import_number_job_id_job", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("run_job_id", "number", name="pk_label_import_number"),
        sa.UniqueConstraint("job_id", name="uq_label_import_number_job_id"),
    )
    _copy_existing_numbers()


def _copy_existing_numbers() -> None:
    conn = op.get_bind()
    job = sa.table("job", sa.column("id", sa.Integer()), sa.column("kind"), sa.column("params_json"))
    numbers = sa.table(
        "label_import_number", sa.column("run_job_id"), sa.column("number"), sa.column("job_id")
    )
    runs = {row[0] for row in conn.execute(sa.select(job.c.id))}
    rows = conn.execute(
        sa.select(job.c.id, job.c.params_json).where(job.c.kind == "label_import").order_by(job.c.id)
    ).all()
    taken: dict[int, set[int]] = {}
    kept: list[tuple[int, int, int]] = []  # (run, number, job id)
    moved: list[tuple[int, int, dict[str, object]]] = []  # (run, job id, params): renumbered after
    for job_id, params_json in rows:
        try:
            params = json.loads(params_json or "{}")
        except ValueError:
            continue
        run = params.get("run_job_id")
        if not isinstance(run, int) or run not in runs:
            continue
        used = taken.setdefault(run, set())
        number = params.get("version")
        if isinstance(number, int) and number >= 1 and number not in used:
            used.add(number)
            kept.append((run, number, job_id))
        else:
            moved.append((run, job_id, params))
    for run, job_id, params in moved:
        number = max(taken[run], default=0) + 1
        taken[run].add(number)
        params["version"] = number
        conn.execute(job.update().where(job.c.id == job_id).values(params_json=json.dumps(params)))
        kept.append((run, number, job_id))
    for run, number, job_id in kept:
        conn.execute(numbers.insert().values(run_job_id=run, number=number, job_id=job_id))


def downgrade() -> None:
    op.drop_table("label_import_number")
