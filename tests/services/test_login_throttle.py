"""Password-login throttling through the service, with an injected clock (no sleeping)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models_security import LoginThrottle
from app.domain.login_throttle import ThrottlePolicy
from app.services import login_throttle as throttle
from app.services import users as user_service

PASSWORD = "correct horse"
POLICY = ThrottlePolicy(
    free_failures=5, client_free_failures=50, base_delay_s=1.0, max_delay_s=60.0, window_s=600
)


def _attempt(session: Session, now: datetime, password: str, *, name: str = "pat", client: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return throttle.login_with_password(
        session, name=name, password=password, client=client, policy=POLICY, now=now
    )


def test_growing_lockout_refuses_even_the_right_password(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    user = user_service.create_user(session, name="pat", role="viewer", password=PASSWORD)
    t0 = utcnow()
    for i in range(5):
        assert _attempt(session, t0 + timedelta(seconds=i * 0.1), "wrong") is None
    caplog.set_level(logging.WARNING, logger="app.services.login_throttle")
    now = t0 + timedelta(seconds=1)
    expected_delays = [1, 2, 4, 8]
    for delay in expected_delays:
        assert _attempt(session, now, "wrong") is None  # this failure starts a lockout of `delay` s
        with pytest.raises(throttle.LoginThrottled) as refused:
            _attempt(session, now, PASSWORD)
        assert refused.value.retry_after_s == delay and refused.value.status_code == 429
        with pytest.raises(throttle.LoginThrottled):  # still locked just before the end
            _attempt(session, now + timedelta(seconds=delay * 0.95), PASSWORD)
        now += timedelta(seconds=delay + 0.01)  # the lockout has passed
    assert "login lockout: account='pat'" in caplog.text and "locked for 8s" in caplog.text
    assert "login throttled: account='pat' client=10.0.0.1" in caplog.text
    assert _attempt(session, now, PASSWORD) is user  # allowed once the lockout passed
    # ... and the success reset the account: five more failures are free again.
    for _ in range(5):
        assert _attempt(session, now, "wrong") is None
    assert _attempt(session, now, PASSWORD) is user


def test_refusals_do_not_extend_the_lockout(session: Session) -> None:
    user_service.create_user(session, name="pat", role="viewer", password=PASSWORD)
    now = utcnow()
    for _ in range(6):
        _attempt(session, now, "wrong")
    for _ in range(20):
        with pytest.raises(throttle.LoginThrottled):
            _attempt(session, now + timedelta(seconds=0.5), "wrong")
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.scope == "account"))
    assert row is not None and row.failures == 6
    assert row.locked_until is not None and row.locked_until == now + timedelta(seconds=1)


def test_unknown_names_are_throttled_alike(session: Session) -> None:
    now = utcnow()
    for _ in range(6):
        assert _attempt(session, now, "x", name="nobody") is None
    with pytest.raises(throttle.LoginThrottled):
        _attempt(session, now, "x", name="nobody")


def test_failures_are_forgotten_after_the_window(session: Session) -> None:
    user = user_service.create_user(session, name="pat", role="viewer", password=PASSWORD)
    now = utcnow()
    for _ in range(5):
        _attempt(session, now, "wrong")
    later = now + timedelta(seconds=POLICY.window_s + 1)
    assert _attempt(session, later, "wrong") is None  # counted as the first failure of a new run
    assert _attempt(session, later, PASSWORD) is user


def test_one_client_guessing_many_accounts_is_throttled(session: Session) -> None:
    policy = ThrottlePolicy(free_failures=5, client_free_failures=3, base_delay_s=2.0, max_delay_s=60.0)
    user_service.create_user(session, name="victim", role="viewer", password=PASSWORD)
    now = utcnow()
    for i in range(4):  # four names, one failure each: no account reaches its limit
        assert (
            throttle.login_with_password(
                session, name=f"guess{i}", password="x", client="198.51.100.9", policy=policy, now=now
            )
            is None
        )
    with pytest.raises(throttle.LoginThrottled) as refused:
        throttle.login_with_password(
            session, name="victim", password=PASSWORD, client="198.51.100.9", policy=policy, now=now
        )
    assert refused.value.retry_after_s == 2
    other = throttle.login_with_password(
        session, name="victim", password=PASSWORD, client="198.51.100.10", policy=policy, now=now
    )
    assert other is not None and other.name == "victim"


def test_idle_rows_are_deleted(session: Session) -> None:
    now = utcnow()
    for i in range(3):
        _attempt(session, now, "x", name=f"gone{i}", client=f"10.1.0.{i}")
    later = now + timedelta(seconds=POLICY.window_s + 1)
    _attempt(session, later, "x", name="fresh", client="10.2.0.1")
    subjects = set(session.scalars(select(LoginThrottle.subject)))
    assert subjects == {"fresh", "10.2.0.1"}


def test_overlong_names_are_keyed_not_rejected(session: Session) -> None:
    assert _attempt(session, utcnow(), "x", name="n" * 10_000, client="c" * 5_000) is None
    lengths = {len(s) for s in session.scalars(select(LoginThrottle.subject))}
    assert max(lengths) <= throttle.SUBJECT_MAX
