"""An unedited import exports byte-identical (header, padding, void row name kept); an edited one
exports canonically. Over the authors' reference lists when ``../shared/reference-lists`` is there."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from app.domain.palettes import REFERENCE_PALETTES
from app.domain.reference_csv import format_labels_csv, parse_master_labels_csv
from app.services import mappings as service
from app.services import taxonomies as taxonomy_service
from app.services import taxonomy_files, taxonomy_labels
from tests import factories

LABELS = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,7,0,flat,x,False,False,#804080\n"
    "2,sky,23,10,sky,5,False,False,#4682B4\n"
)
# the authors' style: a padded header, padded rows, a void row named 'void--unlabeled'
MASTER = "trainId,name,,,\n0,drivable,road,,\n1,sky,sky,,\n255,void--unlabeled,unlabeled,,\n"


def test_unedited_imports_export_as_they_were_and_edited_ones_canonically(session: Session) -> None:
    row = taxonomy_files.import_taxonomy(session, text=LABELS, fmt="labels_csv", name="city")
    assert taxonomy_files.export_taxonomy(session, row.id, fmt="labels_csv") == LABELS
    result = service.import_master_labels(session, text=MASTER, source_taxonomy_id=row.id)
    assert service.export_master_labels(session, version_id=result.version.id) == MASTER
    again = service.import_master_labels(session, text=MASTER, mapping_id=result.mapping.id)
    assert again.version.id == result.version.id  # the same file again: no new version

    edited = service.toggle_edge(
        session,
        mapping_id=result.mapping.id,
        source_name="road",
        target_id=1,
        base_version_id=result.version.id,
    )
    canonical = service.export_master_labels(session, version_id=edited.id)
    assert canonical.startswith("trainId,name\n") and "255,void," in canonical
    assert parse_master_labels_csv(canonical).edges == service.version_edges(edited).edges
    assert service.export_master_labels(session, version_id=result.version.id) == MASTER  # v1 unchanged

    taxonomy_labels.recolor_label(session, row.id, position=1, color="#123456")
    exported = taxonomy_files.export_taxonomy(session, row.id, fmt="labels_csv")
    assert exported == format_labels_csv(taxonomy_service.load_taxonomy(session, row.id)) != LABELS


def test_an_import_restored_after_an_edit_exports_the_original_again(session: Session) -> None:
    source = factories.make_taxonomy(session)
    result = service.import_master_labels(session, text=MASTER, source_taxonomy_id=source.id)
    edited = service.toggle_edge(
        session,
        mapping_id=result.mapping.id,
        source_name="road",
        target_id=1,
        base_version_id=result.version.id,
    )
    restored = service.restore_version(
        session, mapping_id=result.mapping.id, version_id=result.version.id, base_version_id=edited.id
    )
    assert restored.number == 3
    assert service.export_master_labels(session, version_id=restored.id) == MASTER


def test_every_reference_file_exports_byte_identical(session: Session, reference_dir: Path) -> None:
    checked = 0
    for folder in sorted(p for p in reference_dir.iterdir() if (p / "labels.csv").is_file()):
        text = (folder / "labels.csv").read_text(encoding="utf-8")
        source = taxonomy_files.import_taxonomy(session, text=text, fmt="labels_csv", name=folder.name)
        assert taxonomy_files.export_taxonomy(session, source.id, fmt="labels_csv") == text, folder
        for path in sorted(folder.glob("master_labels*.csv")):
            master = path.read_text(encoding="utf-8")
            result = service.import_master_labels(session, text=master, source_taxonomy_id=source.id)
            assert service.export_master_labels(session, version_id=result.version.id) == master, path
            checked += 1
    assert checked == len(
        [p for p in reference_dir.glob("*/master_labels*.csv") if (p.parent / "labels.csv").is_file()]
    )


def test_a_reference_target_class_list_gets_the_papers_colours(session: Session) -> None:
    source = factories.make_taxonomy(session)
    rows = [
        f"{i},{name},road" if i == 0 else f"{i},{name}"
        for i, (name, _) in enumerate(REFERENCE_PALETTES["offroad"])
    ]
    text = "trainId,name\n" + "\n".join(rows) + "\n255,void,unlabeled\n"
    result = service.import_master_labels(
        session, text=text, source_taxonomy_id=source.id, target_name="offroad"
    )
    assert result.target_created
    target = taxonomy_service.load_taxonomy(session, result.target_taxonomy.id)
    assert [lb.color for lb in target.labels] == [c for _, c in REFERENCE_PALETTES["offroad"]]
    other = service.import_master_labels(session, text=MASTER, source_taxonomy_id=source.id)
    stored = taxonomy_service.list_labels(session, other.target_taxonomy.id)
    assert all(lb.color is not None and lb.color_generated for lb in stored)  # generated, not the paper's
