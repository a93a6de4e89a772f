"""Test factories: plain functions that create rows through the services (session first)."""

from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from app.db.models import Mapping, Taxonomy, User
from app.domain.taxonomy import Label
from app.domain.taxonomy import Taxonomy as DomainTaxonomy
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service

_seq = count(1)

SOURCE_LABELS = (
    Label(0, "unlabeled", "#000000", "void", True),
    Label(7, "road", "#804080", "flat"),
    Label(8, "sidewalk", "#f423e8", "flat"),
    Label(11, "building", "#464646", "construction"),
    Label(21, "vegetation", "#6b8e23", "nature"),
    Label(23, "sky", "#4682b4", "sky"),
    Label(-1, "license plate", "#00008e", "vehicle", True),
)
TARGET_CLASSES = ((0, "drivable"), (1, "obstacle"), (2, "vegetation"), (3, "sky"))


def make_user(session: Session, *, role: str = "editor", name: str | None = None) -> tuple[User, str]:
    """A user and the plaintext of a fresh API token."""
    user = user_service.create_user(session, name=name or f"user{next(_seq)}", role=role)
    _, token = user_service.create_api_token(session, user=user, name="test")
    return user, token


def make_taxonomy(
    session: Session, *, name: str | None = None, labels: tuple[Label, ...] = SOURCE_LABELS
) -> Taxonomy:
    taxonomy = DomainTaxonomy(name=name or f"source-{next(_seq)}", labels=labels)
    return taxonomy_service.create_taxonomy(session, taxonomy=taxonomy)


def make_class_list(
    session: Session, *, name: str | None = None, classes: tuple[tuple[int, str], ...] = TARGET_CLASSES
) -> Taxonomy:
    labels = tuple(Label(i, n) for i, n in classes)
    return make_taxonomy(session, name=name or f"target-{next(_seq)}", labels=labels)


def make_mapping(
    session: Session,
    *,
    source: Taxonomy | None = None,
    target: Taxonomy | None = None,
    edges: tuple[tuple[str, int], ...] = (("road", 0), ("sidewalk", 0), ("building", 1), ("sky", 3)),
    name: str | None = None,
    author: User | None = None,
) -> Mapping:
    source = source or make_taxonomy(session)
    target = target or make_class_list(session)
    return mapping_service.create_mapping(
        session,
        name=name or f"mapping-{next(_seq)}",
        source_taxonomy_id=source.id,
        target_taxonomy_id=target.id,
        edges=edges,
        author=author,
    )
