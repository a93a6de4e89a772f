"""The job ETA estimator: counts down between batches, converges on a steady job, starts estimating
only before the first finished batch, and survives whatever a client sends back as its state."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.eta import EtaState, decode_state, observe, overall_rate, parse_state, seconds_left


def _run(
    *, startup: float, batch: int, batch_s: float, total: int, poll_s: float = 2.0
) -> list[tuple[float, int, float | None]]:
    """Poll a steady job every ``poll_s``: (time, done, seconds left) at each poll, the state
    carried from poll to poll as the status fragment carries it."""
    state: EtaState | None = None
    out = []
    t = 0.0
    end = startup + math.ceil(total / batch) * batch_s
    while t < end:
        done = 0 if t < startup else min(total, int((t - startup) // batch_s) * batch)
        state = decode_state(observe(state, done=done, now=t, elapsed_s=t).encode())
        assert state is not None
        out.append((t, done, seconds_left(state, total=total, now=t)))
        t += poll_s
    return out


def test_before_the_first_batch_it_is_estimating_and_after_it_never_again() -> None:
    polls = _run(startup=20, batch=4, batch_s=9, total=40)
    assert all(left is None for _, done, left in polls if done == 0)
    assert all(left is not None for _, done, left in polls if done > 0)


def test_it_counts_down_between_batches_instead_of_growing() -> None:
    polls = _run(startup=5, batch=8, batch_s=30, total=80)
    for (t0, d0, a), (t1, d1, b) in zip(polls, polls[1:], strict=False):
        if d0 == d1 and d0 > 0:
            assert a is not None and b is not None and b <= a, (t0, t1, a, b)


def test_a_steady_job_converges_on_the_true_time_left() -> None:
    startup, batch, batch_s, total = 30.0, 4, 10.0, 200
    polls = _run(startup=startup, batch=batch, batch_s=batch_s, total=total)
    finish = startup + total / batch * batch_s
    late = [(t, left) for t, done, left in polls if done >= total / 3 and left is not None]
    assert late
    for t, left in late:  # within a batch (plus a poll) of the truth once a third is done
        assert abs((finish - t) - left) <= batch_s + 2.0, (t, left, finish - t)


def test_the_old_saw_tooth_is_gone() -> None:
    """elapsed*(1-f)/f grew by about a batch's share of the total while each batch ran, then
    dropped; the estimate now falls while a batch runs and moves little when one lands."""
    polls = _run(startup=60, batch=2, batch_s=20, total=60)
    by_done: dict[int, list[tuple[float, float | None]]] = {}
    for t, done, left in polls:
        by_done.setdefault(done, []).append((t, left))
    for done, seen in by_done.items():
        if done >= 6 and len(seen) > 1:
            new_rise = (seen[-1][1] or 0) - (seen[0][1] or 0)
            old_rise = seen[-1][0] * (60 - done) / done - seen[0][0] * (60 - done) / done
            assert new_rise <= 0 < old_rise, (done, new_rise, old_rise)


def test_a_retry_that_resets_progress_starts_over() -> None:
    state = observe(EtaState(30, 100.0, 0.5), done=2, now=110.0, elapsed_s=4.0)
    assert state.done == 2 and state.rate == overall_rate(2, 4.0) and not state.exact


def test_the_first_measured_rate_replaces_the_overall_one_that_includes_the_start_up() -> None:
    """60 s of model loading, then a batch of 4 every 10 s: the overall rate after the first batch
    is 4/70 items/s; the first measured interval (0.4 items/s) replaces it, later ones are averaged."""
    first = observe(observe(None, done=0, now=1.0, elapsed_s=1.0), done=4, now=70.0, elapsed_s=70.0)
    assert first.rate == overall_rate(4, 70.0) and not first.measured
    second = observe(first, done=8, now=80.0, elapsed_s=80.0)
    assert second.measured and second.rate == 0.4
    assert seconds_left(second, total=40, now=80.0) == 80.0
    third = observe(second, done=12, now=92.0, elapsed_s=92.0)  # a slower batch moves it a little
    assert third.rate is not None and 0.37 < third.rate < 0.4


def test_a_page_opened_mid_batch_does_not_measure_the_partial_interval() -> None:
    first = observe(None, done=10, now=100.0, elapsed_s=100.0)  # 0.1 items/s overall
    second = observe(first, done=12, now=100.5, elapsed_s=100.5)  # would look like 4 items/s
    assert second.rate == first.rate and second.exact


def test_done_jobs_have_nothing_left() -> None:
    assert seconds_left(EtaState(10, 5.0, 2.0), total=10, now=50.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    done=st.integers(0, 10_000),
    at=st.floats(0, 2e9, allow_nan=False),
    rate=st.none() | st.floats(1e-6, 1e6),
    exact=st.booleans(),
    step=st.integers(1, 1000),
    measured=st.booleans(),
)
def test_state_round_trips_through_the_fragment(
    done: int, at: float, rate: float | None, exact: bool, step: int, measured: bool
) -> None:
    back = decode_state(EtaState(done, at, rate, exact, step, measured).encode())
    assert back is not None
    assert (back.done, back.exact, back.step, back.measured) == (done, exact, step, measured)
    assert math.isclose(back.at, at, abs_tol=1e-3)
    assert (back.rate is None) == (rate is None)
    if rate is not None and back.rate is not None:
        assert math.isclose(back.rate, rate, rel_tol=1e-5)


@given(st.text())
def test_any_client_text_decodes_to_a_state_or_none(text: str) -> None:
    state = decode_state(text)
    assert state is None or (state.done >= 0 and state.step >= 1 and (state.rate is None or state.rate > 0))


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(st.tuples(st.floats(0, 100), st.integers(0, 20)), min_size=1, max_size=30),
    total=st.integers(1, 500),
)
def test_estimates_are_finite_and_never_negative(events: list[tuple[float, int]], total: int) -> None:
    state: EtaState | None = None
    t, done = 0.0, 0
    for dt, add in events:
        t, done = t + dt, min(total, done + add)
        state = observe(state, done=done, now=t, elapsed_s=t)
        left = seconds_left(state, total=total, now=t)
        assert left is None or (0 <= left < math.inf)
        for later in (t + 1, t + 60):  # between changes: never rises
            a, b = seconds_left(state, total=total, now=t), seconds_left(state, total=total, now=later)
            assert (a is None) == (b is None) and (a is None or b is None or b <= a)


@settings(max_examples=150, deadline=None)
@given(
    startup=st.floats(0, 120),
    batch=st.integers(1, 16),
    batch_s=st.floats(1, 60),
    batches=st.integers(6, 40),
    poll_s=st.sampled_from([1.0, 2.0, 3.0]),
)
def test_any_steady_job_is_estimated_closely_once_one_interval_is_measured(
    startup: float, batch: int, batch_s: float, batches: int, poll_s: float
) -> None:
    """Whatever the start-up time: from the second observed change on (one measured interval) the
    estimate is within the batch in flight plus the polling delays of the truth, and the rate's
    error is at most the polling quantization of the measured intervals (poll / batch time)."""
    batch_s = max(batch_s, poll_s)  # batches slower than the polls: where the saw-tooth was worst
    total = batch * batches
    polls = _run(startup=startup, batch=batch, batch_s=batch_s, total=total, poll_s=poll_s)
    finish = startup + batches * batch_s
    changes, last = 0, 0
    for t, done, left in polls:
        changes, last = changes + (done != last), done
        if changes >= 2 and done < total:
            assert left is not None
            slack = 2 * batch_s + 3 * poll_s + (finish - t) * poll_s / batch_s
            assert abs((finish - t) - left) <= slack, (t, done, left, finish - t)


def test_parse_state_refuses_what_decode_state_rejects_naming_the_field() -> None:
    state = EtaState(3, 100.0, 0.05, True, 2, True)
    assert parse_state(state.encode()) == state
    with pytest.raises(InvalidInput) as caught:
        parse_state("1:nan:x:1:1:1")
    assert caught.value.field == "eta_state"
