"""Every ``labels*.csv`` and ``master_labels*.csv`` of the authors' reference lists imports unedited.

Reads ``../shared/reference-lists`` (one folder per dataset; skipped visibly when absent). File
counts come from the folder, not fixed numbers. The allowed target set of every source label is
compared with :func:`authors_allowed_sets`, a literal re-implementation of the authors' parsing.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import pytest

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID
from app.domain.priors import compile_priors
from app.domain.reference_csv import (
    parse_labels_csv,
    parse_master_labels_csv,
    read_labels_csv,
    target_taxonomy_from_master,
)
from app.domain.taxonomy import NO_PIXEL
from app.domain.validation import validate_mapping


def _files(reference_dir: Path, pattern: str) -> list[Path]:
    """``DATASET/<pattern>`` and, as in the authors' repository, ``DATASET/lists/<pattern>``."""
    return sorted([*reference_dir.glob(f"*/{pattern}"), *reference_dir.glob(f"*/lists/{pattern}")])


def _file(reference_dir: Path, dataset: str, name: str) -> Path:
    flat = reference_dir / dataset / name
    return flat if flat.is_file() else reference_dir / dataset / "lists" / name


def _label_files(reference_dir: Path) -> list[Path]:
    return _files(reference_dir, "labels*.csv")


def _master_files(reference_dir: Path) -> list[Path]:
    return _files(reference_dir, "master_labels*.csv")


def _labels_for(master: Path) -> Path:
    """``master_labels_old.csv`` goes with ``labels_old.csv``; every other file with ``labels.csv``."""
    return master.parent / ("labels_old.csv" if master.stem.endswith("_old") else "labels.csv")


def authors_allowed_sets(labels_text: str, master_text: str) -> dict[int, set[int]]:
    """Pixel id -> allowed master ids, as the authors' ``LabelMapper`` computes them.

    A literal re-implementation of ``LabelMapper._parse_master_labels_csv``,
    ``_parse_labels_csv``, ``_get_id2master_label`` and ``_get_id2master_id`` in ``utils.py`` of
    UniBwTAS/data-priors (commit 3c08b51): a master row's source cells extend a per-name list of
    master *names*, each name is turned back into an id by name, every ``labels.csv`` row is keyed
    by its ``id`` (a later row with the same id wins), and a label in no row gets ``['void']``.
    """
    mapping_dict: dict[str, list[str]] = {}
    category_label2id: dict[str, int] = {}
    reader = csv.reader(io.StringIO(master_text, newline=""))
    next(reader)  # Skip the header row
    for row in reader:
        desired_id = int(row[0])
        desired_name = row[1]
        category_label2id[desired_name] = desired_id
        for wrong_name in row[2:]:
            if wrong_name:
                if wrong_name in mapping_dict:
                    mapping_dict[wrong_name] += [desired_name]
                else:
                    mapping_dict[wrong_name] = [desired_name]
    data_dict: dict[int, str] = {}
    for lrow in csv.DictReader(io.StringIO(labels_text, newline="")):
        data_dict[int(lrow["id"])] = lrow["name"]
    id2master_label = {}
    for k, v in data_dict.items():
        if v in mapping_dict:  # noqa: SIM401 (kept as the authors wrote it)
            id2master_label[k] = mapping_dict[v]
        else:
            id2master_label[k] = ["void"]
    return {k: {category_label2id[i] for i in v} for k, v in id2master_label.items()}


def _unilabel_allowed_sets(labels_text: str, master_text: str, name: str) -> dict[int, set[int]]:
    source = parse_labels_csv(labels_text, name)
    master = parse_master_labels_csv(master_text)
    target = target_taxonomy_from_master(master, "target")
    priors = compile_priors(master.mapping, source, target)
    n = priors.num_classes
    return {
        lb.value: {VOID if c == n else int(c) for c in priors.allowed[lb.value].nonzero()[0]}
        for lb in source.labels
        if lb.value != NO_PIXEL
    }


def test_the_folder_holds_label_and_mapping_files(reference_dir: Path) -> None:
    datasets = [p for p in reference_dir.iterdir() if p.is_dir()]
    with_labels = [
        d for d in datasets if (d / "labels.csv").is_file() or (d / "lists" / "labels.csv").is_file()
    ]
    assert with_labels == datasets, "every dataset folder has a labels.csv"
    assert _master_files(reference_dir), "no master_labels*.csv found"


def test_every_labels_file_imports_with_its_defects_as_warnings(reference_dir: Path) -> None:
    files = _label_files(reference_dir)
    assert len(files) >= len([p for p in reference_dir.iterdir() if p.is_dir()])
    for path in files:
        text = path.read_text(encoding="utf-8")
        result = read_labels_csv(text, path.parent.name)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = rows[0]
        # independent count: every non-empty categoryId that is not an integer is a junk warning
        cat = header.index("categoryId") if "categoryId" in header else None
        junk = set()
        for r, row in enumerate(rows[1:], start=2):
            if cat is not None and len(row) > cat and row[cat].strip():
                try:
                    int(row[cat])
                except ValueError:
                    junk.add((r, cat + 1))
        assert {(f.row, f.column) for f in result.findings if f.code == "junk_cell"} == junk, path
        # independent count: names given to several rows, each warning naming all their rows
        where: dict[str, list[int]] = defaultdict(list)
        for r, row in enumerate(rows[1:], start=2):
            if any(c.strip() for c in row):
                where[row[header.index("name")]].append(r)
        dups = {n: rs for n, rs in where.items() if len(rs) > 1}
        found = {f.source_name: f for f in result.findings if f.code == "duplicate_label_name"}
        assert set(found) == set(dups), path
        for name, rs in dups.items():
            assert f"file rows {', '.join(map(str, rs))}" in found[name].message
        assert all(f.severity == "warning" for f in result.findings)
        assert len(result.taxonomy.labels) == len(sum(where.values(), []))


def test_the_known_defects_are_named(reference_dir: Path) -> None:
    def findings(dataset: str) -> list[tuple[str, int | None, int | None]]:
        text = _file(reference_dir, dataset, "labels.csv").read_text(encoding="utf-8")
        return [(f.code, f.row, f.column) for f in read_labels_csv(text, dataset).findings]

    coco = findings("coco")
    assert ("junk_cell", 4, 6) in coco  # car: categoryId 'x'
    assert ("junk_cell", 6, 6) in coco  # airplane: categoryId 'e'
    camvid = read_labels_csv(_file(reference_dir, "CamVid", "labels.csv").read_text(), "CamVid")
    (bicyclist,) = camvid.findings
    assert bicyclist.source_name == "Bicyclist"
    assert "file rows 4, 5" in bicyclist.message and "ids 2, 3" in bicyclist.message
    rugd = _file(reference_dir, "rugd", "labels.csv")
    if rugd.is_file():
        assert [f.source_name for f in read_labels_csv(rugd.read_text(), "rugd").findings] == ["rock_bed"]


def test_a_mapping_cell_naming_a_duplicated_label_applies_to_all_its_ids(reference_dir: Path) -> None:
    source = parse_labels_csv(_file(reference_dir, "CamVid", "labels.csv").read_text(), "CamVid")
    master = parse_master_labels_csv(
        _file(reference_dir, "CamVid", "master_labels_cityscapes.csv").read_text()
    )
    target = target_taxonomy_from_master(master, "cityscapes")
    report = validate_mapping(master.mapping, source, target, extra_findings=master.findings)
    (dup,) = report.by_code("duplicate_source_name")
    assert dup.source_name == "Bicyclist" and "apply to all" in dup.message and "ids 2, 3" in dup.message
    priors = compile_priors(master.mapping, source, target)
    assert (priors.allowed[2] == priors.allowed[3]).all()
    assert set(priors.allowed[2].nonzero()[0]) == {12, 18}  # rider and bicycle


def test_a_repeated_pixel_value_stays_an_error_naming_both_rows() -> None:
    header = "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    text = header + "0,a,1,0,,,,,\n1,b,2,1,,,,,\n2,c,1,2,,,,,\n"
    with pytest.raises(InvalidInput, match="rows 2, 4") as exc:
        parse_labels_csv(text, "x")
    assert (exc.value.row, exc.value.column) == (4, 3)


def test_every_mapping_file_imports_and_allows_what_the_authors_code_allows(reference_dir: Path) -> None:
    masters = _master_files(reference_dir)
    checked = 0
    for path in masters:
        labels_text = _labels_for(path).read_text(encoding="utf-8")
        master_text = path.read_text(encoding="utf-8")
        master = parse_master_labels_csv(master_text)
        source = parse_labels_csv(labels_text, path.parent.name)
        target = target_taxonomy_from_master(master, path.stem)
        report = validate_mapping(master.mapping, source, target, extra_findings=master.findings)
        assert {f.code for f in report.errors} <= {"unknown_source_name"}, path
        assert not report.blocking, path  # every authors' mapping can be approved (with acknowledgement)
        ours = _unilabel_allowed_sets(labels_text, master_text, path.parent.name)
        theirs = authors_allowed_sets(labels_text, master_text)
        theirs.pop(NO_PIXEL, None)  # id -1 never occurs as a pixel
        assert ours == theirs, path
        checked += 1
    assert checked == len(masters)
