"""Per-image review on the review page (issue 12): decision counts, card badges, the gallery's review
filter, and bulk rejection by rule behind a preview count. Keys in the large view: e2e tests."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.jobs.test_image_review_api import IMAGES, review_url
from tests.jobs.test_image_review_api import run as run  # noqa: F401  (fixture)

Headers = dict[str, str]
HX = {"HX-Request": "true"}


@pytest.fixture
def review(run: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    (run["out"] / "summary.json").write_text(json.dumps({"written": IMAGES, "histogram_named": {}}))
    return run


def _cards(page: str) -> dict[str, str]:
    """image -> its review state, from the cards of a page."""
    found = re.findall(
        r'<article class="review-item" aria-label="([^"]+)"[^>]*?data-review="(\w+)"', page, re.S
    )
    return dict(found)


def test_counts_badges_and_the_review_filter(
    client: TestClient, editor: Headers, review: dict[str, Any]
) -> None:
    job = review["id"]
    for image, decision in (("images/train/0001.png", "rejected"), ("images/train/0002.png", "flagged")):
        r = client.put(review_url(job, image), json={"decision": decision, "base_version": 0}, headers=editor)
        assert r.status_code == 200, r.text
    page = html.unescape(client.get(f"/jobs/{job}/review", headers=editor).text)
    assert re.search(r'data-review-count="rejected"><strong>1</strong> rejected', page)
    assert re.search(
        r'data-review-count="unreviewed"><strong>9</strong> unreviewed', page
    )  # 8 + the failed one
    cards = _cards(page)
    assert cards["images/train/0001.png"] == "rejected" and cards["images/train/0003.png"] == "unreviewed"
    assert '<span class="badge review-badge is-flagged" data-review-badge>flagged</span>' in page
    assert '<option value="rejected">rejected (1)</option>' in page
    assert "<kbd>a</kbd> Accept" in page  # an editor gets the decision buttons
    only = html.unescape(client.get(f"/jobs/{job}/review?review=rejected", headers=editor).text)
    assert list(_cards(only)) == ["images/train/0001.png"] and "reviewed as <strong>rejected</strong>" in only
    bad = client.get(f"/jobs/{job}/review?review=bogus", headers=editor)
    assert bad.status_code == 422 and "review must be one of accepted" in html.unescape(bad.text)


def test_a_reader_sees_decisions_without_the_buttons(
    client: TestClient, viewer: Headers, review: dict[str, Any]
) -> None:
    page = client.get(f"/jobs/{review['id']}/review", headers=viewer)
    assert page.status_code == 200
    assert "data-review-count" in page.text and "<kbd>a</kbd> Accept" not in page.text
    assert 'class="bulk-reject"' not in page.text
    r = client.post(
        f"/jobs/{review['id']}/review/bulk-reject", data={"void_above": "10"}, headers=viewer | HX
    )
    assert r.status_code == 403


def test_bulk_reject_previews_the_count_then_confirms(
    client: TestClient, editor: Headers, review: dict[str, Any]
) -> None:
    job = review["id"]
    url = f"/jobs/{job}/review/bulk-reject"
    preview = client.post(url, data={"correction_above": "65 %"}, headers=editor | HX)  # images 7, 8, 9
    assert preview.status_code == 200, preview.text
    assert "This rejects 3 images" in preview.text and 'name="confirm" value="1"' in preview.text
    counts = client.get(f"/api/v1/jobs/{job}/reviews", headers=editor).json()["counts"]
    assert counts["rejected"] == 0  # the preview changed nothing
    done = client.post(url, data={"correction_above": "65 %", "confirm": "1"}, headers=editor | HX)
    assert done.status_code == 204 and done.headers["HX-Redirect"].endswith("?review=rejected#review-gallery")
    assert client.get(f"/api/v1/jobs/{job}/reviews", headers=editor).json()["counts"]["rejected"] == 3
    again = client.post(url, data={"correction_above": "65"}, headers=editor | HX)
    assert "nothing to reject" in html.unescape(again.text)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "correction_above or void_above"),
        ({"correction_above": "lots"}, "is not a number of percent"),
        ({"void_above": "150"}, "between 0 and 100"),
    ],
)
def test_bulk_reject_refuses_a_bad_rule_with_a_message(
    client: TestClient, editor: Headers, review: dict[str, Any], form: dict[str, str], message: str
) -> None:
    r = client.post(f"/jobs/{review['id']}/review/bulk-reject", data=form, headers=editor | HX)
    assert r.status_code == 422 and r.headers["HX-Reswap"] == "innerHTML"
    assert message in html.unescape(r.text)
