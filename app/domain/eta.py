"""Time left of a running job (pure): a smoothed throughput that does not jump between polls.

The job page polls the job's status every two seconds, but the progress only moves when a batch of
images is finished. Computing ``elapsed * (1 - f) / f`` at every poll therefore makes the estimate
*grow* while a batch runs and drop when it lands: a saw-tooth that is worst at the start. Instead:

* the throughput (items per second) is an exponential moving average of the rates measured between
  two observed changes of ``done``. Until the first such measurement the rate is the one over all
  items finished since the job started; that includes loading the model, so this first estimate
  errs on the long side, and the first measured rate replaces it rather than being averaged in;
* between two changes the estimate counts down from the moment of the last change, one second per
  second, and never below the time the items after the batch in flight need;
* before the first finished batch there is no rate, and the page says "estimating".

The estimator's state is a small value (:class:`EtaState`) that the polling status fragment carries
back to the server (:meth:`EtaState.encode` / :func:`decode_state`), so the server stores nothing and
a freshly opened page starts again from the rate over all finished items. API clients get the same
smoothing by sending a job's ``eta_state`` back on their next read (:func:`parse_state`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.domain.errors import InvalidInput

ALPHA = 0.3  # weight of the newest measured rate in the moving average
MIN_INTERVAL_S = 0.5  # two changes seen closer than this are treated as this far apart


@dataclass(frozen=True, slots=True)
class EtaState:
    """What the estimator knows after its last observation.

    Attributes:
        done: Items done when the count was last seen to change.
        at: When that was seen (seconds on the server's clock, e.g. a Unix timestamp).
        rate: Smoothed items per second, or None before the first finished item.
        exact: Whether ``at`` is when ``done`` changed (False when first seen mid-batch, on a page
            opened while the job ran: the next interval would be too short to measure a rate).
        step: Items the last change added (the batch size, as far as it shows); at least 1.
        measured: Whether ``rate`` comes from measured intervals (False: the overall rate).
    """

    done: int
    at: float
    rate: float | None
    exact: bool = True
    step: int = 1
    measured: bool = False

    def encode(self) -> str:
        """``"done:at:rate:exact:step:measured"`` (rate empty while unknown), for the polling fragment."""
        rate = "" if self.rate is None else f"{self.rate:.6g}"
        return f"{self.done}:{self.at:.3f}:{rate}:{int(self.exact)}:{self.step}:{int(self.measured)}"


def decode_state(text: str) -> EtaState | None:
    """The state :meth:`EtaState.encode` wrote, or None for anything else (it comes from a client)."""
    parts = text.split(":")
    if len(parts) != 6 or parts[5] not in ("0", "1"):
        return None
    try:
        done, at, step = int(parts[0]), float(parts[1]), int(parts[4])
        rate = float(parts[2]) if parts[2] else None
    except ValueError:
        return None
    finite = at == at and abs(at) != float("inf") and (rate is None or 0 < rate < float("inf"))
    if done < 0 or step < 1 or parts[3] not in ("0", "1") or not finite:
        return None
    return EtaState(done, at, rate, parts[3] == "1", step, parts[5] == "1")


def parse_state(text: str, *, field: str = "eta_state") -> EtaState:
    """:func:`decode_state` for an API client: anything but an encoded state is refused, naming ``field``."""
    state = decode_state(text)
    if state is None:
        raise InvalidInput(
            f"{field} must be the eta_state of an earlier read, sent back unchanged", field=field
        )
    return state


def overall_rate(done: int, elapsed_s: float | None) -> float | None:
    """Items per second over all items finished since the start (None before the first one)."""
    if done <= 0 or elapsed_s is None or elapsed_s <= 0:
        return None
    return done / elapsed_s


def observe(
    prev: EtaState | None, *, done: int, now: float, elapsed_s: float | None, alpha: float = ALPHA
) -> EtaState:
    """The state after seeing ``done`` items finished at time ``now``.

    Args:
        prev: The state after the previous observation (None: first look at this job).
        done: Items finished so far.
        now: The current time, on the same clock as ``prev.at``.
        elapsed_s: Seconds since the job started (None when unknown).
        alpha: Weight of the newest measured rate.
    """
    if prev is None or done < prev.done or now < prev.at:
        # First look, or the count went back (a retry) or the clock did: start over, mid-batch.
        return EtaState(done, now, overall_rate(done, elapsed_s), exact=False)
    if done == prev.done:
        return prev
    step = done - prev.done
    if prev.rate is None:  # the first finished batch: only the rate over everything so far is known
        return EtaState(done, now, overall_rate(done, elapsed_s), exact=True, step=step)
    if not prev.exact:  # the interval since the first look is only part of a batch: not measured
        return replace(prev, done=done, at=now, exact=True, step=step)
    measured = step / max(now - prev.at, MIN_INTERVAL_S)
    rate = alpha * measured + (1 - alpha) * prev.rate if prev.measured else measured
    return EtaState(done, now, rate, exact=True, step=step, measured=True)


def seconds_left(state: EtaState, *, total: int, now: float) -> float | None:
    """Estimated seconds until ``total`` items are done (None while there is no rate).

    Counts down from the last change; when the batch in flight is overdue it holds at the time the
    items after that batch need, until the next change updates the rate.
    """
    if state.rate is None or total <= 0:
        return None
    left = max(total - state.done, 0)
    countdown = left / state.rate - max(now - state.at, 0.0)
    floor = max(left - state.step, 0) / state.rate
    return max(countdown, floor)
