"""Review decisions as compare-and-set status changes, and the four-eyes rule (services, both DBs)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import User
from app.db.session import unit_of_work
from app.domain.errors import Conflict, PermissionDenied
from app.services import mappings as service
from app.services import reviews
from app.services import users as user_service
from tests import factories


def _in_review(session_factory: sessionmaker[Session], author_id: int | None = None) -> int:
    """A committed mapping whose version 1 (authored by ``author_id``) waits for review."""
    with unit_of_work(session_factory) as s:
        author = user_service.get_user(s, author_id) if author_id else None
        mapping = factories.make_mapping(s, author=author)
        version = service.current_version(s, mapping.id)
        service.submit_for_review(s, version_id=version.id, author=author)
        return version.id


def _reviewers(session_factory: sessionmaker[Session], n: int) -> list[int]:
    with unit_of_work(session_factory) as s:
        return [factories.make_user(s, role="reviewer")[0].id for _ in range(n)]


def _status_and_kinds(session_factory: sessionmaker[Session], version_id: int) -> tuple[str, list[str]]:
    with session_factory() as s:
        comments, _ = service.list_comments(s, version_id)
        return service.get_version(s, version_id).status, [c.kind for c in comments]


def test_a_decision_based_on_a_stale_read_cannot_overturn_an_approval(
    session_factory: sessionmaker[Session],
) -> None:
    first, second = _reviewers(session_factory, 2)
    version_id = _in_review(session_factory)
    with session_factory() as stale:
        seen = service.get_version(stale, version_id)  # this session read the version before the approval
        assert seen.status == "in_review"
        with unit_of_work(session_factory) as s:
            service.approve(s, version_id=version_id, reviewer=user_service.get_user(s, first))
        with pytest.raises(Conflict) as info:
            service.reject(stale, version_id=version_id, reviewer=user_service.get_user(stale, second))
        stale.commit()  # what the request would do if the reject had "succeeded"
    assert info.value.details["status"] == "approved" and "approved" in info.value.message
    assert seen.status == "approved"  # re-read for the message
    assert _status_and_kinds(session_factory, version_id) == ("approved", ["submit", "approve"])


def _race(
    session_factory: sessionmaker[Session], version_id: int, moves: list[tuple[str, int]]
) -> list[object]:
    """Run each (action, reviewer id) in its own thread and unit of work, all released together
    after each has read the version; returns "won" or the exception, in ``moves`` order."""
    barrier = threading.Barrier(len(moves))
    results: list[object] = [None] * len(moves)

    def decide(i: int, action: str, reviewer_id: int) -> None:
        try:
            with unit_of_work(session_factory) as s:
                reviewer = user_service.get_user(s, reviewer_id)
                service.get_version(s, version_id)  # everybody has seen "in_review"
                barrier.wait(timeout=20)
                getattr(service, action)(s, version_id=version_id, reviewer=reviewer)
            results[i] = "won"
        except Exception as exc:  # recorded for the assertions
            results[i] = exc

    threads = [threading.Thread(target=decide, args=(i, *m)) for i, m in enumerate(moves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.timeout(240)
def test_racing_approve_and_reject_exactly_one_wins_and_approved_stays_approved(
    session_factory: sessionmaker[Session],
) -> None:
    approver, rejecter = _reviewers(session_factory, 2)
    winners: dict[str, int] = {"approve": 0, "reject": 0}
    for _ in range(20):
        version_id = _in_review(session_factory)
        results = _race(session_factory, version_id, [("approve", approver), ("reject", rejecter)])
        assert sorted(r == "won" for r in results) == [False, True], results
        loser = next(r for r in results if r != "won")
        assert isinstance(loser, Conflict), loser
        won = "approve" if results[0] == "won" else "reject"
        winners[won] += 1
        status, kinds = _status_and_kinds(session_factory, version_id)
        assert status == ("approved" if won == "approve" else "rejected")
        assert kinds == ["submit", won]  # only the winner recorded its decision
        assert loser.details["status"] == status
        if won == "approve":
            with unit_of_work(session_factory) as s, pytest.raises(Conflict):
                service.reject(s, version_id=version_id, reviewer=user_service.get_user(s, rejecter))
            assert _status_and_kinds(session_factory, version_id)[0] == "approved"
    assert sum(winners.values()) == 20


@pytest.mark.timeout(120)
def test_racing_approvals_record_one_approval(session_factory: sessionmaker[Session]) -> None:
    reviewer_ids = _reviewers(session_factory, 4)
    for _ in range(5):
        version_id = _in_review(session_factory)
        results = _race(session_factory, version_id, [("approve", r) for r in reviewer_ids])
        assert results.count("won") == 1, results
        assert all(isinstance(r, Conflict) for r in results if r != "won")
        assert _status_and_kinds(session_factory, version_id) == ("approved", ["submit", "approve"])


def _author_and_version(session: Session, role: str = "reviewer") -> tuple[User, int]:
    author, _ = factories.make_user(session, role=role)
    mapping = factories.make_mapping(session, author=author)
    version = service.current_version(session, mapping.id)
    service.submit_for_review(session, version_id=version.id, author=author)
    return author, version.id


def test_four_eyes_on_refuses_the_author_and_names_the_setting(session: Session) -> None:
    author, version_id = _author_and_version(session, role="admin")
    with pytest.raises(PermissionDenied) as info:
        service.approve(session, version_id=version_id, reviewer=author, four_eyes="on")
    assert "four-eyes" in info.value.message and "UNILABEL_FOUR_EYES=on" in info.value.message
    assert service.get_version(session, version_id).status == "in_review"
    other, _ = factories.make_user(session, role="reviewer")
    approved = service.approve(session, version_id=version_id, reviewer=other, four_eyes="on")
    assert approved.status == "approved" and approved.self_approved is False
    assert [c.kind for c in service.list_comments(session, version_id)[0]] == ["submit", "approve"]


def test_four_eyes_off_allows_a_self_approval_and_records_it(session: Session) -> None:
    author, version_id = _author_and_version(session)
    factories.make_user(session, role="reviewer")  # others could review: "off" still allows it
    version = service.approve(
        session, version_id=version_id, reviewer=author, four_eyes="off", message="mine"
    )
    assert version.status == "approved" and version.self_approved is True
    assert version.reviewed_by_id == author.id
    comments, _ = service.list_comments(session, version_id)
    assert [(c.kind, c.author_id, c.body) for c in comments][-1] == ("self_approve", author.id, "mine")


def test_four_eyes_auto_counts_active_reviewer_accounts(session: Session) -> None:
    author, version_id = _author_and_version(session, role="admin")
    factories.make_user(session, role="editor")  # editors cannot review: still a single reviewer
    assert reviews.four_eyes_active(session, "auto") is False
    colleague, _ = factories.make_user(session, role="reviewer")
    assert reviews.four_eyes_active(session, "auto") is True
    with pytest.raises(PermissionDenied) as info:
        service.approve(session, version_id=version_id, reviewer=author)  # default: auto
    assert "UNILABEL_FOUR_EYES=auto" in info.value.message
    user_service.update_user(session, colleague.id, is_active=False)
    assert reviews.four_eyes_active(session, "auto") is False
    version = service.approve(session, version_id=version_id, reviewer=author)
    assert version.status == "approved" and version.self_approved is True
