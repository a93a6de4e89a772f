"""ORM tables of experiments (DB layer, issue 12): Experiment, ExperimentRun, ExperimentStage.

An experiment keeps its spec as given (``spec_json``, hashed). Each *run* pins the spec's resolved
inputs (``resolved_json``: ids and content hashes) and is a graph of ordinary jobs, one
:class:`ExperimentStage` row per submitted (or reused) stage job. ``version`` on a run is its
compare-and-set counter: whoever advances a run bumps it conditionally, so two advancers (a worker
that just finished a job and the recovery sweep) never both submit a stage. ``(run_id, key)`` is
unique as a second guard.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Experiment(Base):
    __tablename__ = "experiment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    spec_json: Mapped[str] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(64))
    target_taxonomy_id: Mapped[int] = mapped_column(
        ForeignKey("taxonomy.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExperimentRun(Base):
    __tablename__ = "experiment_run"
    __table_args__ = (UniqueConstraint("experiment_id", "number", name="uq_experiment_run_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    resolved_json: Mapped[str] = mapped_column(Text)
    previous_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment_run.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ExperimentStage(Base):
    __tablename__ = "experiment_stage"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_experiment_stage_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("experiment_run.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), default=None, index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
