"""Job progress and lease bookkeeping for running tasks (task adapter layer).

:class:`JobProgressRecorder` is the ``on_progress`` callback handed to ``worker.ml``: it writes at
most one update per interval to the job row (progress never goes backwards: the UPDATE keeps the
maximum), rolls the sum up to the parent of a shard, and raises :class:`JobCancelled` when the job
or its parent has been flagged. :class:`Lease` refreshes the row's heartbeat from a thread while
the task runs, so a worker killed with SIGKILL is noticed by the recovery sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from app.db import repositories_registry as repo
from app.db.session import unit_of_work
from app.domain.jobs import Progress


class JobCancelled(Exception):
    """The job was flagged for cancellation; the task stops cleanly."""


class LeaseLost(Exception):
    """Another worker took over this job (our heartbeat lapsed); this run must stop writing."""


class Lease:
    """Context manager: a daemon thread touching ``heartbeat_at`` every ``interval`` seconds."""

    def __init__(self, factory: sessionmaker[Session], job_id: int, attempt: int, interval: float) -> None:
        self.factory, self.job_id, self.attempt, self.interval = factory, job_id, attempt, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with unit_of_work(self.factory) as s:
                    if not repo.touch_job(s, self.job_id, self.attempt):
                        self.lost = True
                        return
            except Exception:  # a missed beat is retried; the lease only lapses after lease_s
                continue

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


class JobProgressRecorder:
    """Throttled progress writer for one job (or shard) under lease ``attempt``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        job_id: int,
        attempt: int,
        *,
        parent_id: int | None = None,
        interval_s: float = 1.0,
        lease: Lease | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factory, self.job_id, self.attempt, self.parent_id = factory, job_id, attempt, parent_id
        self.interval_s, self.lease, self.clock = interval_s, lease, clock
        self.cancelled = False
        self._last = float("-inf")
        self._high = 0

    def __call__(self, progress: Progress, /) -> None:
        """Record ``progress`` if the interval has passed (or it is the last step)."""
        if self.lease is not None and self.lease.lost:
            raise LeaseLost(f"job {self.job_id}: lease {self.attempt} was taken over")
        self._high = max(self._high, progress.current)
        final = progress.total > 0 and progress.current >= progress.total
        now = self.clock()
        if not final and now - self._last < self.interval_s:
            return
        self._last = now
        self.write(Progress(self._high, progress.total, progress.message))
        if self.cancelled:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def write(self, progress: Progress) -> None:
        """Write now and refresh :attr:`cancelled` from the job and its parent.

        The cancel flags are read *before* the first UPDATE, so the write transaction is only the
        UPDATEs and the commit: on SQLite that is how long the database's one write lock is held
        (readers in WAL mode never wait; requests that write wait on the busy timeout).
        """
        ids = [self.job_id] if self.parent_id is None else [self.job_id, self.parent_id]
        with unit_of_work(self.factory) as s:
            self.cancelled = repo.is_cancel_requested(s, ids)
            repo.record_progress(
                s,
                self.job_id,
                self.attempt,
                current=progress.current,
                total=progress.total,
                message=progress.message,
            )
            if self.parent_id is not None:
                repo.roll_up_progress(s, self.parent_id)

    def should_stop(self) -> bool:
        """Polled by ``worker.ml`` between batches (no DB access: the last write's answer)."""
        return self.cancelled or (self.lease is not None and self.lease.lost)
