"""Suggestions from names and other mappings (pure): scores, evidence in words and numbers, drafts."""

from __future__ import annotations

from app.domain.mapping import VOID, OntologyMapping
from app.domain.names import default_synonyms
from app.domain.suggestions import (
    ApprovedMapping,
    Evidence,
    EvidenceKind,
    SuggestionContext,
    combine_evidence,
    draft_mapping,
    suggest_for_label,
    suggest_mapping,
)

TARGETS = ((0, "road"), (1, "person"), (2, "rider"), (3, "vegetation"), (4, "bicycle"), (5, "terrain"))


def _other(
    name: str, edges: dict[str, tuple[int, ...]], extra_labels: tuple[str, ...] = ()
) -> ApprovedMapping:
    mapping = OntologyMapping.from_edges((n, t) for n, ts in edges.items() for t in ts)
    return ApprovedMapping(name, (*edges, *extra_labels), mapping)


def _ctx(*others: ApprovedMapping) -> SuggestionContext:
    return SuggestionContext(TARGETS, others, default_synonyms())


def test_agreeing_mappings_outrank_a_same_named_target_class() -> None:
    """`person` is a target class, but three approved mappings put `Pedestrian` on `rider`: the
    mappings win, and the name evidence is still listed (weaker)."""
    others = [_other(f"m{i}", {"Pedestrian": (2,)}) for i in range(3)]
    ranked = suggest_for_label("pedestrians", _ctx(*others))
    assert [s.target_name for s in ranked[:2]] == ["rider", "person"]
    best = ranked[0]
    (evidence,) = best.evidence
    assert evidence.kind is EvidenceKind.MAPPING
    assert evidence.message.startswith("mapped to `rider` in 3 of 3 other approved mappings")
    assert dict(evidence.facts) == {"agreeing": 3, "mappings": 3, "share": 1.0}
    assert evidence.refs == (
        "m0: `Pedestrian` (same name)",
        "m1: `Pedestrian` (same name)",
        "m2: `Pedestrian` (same name)",
    )
    assert (
        ranked[1].evidence[0].kind is EvidenceKind.NAME
        and "a synonym of `person`" in ranked[1].evidence[0].message
    )


def test_one_agreeing_mapping_beats_any_name_match_and_both_together_beat_either() -> None:
    name_only = suggest_for_label("road", _ctx())[0]
    one_mapping = suggest_for_label("street", _ctx(_other("a", {"Street": (5,)})))[0]
    both = suggest_for_label("road", _ctx(_other("a", {"Road": (0,)})))[0]
    assert name_only.target_name == "road" and one_mapping.target_name == "terrain"
    assert name_only.score < one_mapping.score < both.score <= 1.0
    assert both.evidence[0].kind is EvidenceKind.MAPPING and both.evidence[1].kind is EvidenceKind.NAME


def test_disagreeing_mappings_split_the_score_and_unmapped_labels_vote_void() -> None:
    others = [
        _other("a", {"Bicyclist": (2,)}),
        _other("b", {"Bicyclist": (2, 4)}),
        _other("c", {}, extra_labels=("bicyclist",)),  # a label in no edge is void
    ]
    ranked = {s.target_name: s for s in suggest_for_label("human--rider--bicyclist", _ctx(*others), limit=5)}
    assert ranked["rider"].score > ranked["bicycle"].score
    assert "in 2 of 3" in ranked["rider"].evidence[0].message
    assert "in 1 of 3" in ranked["void"].evidence[0].message and ranked["void"].target == VOID
    assert any("a kind of `rider`" in e.message for e in ranked["rider"].evidence)  # the synonym table


def test_labels_named_differently_but_known_to_differ_do_not_vote() -> None:
    """`road pile` (a traffic cone) shares the word `road` with `road`, but the table knows both."""
    ranked = suggest_for_label("road_pile", _ctx(_other("a", {"road": (0,)})))
    assert all(s.target_name != "road" for s in ranked)


def test_names_without_evidence_get_nothing_and_limit_cuts_the_ranking() -> None:
    ctx = _ctx(_other("a", {"Tree": (3, 5)}))
    assert suggest_for_label("qwxz", ctx) == ()
    assert len(suggest_for_label("tree", ctx, limit=1)) == 1
    assert suggest_for_label("tree", ctx, limit=3)[0].key == "3:tree"


def test_further_evidence_kinds_combine_as_a_noisy_or() -> None:
    data = Evidence(EvidenceKind.MAPPING, "teacher says so", 0.5)
    ranked = suggest_for_label("qwxz", _ctx(), extra={5: [data, data]})
    assert ranked[0].target_name == "terrain" and ranked[0].score == 0.75
    assert combine_evidence([]) == 0.0 and combine_evidence([Evidence(EvidenceKind.NAME, "", 1.5)]) == 1.0


def test_draft_takes_each_labels_best_non_void_suggestion_above_the_threshold() -> None:
    ctx = _ctx(_other("a", {"Bicyclist": (2,), "unlabeled": (VOID,)}))
    suggestions = suggest_mapping(["Bicyclist", "unlabeled", "qwxz", "road", "Bicyclist"], ctx)
    assert list(suggestions) == ["Bicyclist", "unlabeled", "qwxz", "road"]
    void = {("unlabeled", VOID), ("qwxz", VOID)}
    assert draft_mapping(suggestions).edges == {("Bicyclist", 2), ("road", 0), *void}
    assert draft_mapping(suggestions, min_score=0.55).edges == {("Bicyclist", 2), ("road", VOID), *void}
