"""Crash recovery by lease (task adapter layer): re-queue jobs whose worker died.

Why not the broker alone: with ``acks_late`` a message is redelivered only if the broker notices
the consumer is gone. Redis does so after its ``visibility_timeout`` (which must exceed the longest
shard, so hours), and the serverless SQLAlchemy/filesystem transports never do when the whole
worker process is killed (only a killed *pool child* is rejected and requeued by the parent).
So every running job row carries a lease (``attempt`` + ``heartbeat_at``); each worker sweeps
now and then, and a job whose heartbeat is older than the lease is set back to queued and its
task re-sent. The claim in ``repositories_registry.claim_job`` makes a duplicate delivery a no-op.
Re-sent tasks go through the outbox (``enqueue_after_commit``) in the same commit as the re-queue,
so a sweeper killed in between, or a broker that is down, loses nothing. None of this depends on
the dead worker's host name coming back: any worker's sweep takes over any lapsed lease.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.session import unit_of_work
from app.queue import TASK_FINALIZE_PSEUDO_LABEL, TASK_PSEUDO_LABEL, enqueue_after_commit
from app.services.experiment_runs import advance_active
from app.services.jobs import TASK_OF_KIND, log
from worker.sharding import SHARD_TASK_OF_KIND

logger = logging.getLogger(__name__)


def sweep(factory: sessionmaker[Session], *, lease_s: float, restarted_host: str | None = None) -> int:
    """Re-queue lapsed leases (and, after a restart, everything ``restarted_host`` held).

    Returns the number of tasks re-sent.
    """
    stale_before = utcnow() - timedelta(seconds=lease_s)
    sent = 0
    with unit_of_work(factory) as s:
        for job in repo.stale_running_jobs(s, stale_before=stale_before, worker_host=restarted_host):
            name = (SHARD_TASK_OF_KIND if job.parent_id is not None else TASK_OF_KIND).get(job.kind)
            if name is None:  # a kind whose task does not take part in lease recovery
                continue
            if not repo.finish_job(
                s,
                job.id,
                job.attempt,
                status="queued",
                queued_at=utcnow(),
                message=f"worker {job.worker_host} lost; re-queued",
            ):
                continue
            log(
                s,
                job.id,
                f"worker {job.worker_host} lost (no heartbeat for {lease_s:.0f}s); re-queued",
                level="warning",
            )
            enqueue_after_commit(s, name, queue=job.queue, job_id=job.id)
            sent += 1
        if restarted_host is not None:
            # The planner commits its shards' messages with the shards (outbox), so none is lost with
            # a killed planner. This re-send only covers shard messages a broker lost; the planner
            # re-sends the queued shards, and a duplicate shard message is a no-op.
            for parent in repo.running_parents(s, worker_host=restarted_host):
                name = TASK_OF_KIND.get(parent.kind, TASK_PSEUDO_LABEL)  # the plan-or-resend task
                enqueue_after_commit(s, name, queue=parent.queue, job_id=parent.id)
                sent += 1
        for parent in repo.stuck_parents(s, stale_before=stale_before):
            repo.finish_job(s, parent.id, None, heartbeat_at=utcnow(), finalize_claimed=True)
            enqueue_after_commit(s, TASK_FINALIZE_PSEUDO_LABEL, queue=parent.queue, job_id=parent.id)
            sent += 1
    if sent:
        logger.warning("recovery sweep re-sent %d task(s)", sent)
    _advance_experiments(factory)
    return sent


def _advance_experiments(factory: sessionmaker[Session]) -> None:
    """Advance every running experiment run: a worker killed between a stage job's end and the
    run's next step (or a stage cancelled from its job page) leaves the run to this sweep."""
    try:
        with unit_of_work(factory) as s:
            advance_active(s, get_settings())
    except Exception:  # the next sweep tries again
        logger.exception("advancing experiment runs failed")


class Sweeper:
    """A daemon thread running :func:`sweep` every ``interval`` seconds."""

    def __init__(self, factory: sessionmaker[Session], *, lease_s: float, interval: float) -> None:
        self.factory, self.lease_s, self.interval = factory, lease_s, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="unilabel-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sweep(self.factory, lease_s=self.lease_s)
            except Exception:  # never kill the thread: the next sweep tries again
                logger.exception("recovery sweep failed")
