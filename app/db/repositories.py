"""Query functions per aggregate (DB layer): the only place that builds ``select()``.

Each function takes the session first. ``page(...)`` helpers return ``(rows, total)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Select, func, or_, select, update
from sqlalchemy.orm import Session

from app.db.models import ApiToken, Label, Mapping, MappingVersion, ReviewComment, Taxonomy, User

T = TypeVar("T")


def _page(session: Session, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.limit(limit).offset(offset)))
    return rows, int(total)


# --- users and tokens -------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_name(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def page_users(session: Session, *, limit: int, offset: int) -> tuple[list[User], int]:
    return _page(session, select(User).order_by(User.name), limit=limit, offset=offset)


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def count_active_users_with_roles(session: Session, roles: Sequence[str]) -> int:
    stmt = select(func.count()).select_from(User).where(User.is_active.is_(True), User.role.in_(roles))
    return int(session.scalar(stmt) or 0)


def get_token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def list_tokens(session: Session, *, user_id: int, kind: str = "api") -> list[ApiToken]:
    stmt = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.kind == kind)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(stmt))


# --- taxonomies ---------------------------------------------------------------------------------


def get_taxonomy(session: Session, taxonomy_id: int) -> Taxonomy | None:
    return session.get(Taxonomy, taxonomy_id)


def get_taxonomy_by_name(session: Session, name: str) -> Taxonomy | None:
    return session.scalar(select(Taxonomy).where(Taxonomy.name == name))


def page_taxonomies(
    session: Session, *, limit: int, offset: int, query: str | None = None
) -> tuple[list[Taxonomy], int]:
    stmt = select(Taxonomy).order_by(Taxonomy.name)
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Taxonomy.name).like(pattern), func.lower(Taxonomy.description).like(pattern))
        )
    return _page(session, stmt, limit=limit, offset=offset)


def list_labels(session: Session, taxonomy_id: int) -> list[Label]:
    stmt = select(Label).where(Label.taxonomy_id == taxonomy_id).order_by(Label.position)
    return list(session.scalars(stmt))


def has_label_name(session: Session, taxonomy_id: int, name: str) -> bool:
    stmt = select(Label.id).where(Label.taxonomy_id == taxonomy_id, Label.name == name).limit(1)
    return session.scalar(stmt) is not None


def label_values(session: Session, taxonomy_id: int) -> set[int]:
    return set(session.scalars(select(Label.value).where(Label.taxonomy_id == taxonomy_id)))


def label_names(session: Session, taxonomy_id: int) -> set[str]:
    return set(session.scalars(select(Label.name).where(Label.taxonomy_id == taxonomy_id)))


def find_taxonomies_by_signature(session: Session, signature: str) -> list[Taxonomy]:
    stmt = select(Taxonomy).where(Taxonomy.class_signature == signature).order_by(Taxonomy.id)
    return list(session.scalars(stmt))


def list_class_list_taxonomies(session: Session, *, label_count: int) -> list[Taxonomy]:
    """Taxonomies that are class lists 0..N-1 with ``label_count`` classes, oldest first."""
    stmt = (
        select(Taxonomy)
        .where(Taxonomy.class_signature.is_not(None), Taxonomy.label_count == label_count)
        .order_by(Taxonomy.id)
    )
    return list(session.scalars(stmt))


def count_mappings_using(session: Session, taxonomy_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(Mapping)
        .where(or_(Mapping.source_taxonomy_id == taxonomy_id, Mapping.target_taxonomy_id == taxonomy_id))
    )
    return int(session.scalar(stmt) or 0)


# --- mappings and versions ------------------------------------------------------------------------


def get_mapping(session: Session, mapping_id: int) -> Mapping | None:
    return session.get(Mapping, mapping_id)


def get_mapping_by_name(session: Session, name: str) -> Mapping | None:
    return session.scalar(select(Mapping).where(Mapping.name == name))


def page_mappings(
    session: Session,
    *,
    limit: int,
    offset: int,
    source_taxonomy_id: int | None = None,
    target_taxonomy_id: int | None = None,
    query: str | None = None,
) -> tuple[list[Mapping], int]:
    stmt = select(Mapping).order_by(Mapping.name)
    if source_taxonomy_id is not None:
        stmt = stmt.where(Mapping.source_taxonomy_id == source_taxonomy_id)
    if target_taxonomy_id is not None:
        stmt = stmt.where(Mapping.target_taxonomy_id == target_taxonomy_id)
    if query:
        stmt = stmt.where(func.lower(Mapping.name).like(f"%{query.lower()}%"))
    return _page(session, stmt, limit=limit, offset=offset)


def get_version(session: Session, version_id: int) -> MappingVersion | None:
    return session.get(MappingVersion, version_id)


def get_version_by_number(session: Session, mapping_id: int, number: int) -> MappingVersion | None:
    stmt = select(MappingVersion).where(
        MappingVersion.mapping_id == mapping_id, MappingVersion.number == number
    )
    return session.scalar(stmt)


def touch_mapping(session: Session, mapping_id: int, now: datetime) -> bool:
    """``UPDATE mapping SET updated_at = :now WHERE id = :id``: the row lock that serialises edits.

    False when the mapping does not exist (any more).
    """
    stmt = (
        update(Mapping)
        .where(Mapping.id == mapping_id)
        .values(updated_at=now)
        .execution_options(synchronize_session="evaluate")
    )
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount == 1


def set_version_status(session: Session, version_id: int, *, expected: str, values: dict[str, Any]) -> bool:
    """Compare-and-set: ``UPDATE mapping_version SET ... WHERE id = :id AND status = :expected``.

    False when the row's status was no longer ``expected`` (a concurrent change won). The ORM
    object in the session is not touched; the caller refreshes it.
    """
    stmt = (
        update(MappingVersion)
        .where(MappingVersion.id == version_id, MappingVersion.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount == 1


def get_head_version(session: Session, mapping_id: int) -> MappingVersion | None:
    stmt = (
        select(MappingVersion)
        .where(MappingVersion.mapping_id == mapping_id)
        .order_by(MappingVersion.number.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def get_heads(session: Session, mapping_ids: Sequence[int]) -> dict[int, MappingVersion]:
    """Head version per mapping id, in one query (for list pages)."""
    if not mapping_ids:
        return {}
    latest = (
        select(MappingVersion.mapping_id, func.max(MappingVersion.number).label("n"))
        .where(MappingVersion.mapping_id.in_(mapping_ids))
        .group_by(MappingVersion.mapping_id)
        .subquery()
    )
    stmt = select(MappingVersion).join(
        latest, (MappingVersion.mapping_id == latest.c.mapping_id) & (MappingVersion.number == latest.c.n)
    )
    return {v.mapping_id: v for v in session.scalars(stmt)}


def find_versions_by_hash(
    session: Session, content_hash: str, mapping_id: int | None = None
) -> list[MappingVersion]:
    stmt = select(MappingVersion).where(MappingVersion.content_hash == content_hash)
    if mapping_id is not None:
        stmt = stmt.where(MappingVersion.mapping_id == mapping_id)
    return list(session.scalars(stmt.order_by(MappingVersion.id)))


def page_versions(
    session: Session, mapping_id: int, *, limit: int, offset: int, status: str | None = None
) -> tuple[list[MappingVersion], int]:
    stmt = (
        select(MappingVersion)
        .where(MappingVersion.mapping_id == mapping_id)
        .order_by(MappingVersion.number.desc())
    )
    if status is not None:
        stmt = stmt.where(MappingVersion.status == status)
    return _page(session, stmt, limit=limit, offset=offset)


def page_comments(
    session: Session, version_id: int, *, limit: int, offset: int
) -> tuple[list[ReviewComment], int]:
    stmt = (
        select(ReviewComment)
        .where(ReviewComment.version_id == version_id)
        .order_by(ReviewComment.created_at, ReviewComment.id)
    )
    return _page(session, stmt, limit=limit, offset=offset)


def user_names(session: Session, user_ids: Sequence[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()
    return {int(i): str(n) for i, n in rows}
