"""ORM tables of the registry and the job system (DB layer): Dataset, Model, Job, JobLog.

A :class:`Job` row is the single source of truth for the UI and the API. A sharded pseudo-labeling
job is a parent row plus one child row per shard (``parent_id``, ``shard_index``); the parent's
progress is the sum of its shards'. Workers hold a *lease* on a running row: ``attempt`` counts the
claims, ``heartbeat_at`` is refreshed while it runs, and a row whose heartbeat goes stale is
re-queued by the recovery sweep (``worker/recovery.py``), whatever the broker.
Relationships are not declared: repositories load what they need explicitly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Dataset(Base):
    """A registered dataset: a root folder inside the allowed data roots and a pairing rule."""

    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomy.id", ondelete="RESTRICT"), index=True)
    root: Mapped[str] = mapped_column(Text)
    list_file: Mapped[str | None] = mapped_column(Text, default=None)
    image_pattern: Mapped[str | None] = mapped_column(Text, default=None)
    label_template: Mapped[str | None] = mapped_column(Text, default=None)
    label_encoding: Mapped[str] = mapped_column(String(20), default="ids8")
    splits_json: Mapped[str] = mapped_column(Text, default="[]")
    # Registered from a preset (app.domain.preset_catalog): its key and the layout variant used.
    preset: Mapped[str | None] = mapped_column(String(40), default=None)
    preset_variant: Mapped[str | None] = mapped_column(String(40), default=None)
    # The dataset's own palette for rgb labels, [["#rrggbb", value], ...]; None: the taxonomy's colours.
    label_palette_json: Mapped[str | None] = mapped_column(Text, default=None)
    # Labels in a native format (a converter of app.domain.native_labels): the converter and the
    # folder its convert_labels job writes label-id PNGs to (pairs read their labels there).
    label_converter: Mapped[str | None] = mapped_column(String(40), default=None)
    converted_labels_dir: Mapped[str | None] = mapped_column(Text, default=None)
    # Pixel values whose pixels may take any target class (not void), e.g. an ego-vehicle mask:
    # a JSON list of ints; None = none.
    any_class_values_json: Mapped[str | None] = mapped_column(Text, default=None)
    pair_count: Mapped[int | None] = mapped_column(Integer, default=None)
    problem_count: Mapped[int | None] = mapped_column(Integer, default=None)
    scan_json: Mapped[str | None] = mapped_column(Text, default=None)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Model(Base):
    """A registered teacher (or, later, student) and the target taxonomy its classes must match.

    A paper ``.pth`` is a pickle, so using one is an admin's recorded decision: ``trusted_by_id``,
    ``trusted_at`` and the file's ``trusted_sha256``. A worker then converts it once into
    safetensors weights (``converted_path``; ``conversion_status`` pending|done|failed, or revoked
    when the file's hash no longer matches) and jobs load only those. ``conversion_error`` says why
    a conversion failed or the trust was lost.
    """

    __tablename__ = "model"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str] = mapped_column(String(20), default="teacher")
    source: Mapped[str] = mapped_column(String(20))
    spec: Mapped[str] = mapped_column(Text)
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomy.id", ondelete="RESTRICT"), index=True)
    normalization_json: Mapped[str | None] = mapped_column(Text, default=None)
    provenance_json: Mapped[str] = mapped_column(Text, default="{}")
    checksum: Mapped[str | None] = mapped_column(String(64), default=None)
    trusted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    trusted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    trusted_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    trust_note: Mapped[str] = mapped_column(Text, default="")
    converted_path: Mapped[str | None] = mapped_column(Text, default=None)
    conversion_status: Mapped[str | None] = mapped_column(String(20), default=None)
    conversion_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """One job (or one shard of a job): status, progress, lease, pinned inputs, result, error."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_kind", "status", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    name: Mapped[str] = mapped_column(String(200), default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="CASCADE"), default=None, index=True
    )
    shard_index: Mapped[int | None] = mapped_column(Integer, default=None)
    shard_count: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[str] = mapped_column(String(40), default="default")
    progress_current: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset.id", ondelete="SET NULL"), default=None
    )
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"), default=None)
    mapping_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("mapping_version.id", ondelete="SET NULL"), default=None
    )
    mapping_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    approval_override: Mapped[str | None] = mapped_column(Text, default=None)
    output_dir: Mapped[str | None] = mapped_column(Text, default=None)
    result_json: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    finalize_claimed: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker_host: Mapped[str | None] = mapped_column(String(200), default=None)
    device: Mapped[str | None] = mapped_column(String(200), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class JobLog(Base):
    """One log line of a job; only the last ``JOB_LOG_LINES`` per job are kept."""

    __tablename__ = "job_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)


class LabelImportNumber(Base):
    """The version number of a ``label_import`` job among the label sets of its run (issue 14).

    The primary key (run, number) makes a number unique per run in the database, so two imports
    that race can never both be "version 2"; the loser's insert fails and it takes the next number
    (:func:`app.db.repositories_label_imports.claim_number`). A deleted version keeps its number
    taken (``job_id`` becomes NULL): numbers are never reused.
    """

    __tablename__ = "label_import_number"

    run_job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), unique=True, default=None
    )
