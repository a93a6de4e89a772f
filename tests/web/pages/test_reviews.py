"""Review workflow over HTTP: submit (editor), approve/reject (reviewer only), comments, badge."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Mapping
from app.services import mappings as mapping_service
from app.services import users as user_service
from tests import factories
from tests.web.pages.conftest import unescape


def test_submit_then_badge_then_reviewer_approves_and_locks(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed, rev = login("editor"), login("reviewer")
    url = f"/mappings/{small_mapping.id}/versions/1"
    assert ed.post(f"{url}/submit", {"message": "first cut"}).status_code == 303
    assert ">1<" in rev.get("/reviews/badge").text
    inbox = rev.get("/reviews").text
    assert small_mapping.name in inbox and "first cut" in inbox
    page = rev.get(f"/mappings/{small_mapping.id}/review").text
    assert "Approve and lock" in page and "first cut" in page
    assert rev.post(f"{url}/decision", {"decision": "approve"}).status_code == 303
    page = rev.get(f"/mappings/{small_mapping.id}/review?version=1").text
    assert "This version is locked" in page
    assert rev.get("/reviews/badge").text.count(">1<") == 0


def test_editor_cannot_approve(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    url = f"/mappings/{small_mapping.id}/versions/1"
    ed.post(f"{url}/submit", {"message": ""})
    r = ed.post(f"{url}/decision", {"decision": "approve"})
    assert r.status_code == 403
    assert "Approve and lock" not in ed.get(f"/mappings/{small_mapping.id}/review").text
    assert "in review" in ed.get(f"/mappings/{small_mapping.id}/review").text


def test_viewer_cannot_submit_or_comment(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    url = f"/mappings/{small_mapping.id}/versions/1"
    assert viewer.post(f"{url}/submit", {"message": "x"}).status_code == 403
    assert viewer.post(f"{url}/comments", {"body": "x"}).status_code == 403


def test_reviewer_rejects_with_a_message(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed, rev = login("editor"), login("reviewer")
    url = f"/mappings/{small_mapping.id}/versions/1"
    ed.post(f"{url}/submit", {"message": "please check"})
    assert (
        rev.post(f"{url}/decision", {"decision": "reject", "message": "vegetation is unmapped"}).status_code
        == 303
    )
    page = ed.get(f"/mappings/{small_mapping.id}/review?version=1").text
    assert "Rejected" in page and "vegetation is unmapped" in page
    assert "Submit version 1 for review" in page  # a rejected version can be resubmitted


def test_comment_per_source_label_returns_the_refreshed_list(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    rev = login("reviewer", "rita")
    r = rev.post(
        f"/mappings/{small_mapping.id}/versions/1/comments",
        {"body": "Is a sidewalk drivable?", "source_name": "sidewalk", "slot": "s1"},
        htmx=True,
    )
    assert r.status_code == 200
    assert (
        r.text.startswith('<div id="comments-s1"')
        and "Is a sidewalk drivable?" in r.text
        and "rita" in r.text
    )
    page = rev.get(f"/mappings/{small_mapping.id}/review").text
    assert "Is a sidewalk drivable?" in page


def _own_mapping_in_review(session_factory: sessionmaker[Session], author_name: str) -> int:
    with session_factory() as s:
        author = user_service.get_user_by_name(s, author_name)
        mapping = factories.make_mapping(s, name=f"{author_name}'s map", author=author)
        version = mapping_service.current_version(s, mapping.id)
        mapping_service.submit_for_review(s, version_id=version.id, author=author)
        s.commit()
        return mapping.id


def test_single_reviewer_self_approval_is_shown_with_a_badge(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    solo = login("reviewer", "solo")
    mid = _own_mapping_in_review(session_factory, "solo")
    page = solo.get(f"/mappings/{mid}/review").text
    assert 'id="four-eyes-note"' in page and "recorded as a self-approval" in page
    assert solo.post(f"/mappings/{mid}/versions/1/decision", {"decision": "approve"}).status_code == 303
    page = solo.get(f"/mappings/{mid}/review?version=1").text
    assert page.count("badge-self-approved") >= 2  # the heading and the approval in the history
    assert "its own author (four-eyes rule off)" in page
    versions = solo.get(f"/mappings/{mid}/versions").text
    assert "badge-self-approved" in versions


def test_author_cannot_approve_own_version_when_another_reviewer_exists(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    ann, bob = login("reviewer", "ann"), login("reviewer", "bob")
    mid = _own_mapping_in_review(session_factory, "ann")
    page = ann.get(f"/mappings/{mid}/review").text
    assert "another reviewer must approve it" in page and "Approve and lock" not in page
    assert ann.post(f"/mappings/{mid}/versions/1/decision", {"decision": "approve"}).status_code == 303
    page = unescape(ann.get(f"/mappings/{mid}/review").text)
    assert "four-eyes rule" in page and "UNILABEL_FOUR_EYES=auto" in page  # the flashed refusal
    assert "Approve and lock" in bob.get(f"/mappings/{mid}/review").text
    assert bob.post(f"/mappings/{mid}/versions/1/decision", {"decision": "approve"}).status_code == 303
    page = bob.get(f"/mappings/{mid}/review?version=1").text
    assert "This version is locked" in page and "badge-self-approved" not in page
