"""Mapping services: versions per edit, stale edits, undo/restore, diff, import/export, review."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.domain.mapping import VOID
from app.services import mappings as service
from app.services import taxonomy_files
from tests import factories


def _head(session: Session, mapping_id: int):  # type: ignore[no-untyped-def]
    return service.current_version(session, mapping_id)


def test_create_mapping_writes_version_one(session: Session) -> None:
    mapping = factories.make_mapping(session)
    head = _head(session, mapping.id)
    assert head.number == 1 and head.status == "draft" and head.parent_id is None
    assert service.version_edges(head).targets_of("road") == (0,)


def test_target_must_be_a_class_list(session: Session) -> None:
    source = factories.make_taxonomy(session)
    with pytest.raises(InvalidInput):
        service.create_mapping(session, name="m", source_taxonomy_id=source.id, target_taxonomy_id=source.id)


def test_toggle_creates_a_new_immutable_version(session: Session) -> None:
    mapping = factories.make_mapping(session)
    v1 = _head(session, mapping.id)
    v2 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="vegetation", target_id=2, base_version_id=v1.id
    )
    assert (v2.number, v2.parent_id) == (2, v1.id)
    assert ("vegetation", 2) in service.version_edges(v2).edges
    assert ("vegetation", 2) not in service.version_edges(v1).edges
    assert v2.content_hash == service.version_edges(v2).content_hash() != v1.content_hash
    v3 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="vegetation", target_id=2, base_version_id=v2.id
    )
    assert v3.content_hash == v1.content_hash


def test_stale_edit_is_refused_with_current_state(session: Session) -> None:
    mapping = factories.make_mapping(session)
    v1 = _head(session, mapping.id)
    v2 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="sky", target_id=VOID, base_version_id=v1.id
    )
    with pytest.raises(service.StaleVersion) as info:
        service.toggle_edge(
            session, mapping_id=mapping.id, source_name="road", target_id=1, base_version_id=v1.id
        )
    current = info.value.details["current_version"]
    assert current["number"] == v2.number and ["sky", VOID] in current["edges"]
    assert _head(session, mapping.id).id == v2.id


def test_base_hash_is_accepted_instead_of_an_id(session: Session) -> None:
    mapping = factories.make_mapping(session)
    v1 = _head(session, mapping.id)
    v2 = service.set_targets(
        session, mapping_id=mapping.id, source_name="road", target_ids=[0, 1], base_hash=v1.content_hash
    )
    assert service.version_edges(v2).targets_of("road") == (0, 1)
    with pytest.raises(service.StaleVersion):
        service.set_targets(
            session, mapping_id=mapping.id, source_name="road", target_ids=[], base_hash=v1.content_hash
        )


def test_edit_without_base_is_invalid(session: Session) -> None:
    mapping = factories.make_mapping(session)
    with pytest.raises(InvalidInput):
        service.toggle_edge(session, mapping_id=mapping.id, source_name="road", target_id=1)


def test_unknown_source_or_target_is_refused(session: Session) -> None:
    mapping = factories.make_mapping(session)
    head = _head(session, mapping.id)
    with pytest.raises(InvalidInput):
        service.toggle_edge(
            session, mapping_id=mapping.id, source_name="nope", target_id=1, base_version_id=head.id
        )
    with pytest.raises(InvalidInput):
        service.toggle_edge(
            session, mapping_id=mapping.id, source_name="road", target_id=9, base_version_id=head.id
        )
    assert _head(session, mapping.id).id == head.id


def test_no_op_edit_keeps_the_head(session: Session) -> None:
    mapping = factories.make_mapping(session)
    head = _head(session, mapping.id)
    same = service.set_targets(
        session, mapping_id=mapping.id, source_name="road", target_ids=[0], base_version_id=head.id
    )
    assert same.id == head.id


def test_undo_walks_back_and_restore_reinstates(session: Session) -> None:
    mapping = factories.make_mapping(session)
    v1 = _head(session, mapping.id)
    v2 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="vegetation", target_id=2, base_version_id=v1.id
    )
    v3 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="sky", target_id=3, base_version_id=v2.id
    )
    u1 = service.undo(session, mapping_id=mapping.id, base_version_id=v3.id)
    assert u1.content_hash == v2.content_hash and u1.number == 4
    u2 = service.undo(session, mapping_id=mapping.id, base_version_id=u1.id)
    assert u2.content_hash == v1.content_hash
    with pytest.raises(Conflict):
        service.undo(session, mapping_id=mapping.id, base_version_id=u2.id)
    r = service.restore_version(session, mapping_id=mapping.id, version_id=v3.id, base_version_id=u2.id)
    assert r.content_hash == v3.content_hash and r.restored_from_id == v3.id


def test_diff_between_versions(session: Session) -> None:
    mapping = factories.make_mapping(session)
    v1 = _head(session, mapping.id)
    v2 = service.set_targets(
        session, mapping_id=mapping.id, source_name="road", target_ids=[1], base_version_id=v1.id
    )
    diff = service.diff_versions(session, old_version_id=v1.id, new_version_id=v2.id)
    assert diff.added == (("road", 1),) and diff.removed == (("road", 0),)


def test_validation_report_names_unmapped_labels(session: Session) -> None:
    mapping = factories.make_mapping(session)
    report = service.validation_report(session, _head(session, mapping.id).id)
    assert "vegetation" in {f.source_name for f in report.by_code("unmapped_source")}


def test_review_flow_and_locking(session: Session) -> None:
    editor, _ = factories.make_user(session, role="editor")
    reviewer, _ = factories.make_user(session, role="reviewer")
    mapping = factories.make_mapping(session)
    head = _head(session, mapping.id)
    service.submit_for_review(session, version_id=head.id, author=editor, message="please")
    with pytest.raises(PermissionDenied):
        service.approve(session, version_id=head.id, reviewer=editor)
    service.approve(session, version_id=head.id, reviewer=reviewer, message="ok")
    assert head.status == "approved" and head.reviewed_by_id == reviewer.id
    for action in (service.reject, service.approve):
        with pytest.raises(Conflict):
            action(session, version_id=head.id, reviewer=reviewer)
    with pytest.raises(Conflict):
        service.submit_for_review(session, version_id=head.id, author=editor)
    kinds = [c.kind for c in service.list_comments(session, head.id)[0]]
    assert kinds == ["submit", "approve"]
    # Editing an approved head creates a new draft; the approved version stays as it was.
    v2 = service.toggle_edge(
        session, mapping_id=mapping.id, source_name="sky", target_id=2, base_version_id=head.id
    )
    assert v2.status == "draft" and head.status == "approved"
    assert (
        service.find_version_by_hash(session, mapping_id=mapping.id, content_hash=head.content_hash).id
        == head.id
    )


def test_approval_is_refused_while_validation_finds_errors(session: Session) -> None:
    reviewer, _ = factories.make_user(session, role="reviewer")
    source = factories.make_taxonomy(session)
    text = "trainId,name\n0,drivable,roadd\n255,void\n"  # 'roadd': an edge the import cannot store
    mapping = service.import_master_labels(session, text=text, source_taxonomy_id=source.id).mapping
    head = _head(session, mapping.id)
    service.submit_for_review(session, version_id=head.id, author=None)
    with pytest.raises(Conflict) as info:
        service.approve(session, version_id=head.id, reviewer=reviewer)
    assert info.value.details["validation"]["counts"]["error"] >= 1
    service.reject(session, version_id=head.id, reviewer=reviewer, message="typo")
    assert head.status == "rejected"


def test_comments_need_a_body(session: Session) -> None:
    mapping = factories.make_mapping(session)
    head = _head(session, mapping.id)
    with pytest.raises(InvalidInput):
        service.add_comment(session, version_id=head.id, author=None, body="  ")
    comment = service.add_comment(
        session, version_id=head.id, author=None, body="why void?", source_name="sky"
    )
    assert comment.source_name == "sky"


def test_every_reference_master_file_imports_and_round_trips(session: Session, reference_dir: Path) -> None:
    for folder in sorted(p for p in reference_dir.iterdir() if (p / "labels.csv").exists()):
        source = taxonomy_files.import_taxonomy(
            session,
            text=(folder / "labels.csv").read_text(encoding="utf-8"),
            fmt="labels_csv",
            name=folder.name,
        )
        for path in sorted(folder.glob("master_labels*.csv")):
            result = service.import_master_labels(
                session,
                text=path.read_text(encoding="utf-8"),
                source_taxonomy_id=source.id,
                target_name=path.stem,
            )
            exported = service.export_master_labels(session, version_id=result.version.id)
            again = service.import_master_labels(session, text=exported, mapping_id=result.mapping.id)
            assert again.version.content_hash == result.version.content_hash, path
            assert not again.target_created


def test_import_reuses_the_target_taxonomy(session: Session) -> None:
    source = factories.make_taxonomy(session)
    text = "trainId,name\n0,drivable,road,sidewalk\n1,sky,sky\n255,void,unlabeled\n"
    first = service.import_master_labels(session, text=text, source_taxonomy_id=source.id, target_name="t")
    second = service.import_master_labels(session, text=text, source_taxonomy_id=source.id, target_name="t")
    assert first.target_created and not second.target_created
    assert first.target_taxonomy.id == second.target_taxonomy.id
    assert first.mapping.id != second.mapping.id
    assert ("unlabeled", VOID) in service.version_edges(first.version).edges


def test_import_into_existing_mapping_checks_classes(session: Session) -> None:
    source = factories.make_taxonomy(session)
    text = "trainId,name\n0,drivable,road\n1,sky,sky\n255,void\n"
    first = service.import_master_labels(session, text=text, source_taxonomy_id=source.id)
    with pytest.raises(InvalidInput):
        service.import_master_labels(
            session, text="trainId,name\n0,other,road\n", mapping_id=first.mapping.id
        )
    newer = service.import_master_labels(
        session, text=text.replace("0,drivable,road", "0,drivable,road,sidewalk"), mapping_id=first.mapping.id
    )
    assert newer.version.number == 2 and not newer.mapping_created


def test_duplicate_entries_in_a_file_stay_in_the_report(session: Session) -> None:
    source = factories.make_taxonomy(session)
    text = "trainId,name\n0,drivable,road,road\n1,sky,sky\n255,void\n"
    result = service.import_master_labels(session, text=text, source_taxonomy_id=source.id)
    assert result.report.by_code("duplicate_entry")
    assert service.validation_report(session, result.version.id).by_code("duplicate_entry")
