"""Version history and diff: one person's quick consecutive edits read as one group (issue 11)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.db.models import Mapping
from app.services import mappings as mapping_service
from tests.web.pages.conftest import base_version_of, unescape

EDITS = (("vegetation", 2), ("unlabeled", 255), ("license plate", 255), ("sky", 2), ("road", 1))


def _edit(browser, mapping_id: int, source: str, target: int) -> None:  # type: ignore[no-untyped-def]
    base = base_version_of(browser.get(f"/mappings/{mapping_id}").text)
    data = {"source": source, "target": target, "op": "add", "base_version": base, "view": "rows"}
    assert browser.post(f"/mappings/{mapping_id}/edges", data, htmx=True).status_code == 200


def _history(login, small_mapping: Mapping):  # type: ignore[no-untyped-def]
    """v2-v6: five quick edits by one editor, v7 by another, v8 by the first again."""
    erin, eddie = login("editor", "erin"), login("editor", "eddie")
    for source, target in EDITS:
        _edit(erin, small_mapping.id, source, target)
    _edit(eddie, small_mapping.id, "building", 2)
    _edit(erin, small_mapping.id, "sidewalk", 1)
    return erin


def _version_cells(page: str) -> list[str]:
    cells = re.findall(r'<td class="num col-version">(\d[^<]*)', page)
    return [re.sub(r"\s+", " ", c).strip() for c in cells]


def test_quick_edits_by_one_person_are_one_group(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    erin = _history(login, small_mapping)
    page = unescape(erin.get(f"/mappings/{small_mapping.id}/versions").text)
    assert _version_cells(page) == ["8", "7", "2–6", "1"]
    group = page[page.index("2–6") :]
    assert "5 edits</strong> in" in group
    assert "Map 'vegetation' → vegetation · Map 'unlabeled' → void · Map 'license plate' → void · …" in group
    for n in range(2, 7):
        assert f'form="restore-{n}" aria-label="Restore version {n}"' in group  # each still restorable
    assert f"/mappings/{small_mapping.id}/diff?old=1&new=6" in group  # the group's changes at once


def test_a_pause_longer_than_the_window_starts_a_new_group(login, small_mapping, session_factory) -> None:  # type: ignore[no-untyped-def]
    erin = _history(login, small_mapping)
    with session_factory() as s:
        for n in range(4, 9):  # an hour passes between version 3 and version 4
            v = mapping_service.get_version_by_number(s, small_mapping.id, n)
            v.created_at = v.created_at + timedelta(hours=1)
        s.commit()
    page = unescape(erin.get(f"/mappings/{small_mapping.id}/versions").text)
    assert _version_cells(page) == ["8", "7", "4–6", "2–3", "1"]


def test_window_zero_never_groups(login, small_mapping: Mapping, app) -> None:  # type: ignore[no-untyped-def]
    erin = _history(login, small_mapping)
    app.state.settings.history_group_window_s = 0
    page = unescape(erin.get(f"/mappings/{small_mapping.id}/versions").text)
    assert _version_cells(page) == ["8", "7", "6", "5", "4", "3", "2", "1"]


def test_the_diff_lists_the_versions_it_sums_up_grouped(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    erin = _history(login, small_mapping)
    page = unescape(erin.get(f"/mappings/{small_mapping.id}/diff?old=1&new=8").text)
    assert "The 7 versions this diff sums up" in page
    steps = page[page.index("The 7 versions") :]
    assert "v2–6" in steps
    assert "5 edits</strong>" in steps and "Map 'building' → vegetation" in steps
    one = unescape(erin.get(f"/mappings/{small_mapping.id}/diff?old=7&new=8").text)
    assert "versions this diff sums up" not in one


def test_the_window_is_read_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.config import SettingsError, load_settings

    monkeypatch.setenv("UNILABEL_HISTORY_GROUP_WINDOW_S", "30")
    assert load_settings().history_group_window_s == 30
    monkeypatch.setenv("UNILABEL_HISTORY_GROUP_WINDOW_S", "-1")
    with pytest.raises(SettingsError, match="UNILABEL_HISTORY_GROUP_WINDOW_S"):
        load_settings()


def test_messages_saved_with_class_ids_read_with_class_names(login, small_mapping, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Versions saved before messages named classes ("-> 2") are shown with the names."""
    erin = _history(login, small_mapping)
    with session_factory() as s:
        legacy = {
            2: "Map 'vegetation' -> 2",
            3: "Unmap 'unlabeled' -> void",
            7: "Set targets of 'sky' to [1, 3]",
        }
        for number, message in legacy.items():
            mapping_service.get_version_by_number(s, small_mapping.id, number).message = message
        s.commit()
    page = unescape(erin.get(f"/mappings/{small_mapping.id}/versions").text)
    assert "Map 'vegetation' → vegetation · Unmap 'unlabeled' → void" in page
    assert "Set targets of 'sky' to obstacle, sky" in page and "-> 2" not in page
    review = unescape(erin.get(f"/mappings/{small_mapping.id}/review?version=7").text)
    assert "“Set targets of 'sky' to obstacle, sky”" in review
    diff = unescape(erin.get(f"/mappings/{small_mapping.id}/diff?old=1&new=7").text)
    assert "Map 'vegetation' → vegetation" in diff and "-> 2" not in diff
