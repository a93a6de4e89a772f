"""Review page: unmapped labels listed by name; the diff-base note follows approvals (issue 11)."""

from __future__ import annotations

import re

from app.db.models import Mapping
from tests.web.pages.conftest import base_version_of, unescape


def _section(page: str, dom_id: str) -> str:
    start = page.index(f'id="{dom_id}"')
    return page[start : page.index("</section>", start)]


def _note(page: str) -> str:
    match = re.search(r'<p class="muted" id="diff-base">(.*?)</p>', page, re.S)
    assert match, "no diff-base note"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_unmapped_labels_are_listed_by_name(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    page = unescape(login("viewer").get(f"/mappings/{small_mapping.id}/review").text)
    listed = _section(page, "unmapped-labels")
    assert "2 source labels still unmapped" in listed
    assert re.findall(r"<li><a href=\"[^\"]+\?q=([^\"]+)\">", listed) == ["unlabeled", "vegetation"]
    assert "with no pixel value (never in an image): license plate" in listed  # pixel value -1
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    data = {"source": "vegetation", "target": 2, "op": "add", "base_version": base, "view": "rows"}
    assert ed.post(f"/mappings/{small_mapping.id}/edges", data, htmx=True).status_code == 200
    listed = _section(unescape(ed.get(f"/mappings/{small_mapping.id}/review").text), "unmapped-labels")
    assert "1 source label still unmapped" in listed and "vegetation" not in listed


def test_the_no_approved_version_note_goes_once_a_version_is_approved(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed, rev = login("editor"), login("reviewer")
    review = f"/mappings/{small_mapping.id}/review"
    assert _note(unescape(rev.get(review).text)) == "No approved version yet: every edge counts as added."
    url = f"/mappings/{small_mapping.id}/versions/1"
    ed.post(f"{url}/submit", {"message": ""})
    assert rev.post(f"{url}/decision", {"decision": "approve"}).status_code == 303
    after = unescape(rev.get(f"{review}?version=1").text)  # where the approval redirects
    assert "No approved version yet" not in after
    assert _note(after) == "Version 1 is the first approved version: the changes below are all of its edges."
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    data = {"source": "vegetation", "target": 2, "op": "add", "base_version": base, "view": "rows"}
    ed.post(f"/mappings/{small_mapping.id}/edges", data, htmx=True)
    assert _note(unescape(ed.get(review).text)) == "Compared with the last approved version, version 1."
