"""End-to-end: the mapping editor in headless Chromium, driven by clicks, typing and the keyboard.

Flow (issue 5's quality bar): import the shared Mapillary Vistas labels and its
master_labels_cityscapes.csv through the UI, edit in the rows view (type-ahead, Enter, Backspace)
and in the matrix (clicks, Ctrl+Z undo), hit a conflict from a second browser context and reapply,
submit for review, approve as a reviewer, export, and compare the exported CSV with the expected
edges.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.domain.reference_csv import parse_master_labels_csv
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "reference-lists"
SOURCE_CSV = SHARED / "mapillary-vistas" / "labels.csv"
MASTER_CSV = SHARED / "mapillary-vistas" / "master_labels_cityscapes.csv"

GUARD_RAIL = "construction--barrier--guard-rail"
CARAVAN = "object--vehicle--caravan"
MOUNTAIN = "nature--mountain"
BIRD = "animal--bird"
VOID = 255


def _shared_or_skip() -> None:
    if not SOURCE_CSV.exists() or not MASTER_CSV.exists():
        pytest.skip(
            "../shared/reference-lists not present (fresh clone): reference-data browser flow skipped"
        )


def _row(page: Any, source: str) -> Any:
    return page.locator(f'tr[data-source="{source}"]')


def _chips(page: Any, source: str) -> list[str]:
    return [c.strip() for c in _row(page, source).locator(".chip > span:not(.swatch)").all_inner_texts()]


def _wait_version(page: Any, number: int) -> None:
    page.locator("#editor-state strong", has_text=re.compile(rf"^{number}$")).wait_for()


def _cell(page: Any, source: str, target: int) -> Any:
    col = page.locator(f'th[data-t="{target}"]').get_attribute("id")
    return _row(page, source).locator(f'button[aria-labelledby$=" {col}"]')


def test_login_page_and_home_render(new_page: Any) -> None:
    page = new_page(None)
    page.goto("/login")
    page.get_by_role("heading", name="Sign in to unilabel").wait_for()
    page.get_by_label("User name").fill("erin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Wrong user name or password")
    home = new_page("vera")
    home.get_by_role("heading", name=re.compile("Welcome, vera")).wait_for()  # her first login
    home.get_by_role("navigation", name="Main").get_by_role("link", name="Mappings").wait_for()


def _import_reference_mapping(page: Any) -> int:
    """Upload labels.csv as a taxonomy, then master_labels_cityscapes.csv as a new mapping."""
    page.goto("/taxonomies")
    page.get_by_label("File").set_input_files(str(SOURCE_CSV))
    page.get_by_label("Name", exact=True).fill("Mapillary Vistas")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/taxonomies/\d+$"))
    page.get_by_role("heading", name="Mapillary Vistas").wait_for()
    page.goto("/mappings/new")
    form = page.locator('form[action="/mappings/import"]')
    form.get_by_label("Source taxonomy").select_option(label="Mapillary Vistas (66 labels)")
    form.get_by_label("CSV file").set_input_files(str(MASTER_CSV))
    form.get_by_label("Mapping name (optional)").fill("Vistas → Cityscapes")
    form.get_by_label("Target taxonomy name, if it is new (optional)").fill("Cityscapes 19")
    form.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/mappings/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _edit_rows_view(page: Any) -> None:
    """Type-ahead with arrows + Enter adds a class; Backspace on the empty box removes the last chip."""
    assert _chips(page, GUARD_RAIL) == ["void"]
    box = _row(page, GUARD_RAIL).get_by_role("combobox")
    box.click()
    box.type("fen")
    options = _row(page, GUARD_RAIL).get_by_role("option")
    assert options.first.inner_text().startswith("fence")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    _wait_version(page, 2)
    assert _chips(page, GUARD_RAIL) == ["fence", "void"]
    # the keyboard stays in the row's (new) type-ahead, so the next class can be typed at once
    page.wait_for_function("document.activeElement && document.activeElement.id === 'ta-4'")
    assert "Mapped" in page.locator("#toasts").inner_text()
    page.keyboard.press("Backspace")
    _wait_version(page, 3)
    assert _chips(page, GUARD_RAIL) == ["fence"]
    # "/" focuses the search box; the filter narrows the rows (server-side fragment)
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "row-search"
    page.keyboard.type("caravan")
    page.locator("#mapping-rows-body tr[data-source]").first.wait_for()
    page.wait_for_function("document.querySelectorAll('#mapping-rows-body tr[data-source]').length === 1")


def _edit_matrix_view(page: Any, mapping_id: int) -> None:
    """Clicks toggle cells; Ctrl+Z undoes the last edit."""
    page.goto(f"/mappings/{mapping_id}?view=matrix")
    assert _cell(page, CARAVAN, VOID).get_attribute("aria-pressed") == "true"
    _cell(page, CARAVAN, 13).click()
    _wait_version(page, 4)
    assert _cell(page, CARAVAN, 13).get_attribute("aria-pressed") == "true"
    _cell(page, CARAVAN, VOID).click()
    _wait_version(page, 5)
    assert _cell(page, CARAVAN, VOID).get_attribute("aria-pressed") == "false"
    _cell(page, BIRD, 18).click()
    _wait_version(page, 6)
    assert _cell(page, BIRD, 18).get_attribute("aria-pressed") == "true"
    # keyboard: the clicked cell keeps the focus; arrows move, Space toggles
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    _wait_version(page, 7)
    assert _cell(page, BIRD, 17).get_attribute("aria-pressed") == "true"
    page.keyboard.press("Control+z")
    _wait_version(page, 8)
    assert _cell(page, BIRD, 17).get_attribute("aria-pressed") == "false"
    assert "Undone" in page.locator("#toasts").inner_text()
    page.keyboard.press("Control+z")
    _wait_version(page, 9)
    assert _cell(page, BIRD, 18).get_attribute("aria-pressed") == "false"


def _conflict_then_reapply(page: Any) -> None:
    """A stale page's edit gets the conflict panel; "Reapply" saves it on top of the new version."""
    box = _row(page, MOUNTAIN).get_by_role("combobox")
    box.click()
    box.type("terrain")
    page.keyboard.press("Enter")
    panel = page.locator("#conflict-panel")
    panel.get_by_role("heading", name="Someone else changed this mapping").wait_for()
    assert "by erin" in panel.inner_text()
    assert GUARD_RAIL in panel.inner_text()  # the other user's changes are listed
    assert _chips(page, GUARD_RAIL) == ["fence"]  # and the stale rows were refreshed
    panel.get_by_role("button", name=re.compile("Reapply my change")).click()
    _wait_version(page, 10)
    assert _chips(page, MOUNTAIN) == ["terrain", "void"]
    assert page.locator("#conflict-panel section").count() == 0


def _review_and_approve(erin: Any, rita: Any, mapping_id: int) -> None:
    erin.goto(f"/mappings/{mapping_id}/review")
    erin.get_by_label("Message for the reviewer").fill("Guard rails are fences; caravans are cars.")
    erin.get_by_role("button", name=re.compile("Submit version 10 for review")).click()
    erin.get_by_text("submitted for review").first.wait_for()
    rita.goto("/")
    rita.locator("#review-badge", has_text="1").wait_for()
    rita.get_by_role("link", name=re.compile("Reviews")).click()
    rita.get_by_role("link", name="Review", exact=True).first.click()
    row = rita.locator("tr", has=rita.get_by_role("rowheader", name=CARAVAN))
    row.get_by_text("Comment", exact=True).click()
    row.get_by_role("textbox").fill("Caravans look like cars from the teacher's view: ok.")
    row.get_by_role("button", name="Add comment").click()
    row.locator(".comment", has_text="Caravans look like cars").wait_for()
    rita.get_by_role("button", name="Approve and lock").click()
    rita.get_by_text("approved and locked").first.wait_for()
    rita.locator(".badge-approved").first.wait_for()


def _expected_edges() -> set[tuple[str, int]]:
    edges = set(parse_master_labels_csv(MASTER_CSV.read_text(encoding="utf-8")).edges)
    edges |= {(GUARD_RAIL, 4), (CARAVAN, 13), (MOUNTAIN, 9)}
    edges -= {(GUARD_RAIL, VOID), (CARAVAN, VOID)}
    return edges


def test_create_edit_conflict_review_export(new_page: Any, tmp_path: Path) -> None:
    _shared_or_skip()
    erin = new_page("erin")
    mapping_id = _import_reference_mapping(erin)
    eddie = new_page("eddie")
    eddie.goto(f"/mappings/{mapping_id}")  # opened now: its base version goes stale below
    _edit_rows_view(erin)
    _edit_matrix_view(erin, mapping_id)
    _conflict_then_reapply(eddie)
    rita = new_page("rita")
    _review_and_approve(erin, rita, mapping_id)
    with rita.expect_download() as info:
        rita.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    exported = parse_master_labels_csv(path.read_text(encoding="utf-8"))
    assert set(exported.edges) == _expected_edges()


def test_viewer_sees_a_read_only_editor(new_page: Any, live_server: Any) -> None:
    with live_server.session_factory() as s:
        mapping = factories.make_mapping(s, name="read-only check")
        s.commit()
    vera = new_page("vera")
    vera.goto("/mappings")
    vera.get_by_role("link", name="read-only check").click()
    vera.get_by_text("editing needs the editor role").wait_for()
    assert vera.get_by_role("combobox").count() == 0
    vera.goto(f"/mappings/{mapping.id}?view=matrix")
    assert vera.locator(".mapping-matrix tbody button:not([disabled])").count() == 0
    vera.goto(f"/mappings/{mapping.id}/review")
    assert vera.get_by_role("button", name=re.compile("Submit|Approve")).count() == 0
