"""Taxonomy use cases (services layer): list, read, create, rename, delete; files (import, export) are
:mod:`app.services.taxonomy_files`.

API (session first, keyword-only arguments; every function flushes and never commits):
    list_taxonomies(session, *, limit=50, offset=0, query=None) -> (list[TaxonomyRow], total)
    get_taxonomy(session, taxonomy_id) -> TaxonomyRow            (NotFound)
    get_taxonomy_by_name(session, name) -> TaxonomyRow           (NotFound)
    load_taxonomy(session, taxonomy_id) -> domain Taxonomy       (labels in order)
    to_domain(session, row) -> domain Taxonomy
    create_taxonomy(session, *, taxonomy, original_text=None) -> TaxonomyRow  (Conflict on duplicate name)
    update_taxonomy(session, taxonomy_id, *, name=None, description=None, labels=None) -> TaxonomyRow
        labels can only be replaced while no mapping uses the taxonomy (Conflict otherwise)
    delete_taxonomy(session, taxonomy_id) -> None                (Conflict while mappings use it)
    find_or_create_class_list(session, *, classes, name, exact_name=False) -> (TaxonomyRow, created: bool)

``TaxonomyRow`` is the ORM row ``app.db.models.Taxonomy`` (attributes id, name, description,
label_count, created_at, updated_at); ``LabelRow`` rows come from :func:`list_labels`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.base import utcnow
from app.db.models import Label as LabelRow
from app.db.models import Taxonomy as TaxonomyRow
from app.domain.errors import Conflict, NotFound
from app.domain.palettes import IGNORE_COLOR, generated_colors, reference_palette
from app.domain.taxonomy import (
    MAX_TAXONOMY_NAME,
    Label,
    Taxonomy,
    check_labels_text,
    check_taxonomy_text,
    check_text,
    class_list_taxonomy,
)
from app.services.limits import limits_of


def class_signature(taxonomy: Taxonomy) -> str | None:
    """sha256 of the (id, name) class list when ``taxonomy`` is a class list 0..N-1, else None."""
    if not taxonomy.is_class_list():
        return None
    text = json.dumps(list(taxonomy.class_list()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def list_taxonomies(
    session: Session, *, limit: int = 50, offset: int = 0, query: str | None = None
) -> tuple[list[TaxonomyRow], int]:
    """A page of taxonomies ordered by name, and the total count."""
    return repo.page_taxonomies(session, limit=limit, offset=offset, query=query)


def get_taxonomy(session: Session, taxonomy_id: int) -> TaxonomyRow:
    row = repo.get_taxonomy(session, taxonomy_id)
    if row is None:
        raise NotFound(f"taxonomy {taxonomy_id} does not exist", field="taxonomy_id")
    return row


def get_taxonomy_by_name(session: Session, name: str) -> TaxonomyRow:
    row = repo.get_taxonomy_by_name(session, name)
    if row is None:
        raise NotFound(f"taxonomy {name!r} does not exist", field="name")
    return row


def list_labels(session: Session, taxonomy_id: int) -> list[LabelRow]:
    """The label rows of a taxonomy, in file order."""
    get_taxonomy(session, taxonomy_id)
    return repo.list_labels(session, taxonomy_id)


def to_domain(session: Session, row: TaxonomyRow, *, generated: bool = True) -> Taxonomy:
    """The domain ``Taxonomy`` of a stored row (``generated=False``: without generated colours)."""
    labels = tuple(
        Label(
            value=lb.value,
            name=lb.name,
            color=lb.color if generated or not lb.color_generated else None,
            category=lb.category,
            ignore=lb.ignore,
            train_id=lb.train_id,
            category_id=lb.category_id,
            has_instances=lb.has_instances,
        )
        for lb in repo.list_labels(session, row.id)
    )
    return Taxonomy(name=row.name, labels=labels, description=row.description)


def load_taxonomy(session: Session, taxonomy_id: int, *, generated: bool = True) -> Taxonomy:
    """The stored taxonomy; ``generated=False`` leaves out generated colours (label decoding: a
    colour-coded label image is read with the dataset's real colours, never invented ones)."""
    return to_domain(session, get_taxonomy(session, taxonomy_id), generated=generated)


def with_generated_colors(
    labels: tuple[Label, ...], *, keep: frozenset[tuple[int, str]] = frozenset()
) -> tuple[tuple[Label, ...], frozenset[int]]:
    """Labels without a colour get one (ignored labels black, the others a generated palette).

    Returns the labels and the positions whose colour is generated: those filled here, and those
    whose (value, colour) is in ``keep`` (colours generated before, carried through a label edit).
    """
    given = [lb.color for lb in labels if lb.color is not None]
    fill = generated_colors([lb.color is None and not lb.ignore for lb in labels], taken=given)
    out, generated = [], set()
    for position, lb in enumerate(labels):
        if lb.color is None:
            lb = replace(lb, color=fill.get(position, IGNORE_COLOR))
            generated.add(position)
        elif (lb.value, lb.color) in keep:
            generated.add(position)
        out.append(lb)
    return tuple(out), frozenset(generated)


def _add_labels(
    session: Session, row: TaxonomyRow, labels: Iterable[Label], generated: frozenset[int] = frozenset()
) -> None:
    for position, lb in enumerate(labels):
        session.add(
            LabelRow(
                taxonomy_id=row.id,
                position=position,
                value=lb.value,
                name=lb.name,
                color=lb.color,
                color_generated=position in generated,
                category=lb.category,
                category_id=lb.category_id,
                train_id=lb.train_id,
                has_instances=lb.has_instances,
                ignore=lb.ignore,
            )
        )


def _check_name_free(session: Session, name: str, *, except_id: int | None = None) -> None:
    existing = repo.get_taxonomy_by_name(session, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(
            f"a taxonomy named {name!r} already exists",
            field="name",
            details={"taxonomy_id": existing.id},
        )


def _check_labels(session: Session, taxonomy: Taxonomy) -> None:
    """The label count and label name lengths against the session's limits (``InvalidInput``, 422)."""
    limits = limits_of(session)
    limits.check_label_count(len(taxonomy.labels), taxonomy=taxonomy.name)
    for lb in taxonomy.labels:
        limits.check_name(lb.name, what="label name", field="labels")


def create_taxonomy(session: Session, *, taxonomy: Taxonomy, original_text: str | None = None) -> TaxonomyRow:
    """Store a validated domain taxonomy with its labels (refused above the size limits).

    ``original_text``: the labels.csv it was parsed from, exported as it is while the labels equal it.
    Labels without a colour get a generated one, flagged ``color_generated``.
    """
    check_taxonomy_text(taxonomy)
    limits_of(session).check_name(taxonomy.name, what="taxonomy name")
    _check_labels(session, taxonomy)
    _check_name_free(session, taxonomy.name)
    row = TaxonomyRow(
        name=taxonomy.name,
        description=taxonomy.description,
        class_signature=class_signature(taxonomy),
        label_count=len(taxonomy.labels),
        original_text=original_text,
    )
    session.add(row)
    session.flush()
    labels, generated = with_generated_colors(taxonomy.labels)
    _add_labels(session, row, labels, generated)
    session.flush()
    return row


def update_taxonomy(
    session: Session,
    taxonomy_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    labels: tuple[Label, ...] | None = None,
) -> TaxonomyRow:
    """Rename, re-describe, or (while unused by mappings) replace the labels of a taxonomy."""
    row = get_taxonomy(session, taxonomy_id)
    new_name = row.name if name is None else name
    new_description = row.description if description is None else description
    current = to_domain(session, row)
    candidate = Taxonomy(
        name=new_name, labels=current.labels if labels is None else labels, description=new_description
    )
    if new_name != row.name:
        limits_of(session).check_name(new_name, what="taxonomy name")
        _check_name_free(session, new_name, except_id=row.id)
    # Only what changes is checked, so rows stored before the text rules stay editable.
    if name is not None:
        check_text(new_name, "name", MAX_TAXONOMY_NAME)
    if labels is not None:
        check_labels_text(labels)
    if labels is not None and candidate.labels != current.labels:
        _check_labels(session, candidate)
        used = repo.count_mappings_using(session, row.id)
        if used:
            raise Conflict(
                f"taxonomy {row.name!r} is used by {used} mapping(s); its labels cannot change",
                field="labels",
                details={"mapping_count": used},
            )
        keep = frozenset(
            (lb.value, lb.color or "") for lb in repo.list_labels(session, row.id) if lb.color_generated
        )
        for old in repo.list_labels(session, row.id):
            session.delete(old)
        session.flush()
        labels, generated = with_generated_colors(candidate.labels, keep=keep)
        _add_labels(session, row, labels, generated)
        row.label_count = len(candidate.labels)
        row.class_signature = class_signature(candidate)
        row.updated_at = (
            utcnow()
        )  # the labels changed even if the row's own columns did not (caches key on it)
    row.name = new_name
    row.description = new_description
    session.flush()
    return row


def delete_taxonomy(session: Session, taxonomy_id: int) -> None:
    """Delete a taxonomy and its labels; refused while a mapping refers to it."""
    row = get_taxonomy(session, taxonomy_id)
    used = repo.count_mappings_using(session, row.id)
    if used:
        raise Conflict(
            f"taxonomy {row.name!r} is used by {used} mapping(s); delete those first",
            details={"mapping_count": used},
        )
    session.delete(row)
    session.flush()


def find_or_create_class_list(
    session: Session,
    *,
    classes: tuple[tuple[int, str], ...],
    name: str,
    description: str = "",
    exact_name: bool = False,
) -> tuple[TaxonomyRow, bool]:
    """Reuse a stored taxonomy with exactly this (id, name) class list, or create one.

    Among identical class lists the one called ``name`` is preferred. A new taxonomy gets ``name``;
    when that name is taken by another class list it gets ``name (2)``, ``name (3)``, ..., or, with
    ``exact_name`` (a name the user gave), the import is refused (409, field ``target_name``).
    A new taxonomy whose classes are the paper's Cityscapes, Mapillary or offroad list gets the
    reference colours (``app.domain.palettes``).
    """
    candidate = class_list_taxonomy(name, classes, description)
    signature = class_signature(candidate)
    assert signature is not None  # a class list always has one
    same = [
        row
        for row in repo.find_taxonomies_by_signature(session, signature)
        if to_domain(session, row).class_list() == candidate.class_list()
    ]
    if same:
        return next((row for row in same if row.name == name), same[0]), False
    taken = repo.get_taxonomy_by_name(session, name)
    if exact_name and taken is not None:
        raise Conflict(
            f"a taxonomy named {name!r} already exists with a different class list; choose another "
            "target name",
            field="target_name",
            details={"taxonomy_id": taken.id},
        )
    unique = name
    n = 2
    while taken is not None:
        unique = f"{name} ({n})"
        n += 1
        taken = repo.get_taxonomy_by_name(session, unique)
    taxonomy = class_list_taxonomy(unique, classes, description)
    palette = reference_palette(classes)
    if palette is not None:  # the paper's Cityscapes / Mapillary / offroad classes: its colours
        colors = palette[1]
        labels = tuple(replace(lb, color=colors[lb.value]) for lb in taxonomy.labels)
        taxonomy = Taxonomy(name=taxonomy.name, labels=labels, description=taxonomy.description)
    return create_taxonomy(session, taxonomy=taxonomy), True
