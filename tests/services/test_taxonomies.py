"""Taxonomy services: import/export round trips, reuse of class lists, guards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, NotFound
from app.services import taxonomies as service
from app.services import taxonomy_files
from tests import factories


def test_create_and_load_keeps_label_order_and_fields(session: Session) -> None:
    row = factories.make_taxonomy(session, name="city")
    loaded = service.load_taxonomy(session, row.id)
    assert loaded.names == tuple(lb.name for lb in factories.SOURCE_LABELS)
    assert loaded.label_by_name("license plate").value == -1
    assert row.label_count == len(factories.SOURCE_LABELS)


def test_duplicate_name_is_a_conflict(session: Session) -> None:
    factories.make_taxonomy(session, name="city")
    with pytest.raises(Conflict):
        factories.make_taxonomy(session, name="city")


def test_every_reference_labels_csv_imports_and_round_trips(session: Session, reference_dir: Path) -> None:
    for path in sorted(reference_dir.glob("*/labels*.csv")):
        name = f"{path.parent.name}/{path.stem}"
        row = taxonomy_files.import_taxonomy(
            session, text=path.read_text(encoding="utf-8"), fmt="labels_csv", name=name
        )
        exported = taxonomy_files.export_taxonomy(session, row.id, fmt="labels_csv")
        again = taxonomy_files.parse_taxonomy(text=exported, fmt="labels_csv", name=name)
        # the file as given: colours generated on import (for labels it left blank) stay out of it
        assert again.labels == service.to_domain(session, row, generated=False).labels


def test_json_round_trip(session: Session) -> None:
    row = factories.make_taxonomy(session, name="city")
    text = taxonomy_files.export_taxonomy(session, row.id, fmt="json")
    parsed = taxonomy_files.parse_taxonomy(text=text, fmt="json", name="copy")
    assert parsed.labels == service.load_taxonomy(session, row.id).labels


def test_bad_json_names_line_and_column(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        taxonomy_files.import_taxonomy(session, text='{"name": "x",\n "labels": [}', fmt="json")
    assert info.value.row == 2


def test_find_or_create_class_list_reuses_identical_list(session: Session) -> None:
    first, created = service.find_or_create_class_list(session, classes=((0, "a"), (1, "b")), name="ab")
    again, created_again = service.find_or_create_class_list(
        session, classes=((0, "a"), (1, "b")), name="other"
    )
    other, created_other = service.find_or_create_class_list(session, classes=((0, "a"), (1, "c")), name="ab")
    assert created and not created_again and created_other
    assert again.id == first.id
    assert other.name == "ab (2)"


def test_delete_is_refused_while_a_mapping_uses_the_taxonomy(session: Session) -> None:
    mapping = factories.make_mapping(session)
    with pytest.raises(Conflict):
        service.delete_taxonomy(session, mapping.source_taxonomy_id)
    service.get_taxonomy(session, mapping.source_taxonomy_id)


def test_labels_cannot_change_while_used(session: Session) -> None:
    mapping = factories.make_mapping(session)
    from app.domain.taxonomy import Label

    with pytest.raises(Conflict):
        service.update_taxonomy(session, mapping.source_taxonomy_id, labels=(Label(0, "x"),))
    renamed = service.update_taxonomy(session, mapping.source_taxonomy_id, name="renamed")
    assert renamed.name == "renamed"


def test_delete_unused_taxonomy(session: Session) -> None:
    row = factories.make_taxonomy(session)
    service.delete_taxonomy(session, row.id)
    with pytest.raises(NotFound):
        service.get_taxonomy(session, row.id)


def test_export_unknown_format_is_invalid(session: Session) -> None:
    row = factories.make_taxonomy(session)
    with pytest.raises(InvalidInput):
        taxonomy_files.export_taxonomy(session, row.id, fmt="xml")
    assert json.loads(taxonomy_files.export_taxonomy(session, row.id, fmt="json"))["name"] == row.name
