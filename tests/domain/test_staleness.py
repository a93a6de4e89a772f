"""Which source labels a new mapping version changes, and which images an update re-labels."""

from __future__ import annotations

from app.domain.mapping import VOID, OntologyMapping
from app.domain.pairing import Pair
from app.domain.staleness import (
    LabelChange,
    affected_images,
    changed_labels,
    plan_update,
    record_presence,
)
from app.domain.taxonomy import Label, Taxonomy

SOURCE = Taxonomy(
    "src",
    (
        Label(0, "unlabeled"),
        Label(1, "road"),
        Label(2, "fence"),
        Label(3, "rider"),
        Label(4, "grass"),
        Label(5, "ego"),
        Label(-1, "plate"),
    ),
)
OLD = OntologyMapping.from_edges(
    [
        ("unlabeled", VOID),
        ("road", 0),
        ("fence", 1),
        ("rider", 2),
        ("grass", 3),
        ("grass", VOID),
        ("plate", 0),
    ]
)


def test_an_unchanged_mapping_changes_no_label() -> None:
    assert changed_labels(OLD, OLD, SOURCE) == ()


def test_a_changed_target_is_reported_with_both_allowed_sets() -> None:
    new = OLD.with_targets("fence", [2])
    assert changed_labels(OLD, new, SOURCE) == (LabelChange("fence", 2, (1,), (2,)),)


def test_void_changes_count_and_unmapped_equals_void_only() -> None:
    new = (
        OLD.with_targets("rider", [2, VOID])  # rider may now also be void
        .with_targets("grass", [3])  # grass may no longer be void
        .with_targets("unlabeled", [])  # unmapped: void only, as before
    )
    assert changed_labels(OLD, new, SOURCE) == (
        LabelChange("rider", 3, (2,), (2, VOID)),
        LabelChange("grass", 4, (3, VOID), (3,)),
    )


def test_ambiguity_added_and_removed() -> None:
    new = OLD.with_targets("road", [0, 1]).with_targets("ego", [1])
    assert changed_labels(OLD, new, SOURCE) == (
        LabelChange("road", 1, (0,), (0, 1)),
        LabelChange("ego", 5, (VOID,), (1,)),
    )


def test_labels_without_pixels_and_any_class_values_are_left_out() -> None:
    new = OLD.with_targets("plate", [1]).with_targets("ego", [1])
    assert changed_labels(OLD, new, SOURCE, any_class_values=[5]) == ()


def _record(
    rows: dict[str, dict[str, int]], status: str = "ok", label: str | None = None
) -> dict[str, object]:
    return {"status": status, "histogram": rows, "label": label}


def test_presence_comes_from_the_histogram_rows() -> None:
    record = _record({"0": {"void": 5}, "2": {"1": 7}, "256": {"void": 1}})
    assert record_presence(record) == frozenset({0, 2, 256})
    assert record_presence(_record({"0": {"void": 5}}, status="error")) is None
    assert record_presence({"status": "ok"}) is None  # a run without priors records no histogram


def test_affected_images_contain_a_changed_value() -> None:
    presence = {
        "a.png": frozenset({0, 1}),
        "b.png": frozenset({0, 2}),
        "c.png": None,
        "d.png": frozenset({3}),
    }
    assert affected_images(presence, {2, 3}) == ("b.png", "c.png", "d.png")
    assert affected_images(presence, set()) == ("c.png",)


def test_plan_update_carries_only_usable_unaffected_outputs() -> None:
    pairs = [Pair(f"i/{n}.png", f"l/{n}.png") for n in "abcdef"]
    records = {
        "i/a.png": _record({"1": {"0": 9}}, label="l/a.png"),  # unaffected: carried
        "i/b.png": _record({"2": {"1": 9}}, label="l/b.png"),  # contains fence: changed
        "i/c.png": _record({}, status="error", label="l/c.png"),  # failed before: redo
        "i/d.png": _record({"1": {"0": 9}}, label="l/other.png"),  # paired differently now: redo
        "i/f.png": _record({"0": {"void": 1}, "1": {"0": 3}}, label="l/f.png"),  # carried
    }  # e: new since the earlier run: redo
    plan = plan_update(pairs, records, {2})
    assert plan.carry == (0, 5)
    assert plan.changed == (1,)
    assert plan.redo == (2, 3, 4)
    assert plan.relabel == (1, 2, 3, 4)
