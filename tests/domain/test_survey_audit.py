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
    assert sorted(ev) == [1, 2, 3, VOID]  # car's 1 % is over the 0.5 % floor (and only here)
    assert sorted(data_evidence(stats, "bush", min_share=0.05)) == [1, 2, VOID]
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
    assert sorted(data_evidence(stats, "bush", min_contrast=0)) == [1, 3, VOID]  # turned off (void: 2 %)
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


def _with_classes(rows: dict[str, tuple[list[int], list[int]]]) -> SurveyStats:
    """Rows of (arg-max over the N+1 channels, arg-max over the N classes) as a survey job records."""
    stats = SurveyStats(CLASSES)
    for name, (pixels, classes) in rows.items():
        stats.add(name, pixels, [float(p) for p in pixels], classes=classes, images=5)
    return stats


def test_class_shares_come_from_the_arg_max_over_the_real_classes() -> None:
    # void (no-object) outscores every class on 70 % of the street; among the classes the teacher
    # names road and, on 1 % of it, car (a thin class it never gets past void)
    stats = _with_classes(
        {
            "street": ([2900, 0, 0, 0, 7100], [8900, 0, 1000, 100, 0]),
            "lawn": ([0, 0, 9000, 0, 1000], [0, 0, 10000, 0, 0]),
        }
    )
    street = stats.labels["street"]
    assert street.shares()[3] == 0.0 and street.share_of(3) == 0.01
    assert street.share_of(4) == 0.71  # void's own share: the N+1 arg-max
    assert describe(stats, "street") == (
        "89% of this label's pixels are predicted `road`, 10% `terrain`, 1% `car`; "
        "`void` outscores every class on 71%; 10.0 k px over 5 images"
    )
    ev = data_evidence(stats, "street")
    assert sorted(ev) == [0, 3, VOID]  # not terrain: 10 % here, 100 % on the lawn (contrast 0.1)
    assert dict(ev[3].facts)["pixels"] == 100.0 and ev[3].strength == 0.01
    assert stats.contrast("street", 4) == pytest.approx(0.71 / 0.1)
    # stored and merged with the class counts; a version-1 record (no classes) falls back to pixels
    again = SurveyStats.from_json(stats.to_json())
    assert again.labels["street"].classes == [8900, 0, 1000, 100, 0]
    again.merge(stats)
    assert again.labels["street"].classes == [17800, 0, 2000, 200, 0]
    again.add("street", [1, 0, 0, 0, 0], [1.0, 0, 0, 0, 0])
    assert again.labels["street"].classes is None
    assert again.labels["street"].share_of(3) == 0.0  # = its N+1 arg-max share
    with pytest.raises(ValueError, match="expected 5 class counts"):
        stats.add("street", [1, 0, 0, 0, 0], [1.0, 0, 0, 0, 0], classes=[1])


def test_a_thin_edge_the_data_supports_is_not_unused() -> None:
    # road markings inside the road: 1 % of its pixels and nowhere else (what the suggestions, at their
    # default floor, propose); a car edge on the street gets 0.5 % but as much as on the lawn
    stats = _with_classes(
        {
            "street": ([9000, 0, 0, 50, 950], [9850, 100, 0, 50, 0]),
            "lawn": ([0, 0, 9950, 50, 0], [0, 0, 9950, 50, 0]),
        }
    )
    mapping = OntologyMapping.from_edges([("street", 0), ("street", 1), ("street", 3), ("lawn", 2)])
    assert 1 in data_evidence(stats, "street")
    found = [(f.kind, f.target) for f in audit_mapping(mapping, ("street", "lawn"), stats).findings]
    assert found == [(FindingKind.UNUSED, 3)]  # contrast 1.0: unused; vegetation's 1 %: supported
    off = AuditThresholds(unused_contrast=0)
    found = [(f.kind, f.target) for f in audit_mapping(mapping, ("street", "lawn"), stats, off).findings]
    assert found == [(FindingKind.UNUSED, 1), (FindingKind.UNUSED, 3)]
    with pytest.raises(ValueError, match="unused_contrast must be 0..1e\\+06"):
        AuditThresholds(unused_contrast=-1).check()


def test_void_confident_reads_the_class_shares() -> None:
    # mapped to void: among the classes, 90 % car; void outscores car on 60 % of the pixels, which
    # says the teacher is unsure, not that the label is no car (the suggestions read the same shares)
    stats = _with_classes({"ego": ([0, 0, 0, 4000, 6000], [0, 0, 1000, 9000, 0])})
    mapping = OntologyMapping.from_edges([("ego", VOID)])
    (finding,) = audit_mapping(mapping, ("ego",), stats).findings
    assert (finding.kind, finding.proposed, dict(finding.facts)["dominant_share"]) == (
        FindingKind.VOID_CONFIDENT,
        (3,),
        0.9,
    )
    assert "`void` outscores every class on 60%" in finding.message
    unsure = _with_classes({"ego": ([0, 0, 0, 4000, 6000], [0, 0, 5000, 5000, 0])})
    assert audit_mapping(mapping, ("ego",), unsure).findings == ()


def test_the_thin_tier_admits_a_class_that_lives_inside_one_label() -> None:
    from app.domain.survey import DATA_THIN_CONTRAST, DATA_THIN_FRACTION, supported

    # under the floor but a fifth of it or more, predicted 10x as often here as elsewhere: evidence
    assert supported(0.002, 10.0, min_share=0.005, min_contrast=2.0)
    assert not supported(0.002, 9.9, min_share=0.005, min_contrast=2.0)
    assert not supported(0.0009, 1e6, min_share=0.005, min_contrast=2.0)
    assert supported(0.005, 2.0, min_share=0.005, min_contrast=2.0)  # the floor tier, as before
    assert not supported(0.002, 20.0, min_share=0.005, min_contrast=50.0)  # never below min_contrast
    assert supported(0.011, 10.0, min_share=0.05, min_contrast=2.0)  # the tier scales with the floor
    assert not supported(0.009, 10.0, min_share=0.05, min_contrast=2.0)
    assert (DATA_THIN_FRACTION, DATA_THIN_CONTRAST) == (0.2, 10.0)
    # ... with at least 100 pixels: in a small survey a handful of pixels is "only here" by chance
    assert not supported(0.002, 1e6, min_share=0.005, min_contrast=2.0, pixels=99)
    assert supported(0.002, 1e6, min_share=0.005, min_contrast=2.0, pixels=100)
    assert supported(0.005, 2.0, min_share=0.005, min_contrast=2.0, pixels=1)  # the floor tier: no minimum
    few = _stats({"street": [9_960, 0, 0, 0, 40], "lawn": [0, 10_000, 0, 0, 0]})
    few.add("street", [0, 0, 20, 0, 0], [0, 0, 20.0, 0, 0])  # terrain: 0.2 % of the street, 20 px
    assert few.contrast("street", 2) == float("inf") and 2 not in data_evidence(few, "street")
    # a road whose markings the teacher under-predicts: 0.2 % of the road and almost nowhere else
    # (0.004 % of the lawn: contrast 50); cars take 0.3 % of the road and as much of the lawn
    stats = SurveyStats(("road", "vegetation", "terrain", "car", "marking"))
    stats.add("street", [99_500, 0, 0, 300, 200, 0], [99_500.0, 0, 0, 300, 200, 0], images=10)
    stats.add("lawn", [0, 0, 99_696, 300, 4, 0], [0, 0, 99_696.0, 300, 4, 0], images=10)
    street = data_evidence(stats, "street")
    assert sorted(street) == [0, 4] and dict(street[4].facts)["contrast"] == 50.0
    assert "`marking`: 50.0x as often as on the other labels" in street[4].message
    mapping = OntologyMapping.from_edges([("street", 0), ("street", 4), ("street", 3), ("lawn", 2)])
    found = [(f.kind, f.target) for f in audit_mapping(mapping, ("street", "lawn"), stats).findings]
    assert found == [(FindingKind.UNUSED, 3)]  # marking: supported by the thin tier; car: unused
