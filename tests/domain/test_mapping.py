import pytest

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID, OntologyMapping, diff_mappings, mapping_from_json, validate_mapping
from app.domain.taxonomy import Label, Taxonomy
from app.domain.validation import suggest_source_name

SOURCE = Taxonomy(
    "src",
    (
        Label(0, "unlabeled"),
        Label(1, "traffic light"),
        Label(2, "low_grass"),
        Label(3, "high_grass"),
        Label(4, "snow"),
        Label(5, "sky"),
        Label(6, "rock"),
        Label(-1, "license plate"),
    ),
)
TARGET = Taxonomy("tgt", (Label(0, "terrain"), Label(1, "sky"), Label(2, "traffic_light"), Label(3, "car")))


def test_edges_and_queries():
    m = OntologyMapping.from_edges([("snow", 0), ("snow", VOID), ("sky", 1)])
    assert m.targets_of("snow") == (0, VOID)
    assert m.targets_of("rock") == ()
    assert m.sources_of(VOID) == ("snow",)
    assert m.with_edge("rock", 0).targets_of("rock") == (0,)
    assert m.without_edge("snow", VOID).targets_of("snow") == (0,)
    assert m.with_targets("snow", [1]).targets_of("snow") == (1,)


def test_hash_depends_only_on_edges():
    a = OntologyMapping.from_edges([("a", 1), ("b", 2)])
    b = OntologyMapping.from_edges([("b", 2), ("a", 1)])
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != a.with_edge("a", 3).content_hash()
    assert mapping_from_json(a.canonical_json()) == a


@pytest.mark.parametrize("edge", [("", 1), ("a", -1), ("a", 256), ("a", True)])
def test_bad_edges_are_refused(edge):
    with pytest.raises(InvalidInput):
        OntologyMapping(frozenset({edge}))


def test_diff_groups_by_source():
    old = OntologyMapping.from_edges([("a", 1), ("b", 2)])
    new = OntologyMapping.from_edges([("a", 1), ("a", 3), ("c", VOID)])
    d = diff_mappings(old, new)
    assert d.added == (("a", 3), ("c", VOID))
    assert d.removed == (("b", 2),)
    assert [(s.source_name, s.added, s.removed) for s in d.by_source] == [
        ("a", (3,), ()),
        ("b", (), (2,)),
        ("c", (VOID,), ()),
    ]
    assert diff_mappings(old, old).is_empty


def test_validation_names_every_kind_of_finding():
    m = OntologyMapping.from_edges(
        [
            ("trafficlight", 2),  # missing space
            ("low_grasshigh_grass", 0),  # missing comma
            ("snow", 0),
            ("snow", VOID),  # ambiguous (class or void)
            ("unlabeled", VOID),  # void only
            ("sky", 1),
            ("sky", 9),  # unknown target id
        ]
    )
    report = validate_mapping(m, SOURCE, TARGET)
    codes = {(f.code, f.source_name, f.target_id) for f in report.findings}
    assert ("unknown_source_name", "trafficlight", None) in codes
    assert ("unknown_source_name", "low_grasshigh_grass", None) in codes
    assert ("unknown_target", "sky", 9) in codes
    assert ("ambiguous_source", "snow", None) in codes
    assert ("ambiguous_source", "sky", None) in codes
    assert ("void_only", "unlabeled", None) in codes
    assert ("unmapped_source", "rock", None) in codes
    assert ("unmapped_source", "traffic light", None) in codes
    assert ("unreached_target", None, 3) in codes
    assert ("unreached_target", None, 2) in codes  # only reached by the unknown name
    suggestions = {f.source_name: f.suggestion for f in report.by_code("unknown_source_name")}
    assert "'traffic light'" in suggestions["trafficlight"]
    assert "'low_grass' and 'high_grass' glued" in suggestions["low_grasshigh_grass"]
    plate = [f for f in report.for_source("license plate")]
    assert plate[0].severity == "info"  # a -1 label never appears as a pixel
    assert not report.ok and len(report.errors) == 3
    assert report.to_dict()["counts"]["error"] == 3
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_suggestion_for_close_spelling_and_none_for_nonsense():
    assert suggest_source_name("skye", SOURCE) == "did you mean 'sky'?"
    assert suggest_source_name("zzzzqqq", SOURCE) is None
    assert "differs only" in (suggest_source_name("traffic light ", SOURCE) or "")
