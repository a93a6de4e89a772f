import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID, validate_mapping
from app.domain.priors import compile_priors
from app.domain.reference_csv import (
    format_labels_csv,
    format_master_labels_csv,
    parse_labels_csv,
    parse_master_labels_csv,
    target_taxonomy_from_master,
)

LABELS = """0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color
0,unlabeled,0,255,void,0,False,True,#000000
1,road,7,0,flat,1,False,False,#804080
2,tree ,21,8,nature,4,False,False,#6b8e23
3,license plate,-1,-1,vehicle,7,False,True,#00008e
4,other,255,,,,,,
"""

MASTER = """trainId,name,,,,
0,road,road,,,
1,vegetation,tree ,tree ,,
255,void,unlabeled,tree ,license plate
"""


def test_labels_csv_keeps_exact_names_and_values():
    tax = parse_labels_csv(LABELS, "mini")
    assert tax.names == ("unlabeled", "road", "tree ", "license plate", "other")
    assert tax.label_by_name("license plate").value == -1
    assert tax.label_by_name("other").value == 255
    assert tax.label_by_name("unlabeled").ignore
    assert tax.label_by_name("road").train_id == 0
    assert tax.label_by_name("other").color is None


def test_labels_csv_round_trip():
    tax = parse_labels_csv(LABELS, "mini")
    assert parse_labels_csv(format_labels_csv(tax), "mini") == tax


def test_master_labels_parse_and_round_trip():
    master = parse_master_labels_csv(MASTER)
    assert master.target_classes == ((0, "road"), (1, "vegetation"))
    assert master.edges == {
        ("road", 0),
        ("tree ", 1),
        ("unlabeled", VOID),
        ("tree ", VOID),
        ("license plate", VOID),
    }
    assert [f.code for f in master.findings] == ["duplicate_entry"]
    target = target_taxonomy_from_master(master, "tgt")
    source = parse_labels_csv(LABELS, "mini")
    again = parse_master_labels_csv(format_master_labels_csv(target, master.mapping, source))
    assert again.edges == master.edges
    assert again.target_classes == master.target_classes


@pytest.mark.parametrize(
    ("text", "match", "row"),
    [
        ("", "empty", None),
        ("a,b\n", "header", 1),
        (LABELS.replace("0,unlabeled,0,", "0,unlabeled,zero,"), "id must be an integer", 2),
        (LABELS.replace("#6b8e23", "#zzzzzz"), "colour", 4),
        (LABELS.replace("False,True,#000000", "maybe,True,#000000"), "hasInstances", 2),
        ("0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n", "no labels", None),
        ("0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n0,,1\n", "name is empty", 2),
    ],
)
def test_bad_labels_csv_names_the_row(text, match, row):
    with pytest.raises(InvalidInput, match=match) as exc:
        parse_labels_csv(text, "x")
    assert exc.value.row == row


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("h\n", "no target classes"),
        ("h\nx,road,a\n", "target id must be an integer"),
        ("h\n0,road\n0,car\n", "appears twice"),
        ("h\n0,road\n2,car\n", "missing \\[1\\]"),
        ("h\n300,road\n", "0..254"),
        ("h\n0\n", "needs a target class id and a name"),
    ],
)
def test_bad_master_labels_are_refused(text, match):
    with pytest.raises(InvalidInput, match=match):
        parse_master_labels_csv(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text_never_crashes_the_parsers(text):
    for parse in (lambda t: parse_labels_csv(t, "x"), parse_master_labels_csv):
        with contextlib.suppress(InvalidInput):
            parse(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["0", "1", "255", "road", "tree ", "", "a,b", '"', "x\ny", "-1"]), max_size=6
        ),
        max_size=8,
    )
)
def test_random_csv_rows_never_crash_the_parsers(rows):
    text = "\n".join(",".join(r) for r in rows)
    for parse in (lambda t: parse_labels_csv(t, "x"), parse_master_labels_csv):
        with contextlib.suppress(InvalidInput):
            parse(text)


def _reference_pairs(reference_dir):
    for d in sorted(p for p in reference_dir.iterdir() if p.is_dir()):
        for f in sorted(d.glob("master_labels*.csv")):
            labels = d / ("labels_old.csv" if f.stem.endswith("_old") else "labels.csv")
            yield d.name, labels, f


def test_every_reference_file_imports_and_round_trips(reference_dir):
    seen = 0
    for labels_path in sorted(reference_dir.glob("*/labels*.csv")):
        tax = parse_labels_csv(labels_path.read_text(encoding="utf-8"), labels_path.parent.name)
        assert parse_labels_csv(format_labels_csv(tax), tax.name) == tax
    for name, labels_path, master_path in _reference_pairs(reference_dir):
        source = parse_labels_csv(labels_path.read_text(encoding="utf-8"), name)
        master = parse_master_labels_csv(master_path.read_text(encoding="utf-8"))
        target = target_taxonomy_from_master(master, master_path.stem)
        again = parse_master_labels_csv(format_master_labels_csv(target, master.mapping, source))
        assert again.edges == master.edges, master_path
        report = validate_mapping(master.mapping, source, target, extra_findings=master.findings)
        priors = compile_priors(master.mapping, source, target)
        assert priors.allowed.shape[1] == target.num_classes + 1
        assert report.findings  # every real file has at least unmapped or unreached labels
        seen += 1
    assert seen == len(list(reference_dir.glob("*/master_labels*.csv")))  # counted from the folder


def test_real_defects_of_the_reference_files_are_named(reference_dir):
    def report_for(dataset, master_name):
        source = parse_labels_csv((reference_dir / dataset / "labels.csv").read_text(), dataset)
        master = parse_master_labels_csv((reference_dir / dataset / master_name).read_text())
        target = target_taxonomy_from_master(master, master_name)
        return validate_mapping(master.mapping, source, target, extra_findings=master.findings)

    # GOOSE has no label 'road': the authors' file names a Cityscapes label by mistake.
    goose = report_for("goose2d", "master_labels.csv")
    assert [f.source_name for f in goose.by_code("unknown_source_name")] == ["road"]
    assert [f.source_name for f in goose.by_code("duplicate_entry")] == ["bikeway"]
    # Cityscapes' offroad file lists 'polegroup' twice in the void row.
    cs = report_for("cityscapes", "master_labels_offroad.csv")
    assert [(f.source_name, f.target_id) for f in cs.by_code("duplicate_entry")] == [("polegroup", VOID)]
    # 'terrain' goes to two classes and void: ambiguous for a hard mapping
    assert "terrain" in {
        f.source_name for f in report_for("cityscapes", "master_labels.csv").by_code("ambiguous_source")
    }
