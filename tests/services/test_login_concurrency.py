"""A one-time login link used by many requests at once logs in exactly one of them (both databases)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_security import UserSession
from app.db.session import unit_of_work
from app.domain.errors import NotAuthenticated
from app.services import users as user_service

ROUNDS = 4
RACERS = 8


def _new_link(session_factory: sessionmaker[Session], name: str) -> tuple[int, str]:
    with unit_of_work(session_factory) as s:
        user = user_service.create_user(s, name=name, role="editor")
        return user.id, user_service.create_login_token(s, user=user, ttl_s=60)


def _race(work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` for RACERS threads released together; the results (or exceptions) by index."""
    barrier = threading.Barrier(RACERS)
    results: list[object] = [None] * RACERS

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # recorded for the assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.timeout(180)
def test_login_link_consumed_concurrently_through_the_service_wins_once(
    session_factory: sessionmaker[Session],
) -> None:
    def consume(token: str, _racer: int) -> object:
        with unit_of_work(session_factory) as s:  # one session (and connection) per racer
            return user_service.consume_login_token(s, token).id

    for round_ in range(ROUNDS):
        user_id, token = _new_link(session_factory, f"racer-{round_}")
        results = _race(partial(consume, token))
        winners = [r for r in results if r == user_id]
        losers = [r for r in results if isinstance(r, NotAuthenticated)]
        assert len(winners) == 1 and len(losers) == RACERS - 1, (round_, results)


@pytest.mark.timeout(180)
def test_login_link_used_concurrently_over_http_logs_in_one_browser(
    app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    def use(browsers: list[TestClient], url: str, racer: int) -> object:
        return browsers[racer].get(url, follow_redirects=False)

    for round_ in range(ROUNDS):
        user_id, token = _new_link(session_factory, f"browser-{round_}")
        browsers = [TestClient(app) for _ in range(RACERS)]  # separate cookie jars
        responses: list[Any] = _race(partial(use, browsers, f"/login/token?token={token}&next=/won"))
        assert all(getattr(r, "status_code", None) == 303 for r in responses), responses
        locations = [r.headers["location"] for r in responses]
        assert locations.count("/won") == 1, (round_, locations)
        assert locations.count("/login?expired=1") == RACERS - 1
        me = [b.get("/api/v1/users/me").status_code for b in browsers]
        assert sorted(me) == [200] + [401] * (RACERS - 1)
        with session_factory() as s:
            sessions = s.scalar(select(func.count()).where(UserSession.user_id == user_id))
        assert sessions == 1
        for b in browsers:
            b.close()
