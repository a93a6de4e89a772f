"""Comparing target class lists: typos are close, other taxonomies (other ids) are not."""

from __future__ import annotations

from app.domain.class_lists import ClassDifference, closest_class_list, compare_class_lists

CITY = ((0, "road"), (1, "rider"), (2, "sky"), (3, "car"))


def test_a_typo_is_close_and_named() -> None:
    typo = ((0, "road"), (1, "rdier"), (2, "sky"), (3, "car"))
    comparison = compare_class_lists(typo, CITY)
    assert comparison.close and comparison.same_ids and comparison.matching == 3
    assert comparison.differences == (ClassDifference(1, "rdier", "rider"),)
    assert comparison.describe() == "class 1 is 'rdier' in the file, 'rider' in the taxonomy"


def test_identical_lists_other_ids_and_mostly_other_names_are_not_close() -> None:
    assert not compare_class_lists(CITY, CITY).close and compare_class_lists(CITY, CITY).identical
    more = (*CITY, (4, "bus"))
    extra = compare_class_lists(more, CITY)
    assert not extra.close and not extra.same_ids
    assert extra.describe() == "class 4 'bus' is not in the taxonomy"
    assert compare_class_lists(CITY, more).describe() == "class 4 'bus' is missing from the file"
    renamed = ((0, "ground"), (1, "person"), (2, "air"), (3, "car"))
    assert not compare_class_lists(renamed, CITY).close


def test_the_closest_candidate_has_the_most_equal_names_and_long_lists_are_cut() -> None:
    one_off = ((0, "road"), (1, "rdier"), (2, "sky"), (3, "car"))
    far = ((0, "road"), (1, "x"), (2, "y"), (3, "car"))
    found = closest_class_list(one_off, [("far", far), ("city", CITY), ("later", CITY), ("same", one_off)])
    assert found is not None and found[0] == "city"
    assert closest_class_list(CITY, [("other", ((0, "a"), (1, "b"), (2, "c"), (3, "d")))]) is None
    many = tuple((i, f"c{i}") for i in range(20))
    typos = tuple((i, f"c{i}x" if i < 8 else f"c{i}") for i in range(20))
    text = compare_class_lists(typos, many).describe(limit=5)
    assert text.endswith("; and 3 more") and text.count("in the file") == 5
