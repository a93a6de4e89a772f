"""Data surveys and the mapping audit on constructed statistics (exact expectations)."""

from __future__ import annotations

import pytest

from app.domain.audit import AuditThresholds, FindingKind, audit_mapping
from app.domain.mapping import VOID, OntologyMapping
from app.domain.suggestions import EvidenceKind
from app.domain.survey import SurveyStats, data_evidence, describe, stratified_sample

CLASSES = ("road", "vegetation", "terrain", "car")


def _stats(rows: dict[str, list[int]], images: int = 10) -> SurveyStats:
    stats = SurveyStats(CLASSES)
    for name, pixels in rows.items():
        stats.add(name, pixels, [float(p) for p in pixels], images=images)
    return stats


def test_describe_and_data_evidence_give_shares_in_words_and_numbers() -> None:
    stats = _stats({"bush": [0, 710_000, 180_000, 10_000, 100_000]}, images=143)
    assert describe(stats, "bush") == (
        "71% of this label's pixels are predicted `vegetation`, 18% `terrain`, 10% `void`; "
        "1.0 M px over 143 images"
    )
    ev = data_evidence(stats, "bush")
    assert sorted(ev) == [1, 2, VOID]  # car's 1 % is under the 5 % floor
    assert ev[1].kind is EvidenceKind.DATA and ev[1].strength == 0.71
    assert dict(ev[2].facts)["pixels"] == 180_000.0
    assert data_evidence(stats, "unknown-label") == {}
    assert data_evidence(_stats({"tiny": [50, 0, 0, 0, 0]}), "tiny") == {}  # < 100 px


def test_a_class_the_teacher_falls_back_to_everywhere_is_no_evidence() -> None:
    # dusk scenes: the teacher puts a quarter of every label on `car`; `vegetation` means vegetation
    stats = _stats(
        {
            "bush": [0, 730, 0, 250, 20],
            "street": [720, 0, 0, 260, 20],
            "lawn": [0, 0, 740, 240, 20],
        }
    )
    bush = data_evidence(stats, "bush")
    assert sorted(bush) == [1]  # car: 25 % of bush, but 25 % of the others too (contrast 1.0)
    facts = dict(bush[1].facts)
    assert facts["contrast"] == 1e6 and "`vegetation`: only here" in bush[1].message
    assert stats.contrast("bush", 3) == pytest.approx(0.25 / 0.25)
    assert sorted(data_evidence(stats, "bush", min_contrast=0)) == [1, 3]  # turned off
    # a class predicted on other labels too, but twice as often here, still counts
    shared = _stats({"bush": [0, 600, 0, 400, 0], "street": [800, 0, 0, 200, 0]})
    assert dict(data_evidence(shared, "bush")[3].facts)["contrast"] == 2.0
    assert "2.0x as often as on the other labels" in data_evidence(shared, "bush")[3].message


def test_stats_round_trip_and_merge() -> None:
    a = _stats({"x": [1, 2, 3, 4, 5]}, images=1)
    b = SurveyStats.from_json(a.to_json())
    b.merge(a)
    assert b.labels["x"].pixels == [2, 4, 6, 8, 10] and b.labels["x"].images == 2
    with pytest.raises(ValueError, match="expected 5 counts"):
        a.add("y", [1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="different class lists"):
        a.merge(SurveyStats(("other",)))


def test_stratified_sample_takes_the_rare_label_first() -> None:
    hists = [{"road": 1000}] * 8 + [{"road": 900, "rare": 5}] + [{"sky": 700}]
    picked = stratified_sample(hists, 3, seed=1)
    assert set(picked[:2]) == {8, 9}  # the images with labels nobody has seen yet
    assert len(picked) == 3 and len(set(picked)) == 3
    assert stratified_sample(hists, 3, seed=1) == picked  # seeded
    assert len(stratified_sample(hists, 50)) == 10


def test_audit_finds_contradicted_unused_and_void_confident_edges() -> None:
    stats = _stats(
        {
            "bush": [0, 8000, 1900, 100, 0],  # mapped to car: contradicted by vegetation
            "street": [9000, 0, 950, 50, 0],  # mapped to road + car: car is unused (0.5 %)
            "tree": [0, 9500, 500, 0, 0],  # void only, 95 % vegetation
            "grass": [0, 4000, 6000, 0, 0],  # mapped to terrain: fine
            "rare": [10, 0, 0, 0, 0],  # too few pixels for a verdict
        }
    )
    mapping = OntologyMapping.from_edges(
        [("bush", 3), ("street", 0), ("street", 3), ("tree", VOID), ("grass", 2), ("rare", 3)]
    )
    names = ("bush", "street", "tree", "grass", "rare", "never-seen")
    report = audit_mapping(mapping, names, stats)
    found = [(f.kind, f.source_name, f.current, f.proposed, f.target) for f in report.findings]
    assert found == [
        (FindingKind.CONTRADICTED, "bush", (3,), (1, 2), 1),  # vegetation 80 %, terrain 19 %
        (FindingKind.UNUSED, "street", (0, 3), (0,), 3),
        (FindingKind.VOID_CONFIDENT, "tree", (VOID,), (1,), 1),
    ]
    assert report.unseen == ("rare", "never-seen")
    assert report.checked == ("bush", "street", "tree", "grass")
    bush = report.findings[0]
    assert bush.add == (1, 2) and bush.remove == (3,)
    assert "99% are predicted `vegetation`, `terrain`" in bush.message
    assert dict(bush.facts)["allowed_share"] == 0.01


def test_audit_thresholds_are_parameters() -> None:
    stats = _stats({"tree": [0, 5500, 4500, 0, 0]})
    mapping = OntologyMapping.from_edges([("tree", VOID)])
    assert audit_mapping(mapping, ("tree",), stats).findings == ()  # 55 % < 60 %
    lenient = AuditThresholds(void_confident_min=0.5)
    assert [f.kind for f in audit_mapping(mapping, ("tree",), stats, lenient).findings] == [
        FindingKind.VOID_CONFIDENT
    ]
    with pytest.raises(ValueError, match="unused_max must be 0..1"):
        audit_mapping(mapping, ("tree",), stats, AuditThresholds(unused_max=2.0))


def test_a_coarse_label_spread_over_several_classes_is_contradicted() -> None:
    # vegetation mapped to car; the teacher splits its pixels over vegetation-like classes
    stats = _stats({"veg": [0, 4800, 2100, 170, 2930]})  # 48 % vegetation, 21 % terrain, void 29 %
    mapping = OntologyMapping.from_edges([("veg", 3)])
    (finding,) = audit_mapping(mapping, ("veg",), stats).findings
    assert (finding.kind, finding.proposed, finding.target) == (FindingKind.CONTRADICTED, (1, 2), 1)
    assert audit_mapping(mapping, ("veg",), stats, AuditThresholds(propose_min=0.3)).findings == ()
