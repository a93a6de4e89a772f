"""Review workflow over HTTP: submit (editor), approve/reject (reviewer only), comments, badge."""

from __future__ import annotations

from app.db.models import Mapping


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
