"""Label-level edits of a taxonomy and the guard data for them (services layer).

Added for the taxonomy pages (issue 5), on top of ``app.services.taxonomies``:
    label_usage(session, taxonomy_id, name) -> list[LabelUsage]   which mappings use a label (head versions)
    mappings_using(session, taxonomy_id) -> list[MappingRow]      every mapping with this taxonomy on a side
    recolor_label(session, taxonomy_id, *, position, color) -> LabelRow   allowed even while mappings use it
    rename_label / add_label / delete_label   via ``update_taxonomy`` (refused while mappings use it)

Colours never affect a mapping (edges name source labels and target class ids), so recolouring is
always allowed; renaming, adding and deleting change what edges refer to and stay guarded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Label as LabelRow
from app.db.models import Mapping as MappingRow
from app.db.models import Taxonomy as TaxonomyRow
from app.domain.errors import InvalidInput, NotFound
from app.domain.taxonomy import Label, normalize_color
from app.services import taxonomies as taxonomy_service


@dataclass(frozen=True, slots=True)
class LabelUsage:
    mapping_id: int
    mapping_name: str
    side: str  # "source" (the label name is in edges) or "target" (its class id is)
    version: int
    edge_count: int


def mappings_using(session: Session, taxonomy_id: int) -> list[MappingRow]:
    from app.services import mappings as mapping_service

    as_source, _ = mapping_service.list_mappings(session, limit=1000, source_taxonomy_id=taxonomy_id)
    as_target, _ = mapping_service.list_mappings(session, limit=1000, target_taxonomy_id=taxonomy_id)
    seen: dict[int, MappingRow] = {m.id: m for m in as_source + as_target}
    return sorted(seen.values(), key=lambda m: m.name)


def label_usage(session: Session, taxonomy_id: int, name: str) -> list[LabelUsage]:
    """Mappings whose current version has an edge from (source side) or to (target side) this label."""
    from app.services import mappings as mapping_service

    taxonomy = taxonomy_service.load_taxonomy(session, taxonomy_id)
    label = taxonomy.label_by_name(name)
    rows = mappings_using(session, taxonomy_id)
    heads = mapping_service.heads_of(session, rows)
    out = []
    for m in rows:
        head = heads.get(m.id)
        if head is None:
            continue
        edges = mapping_service.version_edges(head)
        if m.source_taxonomy_id == taxonomy_id and edges.targets_of(name):
            out.append(LabelUsage(m.id, m.name, "source", head.number, len(edges.targets_of(name))))
        if m.target_taxonomy_id == taxonomy_id and edges.sources_of(label.value):
            out.append(LabelUsage(m.id, m.name, "target", head.number, len(edges.sources_of(label.value))))
    return out


def _label_row(session: Session, taxonomy_id: int, position: int) -> LabelRow:
    for row in taxonomy_service.list_labels(session, taxonomy_id):
        if row.position == position:
            return row
    raise NotFound(f"taxonomy {taxonomy_id} has no label at position {position}", field="position")


def recolor_label(session: Session, taxonomy_id: int, *, position: int, color: str | None) -> LabelRow:
    row = _label_row(session, taxonomy_id, position)
    row.color = normalize_color(color or None)
    row.color_generated = False  # a person's choice now
    # the label row changed, not the taxonomy row: bump it so caches keyed on updated_at see it
    taxonomy_service.get_taxonomy(session, taxonomy_id).updated_at = utcnow()
    session.flush()
    return row


def _replace_labels(session: Session, taxonomy_id: int, labels: tuple[Label, ...]) -> TaxonomyRow:
    return taxonomy_service.update_taxonomy(session, taxonomy_id, labels=labels)


def rename_label(session: Session, taxonomy_id: int, *, position: int, name: str) -> TaxonomyRow:
    if not name:
        raise InvalidInput("a label name must not be empty", field="name")
    labels = list(taxonomy_service.load_taxonomy(session, taxonomy_id).labels)
    if not 0 <= position < len(labels):
        raise NotFound(f"taxonomy {taxonomy_id} has no label at position {position}", field="position")
    labels[position] = replace(labels[position], name=name)
    return _replace_labels(session, taxonomy_id, tuple(labels))


def add_label(session: Session, taxonomy_id: int, *, value: int, name: str, color: str | None) -> TaxonomyRow:
    labels = taxonomy_service.load_taxonomy(session, taxonomy_id).labels
    return _replace_labels(
        session, taxonomy_id, (*labels, Label(value=value, name=name, color=color or None))
    )


def delete_label(session: Session, taxonomy_id: int, *, position: int) -> TaxonomyRow:
    labels = list(taxonomy_service.load_taxonomy(session, taxonomy_id).labels)
    if not 0 <= position < len(labels):
        raise NotFound(f"taxonomy {taxonomy_id} has no label at position {position}", field="position")
    del labels[position]
    return _replace_labels(session, taxonomy_id, tuple(labels))
