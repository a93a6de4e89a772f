"""Initial schema: users, API tokens, taxonomies, labels, mappings, mapping versions, review comments.

Revision ID: 20261125_initial
Revises:
Create Date: 2026-11-25 22:23:36.490317
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxonomy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("class_signature", sa.String(length=64), nullable=True),
        sa.Column("label_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy")),
        sa.UniqueConstraint("name", name=op.f("uq_taxonomy_name")),
    )
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taxonomy_class_signature"), ["class_signature"], unique=False)

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("name", name=op.f("uq_user_name")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_api_token_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("train_id", sa.Integer(), nullable=True),
        sa.Column("has_instances", sa.Boolean(), nullable=True),
        sa.Column("ignore", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"], ["taxonomy.id"], name=op.f("fk_label_taxonomy_id_taxonomy"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label")),
        sa.UniqueConstraint("taxonomy_id", "position", name=op.f("uq_label_taxonomy_id_position")),
    )
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_label_taxonomy_id"), ["taxonomy_id"], unique=False)

    op.create_table(
        "mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("target_taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_taxonomy_id"],
            ["taxonomy.id"],
            name=op.f("fk_mapping_source_taxonomy_id_taxonomy"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["target_taxonomy_id"],
            ["taxonomy.id"],
            name=op.f("fk_mapping_target_taxonomy_id_taxonomy"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping")),
        sa.UniqueConstraint("name", name=op.f("uq_mapping_name")),
    )
    with op.batch_alter_table("mapping", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mapping_source_taxonomy_id"), ["source_taxonomy_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mapping_target_taxonomy_id"), ["target_taxonomy_id"], unique=False
        )

    op.create_table(
        "mapping_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mapping_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("restored_from_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("edges_json", sa.Text(), nullable=False),
        sa.Column("edge_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("import_findings_json", sa.Text(), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_mapping_version_author_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["mapping_id"],
            ["mapping.id"],
            name=op.f("fk_mapping_version_mapping_id_mapping"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["mapping_version.id"],
            name=op.f("fk_mapping_version_parent_id_mapping_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["restored_from_id"],
            ["mapping_version.id"],
            name=op.f("fk_mapping_version_restored_from_id_mapping_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["user.id"],
            name=op.f("fk_mapping_version_reviewed_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping_version")),
        sa.UniqueConstraint("mapping_id", "number", name=op.f("uq_mapping_version_mapping_id_number")),
    )
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.create_index("ix_mapping_version_content_hash", ["content_hash"], unique=False)

    op.create_table(
        "review_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_review_comment_author_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["mapping_version.id"],
            name=op.f("fk_review_comment_version_id_mapping_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_comment")),
    )
    with op.batch_alter_table("review_comment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_comment_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_comment_version_id"))

    op.drop_table("review_comment")
    with op.batch_alter_table("mapping_version", schema=None) as batch_op:
        batch_op.drop_index("ix_mapping_version_content_hash")

    op.drop_table("mapping_version")
    with op.batch_alter_table("mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mapping_target_taxonomy_id"))
        batch_op.drop_index(batch_op.f("ix_mapping_source_taxonomy_id"))

    op.drop_table("mapping")
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_label_taxonomy_id"))

    op.drop_table("label")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user")
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxonomy_class_signature"))

    op.drop_table("taxonomy")
