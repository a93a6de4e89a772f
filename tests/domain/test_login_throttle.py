"""The lockout schedule of the password-login throttle (pure)."""

from __future__ import annotations

from app.domain.login_throttle import ThrottlePolicy


def test_lockout_starts_after_the_free_failures_and_doubles_up_to_the_cap() -> None:
    policy = ThrottlePolicy(base_delay_s=1.0, max_delay_s=60.0)
    delays = [policy.lockout_s(n, free=5) for n in range(1, 14)]
    assert delays == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_huge_failure_counts_stay_at_the_cap() -> None:
    policy = ThrottlePolicy(base_delay_s=0.5, max_delay_s=900.0)
    assert policy.lockout_s(10_000, free=0) == 900.0
    assert policy.lockout_s(1, free=0) == 0.5
