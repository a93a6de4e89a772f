"""End-to-end (issue 11): a typo in an imported file is a one-click finding, never an editor row;
quick edits read as one history group with class names; the review page lists unmapped labels and
drops the "no approved version" note after approval; a first login says "Welcome".

The screenshots docs/ui.md shows go to ``docs/screenshots/`` with ``UNILABEL_SCREENSHOTS=1``, the
others (and all of them without it) to a temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.domain.taxonomy import Label
from app.domain.taxonomy import Taxonomy as DomainTaxonomy
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = DomainTaxonomy(
    name="IDD level 3",
    labels=(
        Label(0, "road", "#804080"),
        Label(1, "sidewalk", "#f423e8"),
        Label(2, "autorickshaw", "#ff8000"),
        Label(3, "motorcycle", "#0000e6"),
        Label(4, "car", "#00008e"),
        Label(5, "vegetation", "#6b8e23"),
        Label(6, "sky", "#4682b4"),
        Label(7, "billboard", "#aa7800"),
    ),
)
# 'autorikshaw' is a typo of the source label 'autorickshaw' (its edge to 'vehicle' is not imported)
MASTER = (
    "trainId,name\n0,drivable,road\n1,vehicle,autorikshaw,car\n2,vegetation,vegetation\n"
    "3,sky,sky\n255,void,\n"
)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


@pytest.fixture
def mapping_id(live_server: Any) -> int:
    with live_server.session_factory() as s:
        existing = taxonomy_service.list_taxonomies(s, limit=100)[0]
        source = next((t for t in existing if t.name == SOURCE.name), None)
        source = source or taxonomy_service.create_taxonomy(s, taxonomy=SOURCE)
        erin = user_service.get_user_by_name(s, "erin")
        result = mapping_service.import_master_labels(
            s, text=MASTER, source_taxonomy_id=source.id, name=None, author=erin
        )
        s.commit()
        return result.mapping.id


def _row(page: Any, source: str) -> Any:
    return page.locator(f'tr[data-source="{source}"]')


def _chips(page: Any, source: str) -> list[str]:
    return [c.strip() for c in _row(page, source).locator(".chip > span:not(.swatch)").all_inner_texts()]


def _wait_version(page: Any, number: int) -> None:
    page.locator("#editor-state strong", has_text=re.compile(rf"^{number}$")).wait_for()


def test_a_typo_is_fixed_in_one_click_from_the_validation_panel(
    new_page: Any, mapping_id: int, out_dir: Path, tmp_path: Path
) -> None:
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    assert _row(page, "autorikshaw").count() == 0  # never a row
    assert _chips(page, "autorickshaw") == []  # the real label lost its edge in the file
    panel = page.locator("#mapping-validation")
    finding = panel.locator("li.finding", has_text="'autorikshaw' is not a label")
    assert "Did you mean 'autorickshaw'?" in finding.inner_text()
    assert "Its targets: vehicle" in finding.inner_text()
    page.screenshot(path=str(out_dir / "editor-typo-finding.png"), full_page=True)
    finding.get_by_role("button", name="Apply: autorickshaw").click()
    _wait_version(page, 2)
    assert _chips(page, "autorickshaw") == ["vehicle"]
    assert "Applied the suggestion" in page.locator("#toasts").inner_text()
    assert panel.get_by_role("button", name=re.compile("^Apply")).count() == 0
    assert _row(page, "autorikshaw").count() == 0
    page.screenshot(path=str(tmp_path / "editor-typo-applied.png"), full_page=True)


def test_quick_edits_read_as_one_group_with_class_names(
    new_page: Any, mapping_id: int, out_dir: Path, tmp_path: Path
) -> None:
    page = new_page("eddie")
    page.goto(f"/mappings/{mapping_id}")
    for number, (source, typed) in enumerate(
        (("motorcycle", "vehic"), ("sidewalk", "driv"), ("billboard", "void")), start=2
    ):
        box = _row(page, source).locator("input[data-typeahead]")
        box.click()
        box.type(typed)
        page.keyboard.press("Enter")
        _wait_version(page, number)
    assert _chips(page, "motorcycle") == ["vehicle"]
    page.goto(f"/mappings/{mapping_id}/versions")
    version_cells = page.locator("td.col-version").all_inner_texts()
    assert [re.sub(r"\s+", " ", c).strip() for c in version_cells] == ["2–4 (current)", "1"]
    group = page.locator("tr.version-group details")
    assert "3 edits" in group.locator("summary").inner_text()
    assert "Map 'motorcycle' → vehicle" in group.locator("summary").inner_text()
    group.locator("summary").click()
    steps = group.locator("ol.version-steps li").all_inner_texts()
    assert len(steps) == 3 and "Map 'billboard' → void" in steps[-1]
    page.screenshot(path=str(out_dir / "versions-grouped.png"), full_page=True)
    page.get_by_role("link", name="Changes of versions 2 to 4").click()
    page.get_by_role("heading", name="The 3 versions this diff sums up").wait_for()
    page.screenshot(path=str(tmp_path / "diff-grouped.png"), full_page=True)


def test_review_lists_unmapped_labels_and_the_note_follows_approval(
    new_page: Any, mapping_id: int, out_dir: Path
) -> None:
    erin = new_page("erin")
    erin.goto(f"/mappings/{mapping_id}/review")
    unmapped = erin.locator("#unmapped-labels")
    names = unmapped.locator("li").all_inner_texts()
    assert names == ["autorickshaw", "billboard", "motorcycle", "sidewalk"]  # by name
    assert erin.locator("#diff-base").inner_text() == "No approved version yet: every edge counts as added."
    erin.get_by_role("button", name=re.compile("Submit version 1 for review")).click()
    erin.get_by_text("submitted for review").first.wait_for()
    rita = new_page("rita")
    rita.goto(f"/mappings/{mapping_id}/review")
    rita.screenshot(path=str(out_dir / "review-unmapped.png"), full_page=True)
    for box in rita.locator("#acknowledge-findings input[type=checkbox]").all():
        box.check()
    rita.get_by_role("button", name="Approve and lock").click()
    rita.get_by_text("approved and locked").first.wait_for()
    note = rita.locator("#diff-base").inner_text()
    assert "No approved version yet" not in note and "first approved version" in note
    assert rita.locator("#unmapped-labels li").count() == 4  # still listed on the approved version


def test_first_login_says_welcome_then_welcome_back(new_page: Any, live_server: Any, tmp_path: Path) -> None:
    with live_server.session_factory() as s:
        user_service.create_user(s, name="newton", role="viewer", password=PASSWORD)
        s.commit()
    page = new_page("newton")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, newton"
    page.screenshot(path=str(tmp_path / "home-first-login.png"))
    page.get_by_role("button", name=re.compile("Sign out|Log out")).click()
    page.wait_for_url(re.compile(r"/login"))
    again = new_page("newton")
    assert again.get_by_role("heading", level=1).inner_text() == "Welcome back, newton"
