"""End-to-end (issue 11, first minutes and visuals): API docs offline, icons, toasts, getting started."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.taxonomy import Label
from app.services import mappings as mapping_service
from app.services import users as user_service
from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _offline(page: Any, live_server: LiveServer) -> list[str]:
    """Abort every request that leaves the test server (as on a machine without internet)."""
    blocked: list[str] = []

    def handle(route: Any) -> None:
        if route.request.url.startswith(live_server.url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", handle)
    return blocked


def test_swagger_ui_and_redoc_render_without_internet(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(None)
    blocked = _offline(page, live_server)
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()  # operations rendered from /openapi.json
    assert page.locator(".opblock-summary-path", has_text="/api/v1/taxonomies").count() > 0
    page.goto("/redoc")
    page.get_by_role("heading", name="unilabel").first.wait_for()
    page.get_by_text("/api/v1/taxonomies").first.wait_for(state="attached")
    assert blocked == []


def _approved_mapping(live_server: LiveServer, name: str) -> int:
    from app.services import reviews
    from tests import factories

    with live_server.session_factory() as s:
        mapping = factories.make_mapping(s, name=name)
        version = mapping_service.current_version(s, mapping.id)
        reviews.submit_for_review(s, version_id=version.id, author=None)
        rita = user_service.get_user_by_name(s, "rita")
        reviews.approve(s, version_id=version.id, reviewer=rita, four_eyes="off")
        s.commit()
        return mapping.id


def test_approved_badge_shows_an_svg_lock_not_an_emoji(new_page: Any, live_server: LiveServer) -> None:
    mapping_id = _approved_mapping(live_server, "lock icon check")
    page = new_page("vera")
    page.goto(f"/mappings/{mapping_id}/versions")
    badge = page.locator(".badge-approved").first
    lock = badge.locator("svg.icon-lock")
    box = lock.bounding_box()
    assert box is not None and box["width"] >= 8 and box["height"] >= 8  # drawn without any font
    assert "\U0001f512" not in badge.inner_text()
    before = page.evaluate("getComputedStyle(document.querySelector('.badge-approved'), '::before').content")
    assert before in ("none", "normal", "")
    assert badge.inner_text().strip() == "approved"
    for status in page.locator(".job-badge").all():  # job status icons are SVG too (none here)
        assert status.locator("svg.icon").count() == 1


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


_COVERED = """(stickyOnly) => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
  };
  const toasts = [...document.querySelectorAll('#toasts .toast')].map(box);
  const wanted = '.editor-side, .validation-panel, button, a.btn, input, select';
  const targets = [...document.querySelectorAll(wanted)]
    .filter((el) => !el.closest('#toasts') && el.offsetParent !== null && el.getClientRects().length)
    .filter((el) => !stickyOnly || el.closest('.editor-side'))
    .map((el) => ({what: String(el.className || el.tagName), tag: el.tagName, ...box(el)}));
  return {toasts, targets};
}"""


def test_toasts_never_cover_the_validation_panel_or_buttons(new_page: Any, live_server: LiveServer) -> None:
    from tests import factories

    labels = (*factories.SOURCE_LABELS, *(Label(100 + i, f"extra {i}") for i in range(30)))
    with live_server.session_factory() as s:  # long enough to scroll with the side panel stuck
        source = factories.make_taxonomy(s, name="toast placement labels", labels=labels)
        mapping = factories.make_mapping(s, name="toast placement check", source=source)
        s.commit()
    page = new_page("erin", width=1280, height=560)
    page.goto(f"/mappings/{mapping.id}")
    for n, (source, typed) in enumerate((("vegetation", "veg"), ("sky", "obs"), ("road", "obs")), start=2):
        box = page.locator(f'tr[data-source="{source}"]').get_by_role("combobox")
        box.click()
        box.type(typed)
        page.keyboard.press("Enter")
        page.locator("#editor-state strong", has_text=str(n)).wait_for()
    page.locator("#toasts .toast").nth(2).wait_for()
    # At the top nothing may be under a toast; scrolled down, what scrolls away passes under the
    # sticky header and toast band alike, but the sticky side panel (validation, buttons) stays clear.
    for scroll, sticky_only in ((0, False), (600, True)):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        page.wait_for_timeout(100)
        seen = page.evaluate(_COVERED, sticky_only)
        assert len(seen["toasts"]) >= 3
        assert any("validation-panel" in t["what"] for t in seen["targets"]), seen["targets"]
        assert sticky_only or any(t["tag"] == "BUTTON" for t in seen["targets"])
        covered = [t for t in seen["targets"] for toast in seen["toasts"] if _overlaps(toast, t)]
        assert covered == [], f"toasts cover {covered} (scrolled to {scroll})"


def test_getting_started_walks_the_whole_path(new_page: Any) -> None:
    page = new_page("erin")
    steps = page.locator("ol.getting-started > li")
    assert steps.count() == 10
    titles = [t.strip() for t in steps.locator("strong").all_inner_texts()]
    assert titles[0] == "Taxonomies" and titles[-1] == "Experiment" and "Student training" in titles
    hrefs = [a.get_attribute("href") for a in steps.locator("a").all()]
    for href in hrefs:  # every step opens a working page
        response = page.goto(href)
        assert response is not None and response.status < 400, href
    page.goto("/")
    page.get_by_role("link", name="Submit a pseudo-label job").click()
    page.wait_for_url("**/jobs/new?kind=pseudo_label")
    assert page.get_by_label("Pseudo-label").is_checked()
