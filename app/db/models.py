"""ORM tables (DB layer): users and tokens, taxonomies and labels, mappings, versions, comments.

Mapping versions are immutable rows. Their edges are stored as canonical JSON (a sorted list of
``[source_name, target_id]`` pairs) so that a new version per edit is one small INSERT, not a
rewrite of hundreds of edge rows; ``content_hash`` comes from ``app.domain.mapping``.
Relationships are not declared: repositories load what they need explicitly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token (kind ``api``) or a one-time login token (kind ``login``); only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10), default="api")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Taxonomy(Base):
    __tablename__ = "taxonomy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # sha256 of the canonical (id, name) class list when values are 0..N-1, else NULL;
    # lets a master_labels import reuse an identical target taxonomy with one indexed lookup.
    class_signature: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    label_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The imported labels.csv as uploaded: exported unchanged while the labels still equal it.
    original_text: Mapped[str | None] = mapped_column(Text, default=None, deferred=True)


class Label(Base):
    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("taxonomy_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomy.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str | None] = mapped_column(String(7), default=None)
    # True while ``color`` is the palette made on import (the file gave none), until a person sets one
    color_generated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    category_id: Mapped[int | None] = mapped_column(Integer, default=None)
    train_id: Mapped[int | None] = mapped_column(Integer, default=None)
    has_instances: Mapped[bool | None] = mapped_column(Boolean, default=None)
    ignore: Mapped[bool] = mapped_column(Boolean, default=False)


class Mapping(Base):
    __tablename__ = "mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source_taxonomy_id: Mapped[int] = mapped_column(
        ForeignKey("taxonomy.id", ondelete="RESTRICT"), index=True
    )
    target_taxonomy_id: Mapped[int] = mapped_column(
        ForeignKey("taxonomy.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MappingVersion(Base):
    """One immutable snapshot of a mapping's edges; the highest ``number`` is the head."""

    __tablename__ = "mapping_version"
    __table_args__ = (
        UniqueConstraint("mapping_id", "number"),
        Index("ix_mapping_version_content_hash", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("mapping.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("mapping_version.id", ondelete="SET NULL"), default=None
    )
    restored_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("mapping_version.id", ondelete="SET NULL"), default=None
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    message: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    edges_json: Mapped[str] = mapped_column(Text)
    edge_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # Findings only the imported file showed (e.g. a name listed twice in a row), as JSON.
    import_findings_json: Mapped[str | None] = mapped_column(Text, default=None)
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # True when the approver authored the version (allowed only with the four-eyes rule off).
    self_approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The imported master_labels CSV as uploaded (versions made by an import): exported unchanged.
    original_text: Mapped[str | None] = mapped_column(Text, default=None, deferred=True)


class ReviewComment(Base):
    """A comment on a version (optionally about one source label), or a review-action record."""

    __tablename__ = "review_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("mapping_version.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="comment")
    source_name: Mapped[str | None] = mapped_column(String(200), default=None)
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuggestionRejection(Base):
    """A suggested edge someone rejected for one mapping: not suggested there again (issue 15)."""

    __tablename__ = "suggestion_rejection"
    __table_args__ = (UniqueConstraint("mapping_id", "source_name", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("mapping.id", ondelete="CASCADE"))
    source_name: Mapped[str] = mapped_column(String(200))
    target_id: Mapped[int] = mapped_column(Integer)  # a class id or 255 (void)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageReview(Base):
    """A reviewer's decision on one image of a pseudo-label run (issue 12), keyed by job and image path.

    ``label_hash`` is the sha256 of the image's pseudo-label file when decided: a re-run that changes
    the label makes the decision stale. ``version`` grows by one per change (compare-and-set).
    """

    __tablename__ = "image_review"
    __table_args__ = (UniqueConstraint("job_id", "image"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    image: Mapped[str] = mapped_column(String(1000))
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    label_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
