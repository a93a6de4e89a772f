"""Review page: harmless errors acknowledged on approval (recorded), one-click "apply suggestion"."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from app.services import mappings as mapping_service
from tests import factories
from tests.web.pages.conftest import unescape

TEXT = (
    "trainId,name\n0,drivable,road\n1,obstacle,building\n2,vegetation,tree\n3,sky,skyy\n255,void,unlabeled\n"
)


def _imported(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        source = factories.make_taxonomy(s)
        mapping = mapping_service.import_master_labels(s, text=TEXT, source_taxonomy_id=source.id).mapping
        s.commit()
        return mapping.id


def test_reviewer_approves_by_acknowledging_each_listed_finding(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    mapping_id = _imported(session_factory)
    ed, rev = login("editor"), login("reviewer")
    url = f"/mappings/{mapping_id}/versions/1"
    ed.post(f"{url}/submit", {"message": ""})
    page = unescape(rev.get(f"/mappings/{mapping_id}/review").text)
    keys = re.findall(r'name="acknowledged" value="([^"]+)"', page)
    assert sorted(keys) == ["unknown_source_name|skyy|", "unknown_source_name|tree|"]
    assert "approval is refused" not in page
    refused = rev.post(f"{url}/decision", {"decision": "approve", "acknowledged": keys[:1]})
    assert refused.status_code == 303
    page = unescape(rev.get(f"/mappings/{mapping_id}/review").text)
    assert "1 finding(s) to acknowledge" in page and "in review" in page
    assert rev.post(f"{url}/decision", {"decision": "approve", "acknowledged": keys}).status_code == 303
    page = unescape(rev.get(f"/mappings/{mapping_id}/review?version=1").text)
    assert "This version is locked" in page and "Acknowledged findings:" in page


def test_editor_applies_a_suggestion_in_one_click(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    mapping_id = _imported(session_factory)
    ed = login("editor")
    page = unescape(ed.get(f"/mappings/{mapping_id}/review").text)
    assert "Apply: sky" in page and "Apply: tree" not in page
    r = ed.post(
        f"/mappings/{mapping_id}/versions/1/apply-suggestion", {"finding": "unknown_source_name|skyy|"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("version=2")
    page = unescape(ed.get(r.headers["location"]).text)
    assert "Suggestion applied: version 2" in page and "Apply: sky" not in page
    with session_factory() as s:
        head = mapping_service.current_version(s, mapping_id)
        assert mapping_service.version_edges(head).targets_of("sky") == (3,)
    viewer = login("viewer")
    assert (
        viewer.post(f"/mappings/{mapping_id}/versions/2/apply-suggestion", {"finding": "x"}).status_code
        == 403
    )
