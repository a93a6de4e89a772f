"""Per-image review, pure rules (issue 12): states and staleness, bulk rules, the decisions' snapshot hash."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput
from app.domain.image_review import (
    BulkRule,
    StoredDecision,
    check_decision,
    count_states,
    is_stale,
    snapshot_hash,
    state_of,
)


def test_a_decision_holds_while_the_label_hash_is_unchanged() -> None:
    stored = StoredDecision("rejected", "abc", 3)
    assert state_of(stored, "abc") == "rejected" and not is_stale(stored, "abc")
    assert state_of(stored, "def") == "unreviewed" and is_stale(stored, "def")
    assert state_of(stored, None) == "unreviewed" and is_stale(stored, None)  # the label is gone
    assert state_of(None, "abc") == "unreviewed" and not is_stale(None, "abc")


def test_counts_list_every_state() -> None:
    assert count_states(["accepted", "accepted", "flagged"]) == {
        "accepted": 2,
        "rejected": 0,
        "flagged": 1,
        "unreviewed": 0,
    }


@pytest.mark.parametrize("bad", ["unreviewed", "Accepted", "", "ok"])
def test_only_the_three_decisions_are_stored(bad: str) -> None:
    with pytest.raises(InvalidInput, match="accepted, rejected, flagged"):
        check_decision(bad)


def test_bulk_rule_matches_either_threshold_strictly_above() -> None:
    rule = BulkRule(correction_above=0.3, void_above=0.5)
    assert rule.matches(0.31, 0.0) and rule.matches(0.0, 0.51)
    assert not rule.matches(0.3, 0.5)  # "above": the threshold itself is kept
    assert not rule.matches(None, None)  # failed images have no metrics
    assert BulkRule(void_above=0.2).matches(0.99, None) is False
    assert rule.describe() == "correction rate above 30% or void share above 50%"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "correction_above"),
        ({"correction_above": 1.5}, "correction_above"),
        ({"void_above": -0.1}, "void_above"),
    ],
)
def test_bulk_rule_refuses_no_or_out_of_range_thresholds(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        BulkRule(**kwargs)
    assert info.value.field == field


def test_snapshot_hash_depends_on_images_and_labels_not_order() -> None:
    a = snapshot_hash({"x.png": "h1", "y.png": "h2"})
    assert a == snapshot_hash({"y.png": "h2", "x.png": "h1"})
    assert a != snapshot_hash({"x.png": "h1"}) and a != snapshot_hash({"x.png": "h1", "y.png": "h3"})
    assert len(a) == 64
