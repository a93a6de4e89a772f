"""End-to-end (issue 15): suggested edges in the editor. A ghost chip shows its evidence on keyboard
focus and is accepted with Enter (a new version); a rejected one stays away after a reload; "accept
all with score ≥ x" shows the edges first and saves them as one version; an empty mapping gets a
complete first version from "Draft from evidence"; a viewer sees the chips without buttons.

Screenshots for docs/ui.md go to ``docs/screenshots/`` with ``UNILABEL_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.services import mappings as mapping_service
from app.services import reviews as review_service
from app.services import users as user_service
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


@pytest.fixture
def make_mapping(live_server: Any) -> Any:
    """``make_mapping(edges)`` -> the id of a new mapping city -> tiny, with an approved mapping
    from another taxonomy (road, sidewalk -> drivable; building -> obstacle; sky -> sky) as evidence."""

    def make(edges: tuple[tuple[str, int], ...]) -> int:
        with live_server.session_factory() as s:
            erin = user_service.get_user_by_name(s, "erin")
            rita = user_service.get_user_by_name(s, "rita")
            target = factories.make_class_list(s)
            other = factories.make_mapping(s, target=target, author=erin)
            v1 = mapping_service.current_version(s, other.id)
            review_service.submit_for_review(s, version_id=v1.id, author=erin)
            review_service.approve(s, version_id=v1.id, reviewer=rita, message="ok")
            mapping = factories.make_mapping(s, target=target, edges=edges, author=erin)
            s.commit()
            return mapping.id

    return make


def _row(page: Any, source: str) -> Any:
    return page.locator(f'tr[data-source="{source}"]')


def _chips(page: Any, source: str) -> list[str]:
    return [c.strip() for c in _row(page, source).locator(".chip > span:not(.swatch)").all_inner_texts()]


def _wait_version(page: Any, number: int) -> None:
    page.locator("#editor-state strong", has_text=re.compile(rf"^{number}$")).wait_for()


def test_accept_by_enter_after_reading_the_evidence(new_page: Any, make_mapping: Any, out_dir: Path) -> None:
    mapping_id = make_mapping((("road", 0),))
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    ghost = _row(page, "sidewalk").locator('[data-suggestion="0:sidewalk"]')
    accept = ghost.locator("button.ghost-accept")
    tip = page.locator("#" + accept.get_attribute("aria-describedby"))
    tip.wait_for(state="hidden")
    accept.focus()
    tip.wait_for(state="visible")
    assert "mapped to `drivable` in 1 of 1 other approved mapping" in tip.inner_text()
    page.screenshot(path=str(out_dir / "editor-suggestions.png"), full_page=False)
    page.keyboard.press("Enter")
    _wait_version(page, 2)
    assert _chips(page, "sidewalk") == ["drivable"]
    assert _row(page, "sidewalk").locator('[data-suggestion="0:sidewalk"]').count() == 0
    assert "Accepted suggestion" in page.locator("#toasts").inner_text()
    page.goto(f"/mappings/{mapping_id}/versions")
    assert "accepted suggestion: 'sidewalk' → drivable" in page.locator("main").inner_text()


def test_rejected_suggestion_stays_away(new_page: Any, make_mapping: Any) -> None:
    mapping_id = make_mapping((("road", 0),))
    page = new_page("eddie")
    page.goto(f"/mappings/{mapping_id}")
    _row(page, "sky").get_by_role("button", name="Reject suggestion sky for sky").click()
    page.locator("#toasts", has_text="Rejected suggestion").wait_for()
    assert _row(page, "sky").locator('[data-suggestion="3:sky"]').count() == 0
    page.reload()
    assert _row(page, "sky").locator('[data-suggestion="3:sky"]').count() == 0
    assert _row(page, "sidewalk").locator('[data-suggestion="0:sidewalk"]').count() == 1
    assert "Version <strong>1</strong>" in page.locator("#editor-state").inner_html()


def test_accept_all_shows_the_edges_first(new_page: Any, make_mapping: Any, out_dir: Path) -> None:
    mapping_id = make_mapping((("road", 0),))
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    page.get_by_label("Accept all with score ≥").fill("0.55")
    page.get_by_role("button", name="Preview accept all").click()
    panel = page.locator("#suggestion-panel")
    panel.get_by_role("heading", name=re.compile("Accept all suggestions with score ≥ 0.55")).wait_for()
    items = [re.sub(r"\s+", " ", t).strip() for t in panel.locator("li").all_inner_texts()]
    assert "+ sidewalk → drivable 60%" in items and "+ sky → sky 80%" in items
    assert not any("vegetation → vegetation" in t for t in items)  # 50 %: below 0.55
    page.screenshot(path=str(out_dir / "editor-accept-all-preview.png"), full_page=False)
    assert "Version <strong>1</strong>" in page.locator("#editor-state").inner_html()  # nothing saved yet
    panel.get_by_role("button", name=re.compile("^Confirm: add")).click()
    _wait_version(page, 2)
    assert panel.inner_text().strip() == ""
    assert _chips(page, "sky") == ["sky"] and _chips(page, "sidewalk") == ["drivable"]
    assert _chips(page, "vegetation") == ["void"]


def test_draft_from_evidence_builds_a_first_version(
    new_page: Any, make_mapping: Any, out_dir: Path, tmp_path: Path
) -> None:
    mapping_id = make_mapping(())
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    page.get_by_role("button", name="Draft from evidence").click()
    panel = page.locator("#suggestion-panel")
    panel.get_by_role("heading", name="Draft from evidence (preview)").wait_for()
    assert panel.locator("li").count() == 7  # every source label
    page.screenshot(path=str(out_dir / "editor-draft-preview.png"), full_page=False)
    panel.get_by_role("button", name=re.compile("^Confirm: save the draft")).click()
    _wait_version(page, 2)
    assert _chips(page, "road") == ["drivable"] and _chips(page, "sky") == ["sky"]
    for source in ("unlabeled", "road", "sidewalk", "building", "vegetation", "sky", "license plate"):
        assert _chips(page, source), source  # complete: no row left unmapped
    assert page.get_by_role("button", name="Draft from evidence").count() == 0
    page.screenshot(path=str(tmp_path / "editor-draft-saved.png"), full_page=False)


def test_viewer_sees_ghost_chips_without_buttons(new_page: Any, make_mapping: Any) -> None:
    mapping_id = make_mapping((("road", 0),))
    page = new_page("vera")
    page.goto(f"/mappings/{mapping_id}")
    ghost = _row(page, "sidewalk").locator('[data-suggestion="0:sidewalk"]')
    assert ghost.count() == 1 and ghost.locator("button").count() == 0
    ghost.locator(".ghost-accept").focus()
    page.locator("#" + ghost.locator(".ghost-accept").get_attribute("aria-describedby")).wait_for(
        state="visible"
    )
    assert page.locator("#suggestion-bar").count() == 0
