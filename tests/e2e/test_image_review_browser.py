"""Per-image review in the browser (issue 12): a / r / f in the gallery's large view (and the buttons,
with a note), the card's decision badge, the review filter and counts, bulk rejection behind a
preview count; a reader sees decisions without the buttons.

Same server and real pseudo-label job as ``test_gallery_browser.py`` (its module fixture is reused).
With ``UNILABEL_SCREENSHOTS=1`` the screenshots go to ``docs/screenshots/`` (jobs-review-*).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import ImageReview
from tests.e2e.test_gallery_browser import JOB, REPO_ROOT, _review
from tests.e2e.test_gallery_browser import live_server as live_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _decision(page: Any) -> str:
    return str(page.locator("#gallery-viewer [data-viewer-decision]").inner_text())


def _badge(page: Any, image: str) -> str:
    return str(page.locator(f".review-item[aria-label='{image}'] [data-review-badge]").inner_text())


def _rows(live: Any) -> dict[str, tuple[str, str | None, int]]:
    with live.session_factory() as s:
        rows = s.scalars(select(ImageReview).where(ImageReview.job_id == JOB["id"])).all()
        return {r.image: (r.decision, r.note, r.version) for r in rows}


def test_keys_decide_in_the_large_view_and_the_card_shows_it(
    new_page: Any,
    live_server: Any,
    shots: Path,  # noqa: F811
) -> None:
    page = new_page("erin", width=1280, height=900)
    _review(page, "?sort=name&order=asc")
    names = page.locator(".review-item .review-open code").all_inner_texts()
    page.locator(".review-item").first.locator("[data-viewer-open]").click()
    dialog = page.locator("#gallery-viewer")
    dialog.wait_for(state="visible")
    assert _decision(page) == "Not reviewed"
    page.keyboard.press("a")
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Accepted'"
    )
    assert _badge(page, names[0]) == "accepted"
    page.keyboard.press("ArrowRight")
    assert _decision(page) == "Not reviewed"
    dialog.get_by_label("Note").fill("sky bleeds into the trees")
    page.keyboard.press("r")  # typed into the note, not a decision
    assert dialog.get_by_label("Note").input_value().endswith("treesr") and _decision(page) == "Not reviewed"
    dialog.get_by_label("Note").fill("sky bleeds into the trees")
    dialog.get_by_role("button", name="r Reject").click()
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Rejected'"
    )
    page.keyboard.press("ArrowRight")
    page.keyboard.press("f")
    page.wait_for_function("() => document.querySelector('[data-viewer-decision]').textContent === 'Flagged'")
    page.keyboard.press("r")  # changing one's mind: a new version of the same decision row
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Rejected'"
    )
    page.keyboard.press("ArrowLeft")
    assert _decision(page) == "Rejected"
    assert dialog.get_by_label("Note").input_value() == "sky bleeds into the trees"
    assert dialog.get_by_role("button", name="r Reject").get_attribute("aria-pressed") == "true"
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery-viewer img')]"
        ".filter(i => i.style.visibility === 'visible').every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "jobs-review-decision.png"))
    assert _rows(live_server) == {
        names[0]: ("accepted", None, 1),
        names[1]: ("rejected", "sky bleeds into the trees", 1),
        names[2]: ("rejected", None, 2),
    }
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert _badge(page, names[1]) == "rejected" and _badge(page, names[2]) == "rejected"
    # the filter and the counts (after a reload: server-side)
    assert page.locator("[data-review-count='rejected']").inner_text() == "2 rejected"  # counted in place
    assert page.locator("#gf-review option[value='rejected']").inner_text() == "rejected (2)"
    page.get_by_label("Review", exact=True).select_option("rejected")
    page.wait_for_url(re.compile(r"review=rejected"))
    page.wait_for_function("() => document.querySelectorAll('.review-item').length === 2")
    assert page.locator(".review-item .review-open code").all_inner_texts() == names[1:3]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.review-item img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.locator("#review-gallery").screenshot(path=str(shots / "jobs-review-cards.png"))
    page.reload()
    assert page.locator("[data-review-count='accepted']").inner_text() == "1 accepted"
    assert page.locator("[data-review-count='rejected']").inner_text() == "2 rejected"


def test_bulk_reject_shows_the_count_before_it_rejects(
    new_page: Any,
    live_server: Any,
    shots: Path,  # noqa: F811
) -> None:
    page = new_page("erin", width=1280, height=900)
    _review(page)
    before = int(page.locator("[data-review-count='rejected'] strong").inner_text())
    page.get_by_label("or void share above (%)").fill("0")  # every image with any void pixel
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#bulk-reject-result .bulk-preview")
    preview.wait_for(timeout=60_000)  # it reads every label file: slow on a loaded machine
    text = preview.inner_text()
    match = re.search(r"This rejects (\d+) image", text)
    assert match, text
    count = int(match.group(1))
    page.locator("#review-decisions").screenshot(path=str(shots / "jobs-review-bulk.png"))
    assert int(page.locator("[data-review-count='rejected'] strong").inner_text()) == before  # not yet
    page.get_by_role("button", name=re.compile(r"^Reject \d+ image")).click()
    page.wait_for_url(re.compile(r"review=rejected"))
    after = int(page.locator("[data-review-count='rejected'] strong").inner_text())
    assert after == before + count


def test_a_reader_sees_the_decision_but_cannot_decide(new_page: Any, live_server: Any) -> None:  # noqa: F811
    page = new_page("vera")
    _review(page)
    page.locator(".review-item").first.locator("[data-viewer-open]").click()
    page.locator("#gallery-viewer").wait_for(state="visible")
    assert page.locator("#gallery-viewer [data-decide]").count() == 0
    shown = _decision(page)
    page.keyboard.press("a")
    assert _decision(page) == shown
