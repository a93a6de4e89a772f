"""Celery signal handlers (task adapter layer): start-up recovery, outbox relay, fork hygiene, bookkeeping.

Each handler is wrapped so that a bookkeeping error is logged and never hides the task's own
outcome (paperless-ngx's rule).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery.signals import (
    task_failure,
    task_revoked,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)

from app import queue
from app.config import get_settings
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.session import unit_of_work
from app.outbox import Relay
from worker import context
from worker.recovery import Sweeper, sweep

logger = logging.getLogger(__name__)
_sweeper: Sweeper | None = None
_relay: Relay | None = None


SQLA_QUEUE_ATTEMPTS = 5


@worker_init.connect
def on_worker_init(sender: Any = None, **_: Any) -> None:
    """On the serverless SQLite broker, create the queue rows before the consumer starts.

    kombu's SQLAlchemy transport creates a queue row with a check-then-insert guarded only by a
    lock inside one process: two workers starting at once both insert ``default`` and the loser
    dies on ``UNIQUE constraint failed: kombu_queue.name``. Declaring here with a retry makes the
    loser find the winner's row instead.
    """
    app = getattr(sender, "app", None)
    if app is None or not str(app.conf.broker_url or "").startswith("sqla+"):
        return
    try:
        declare_sqla_queues(app)
    except Exception:
        logger.exception("could not pre-declare the broker queues")


def declare_sqla_queues(app: Any) -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for declared in app.amqp.queues.values():
            for attempt in range(SQLA_QUEUE_ATTEMPTS):
                try:
                    declared.bind(channel).declare()
                    break
                except (IntegrityError, OperationalError):
                    channel.session.rollback()
                    if attempt == SQLA_QUEUE_ATTEMPTS - 1:
                        raise


@worker_ready.connect
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Re-queue what this node held before a crash, then sweep lapsed leases periodically; start
    this process's outbox relay (it publishes messages any process committed but did not send)."""
    global _sweeper, _relay
    try:
        hostname = getattr(sender, "hostname", None)
        if hostname:
            context.set_worker_hostname(hostname)
        context.configure_torch_threads()
        timings = context.lease_timings()
        factory = context.session_factory()
        sweep(factory, lease_s=timings.lease_s, restarted_host=hostname)
        _sweeper = Sweeper(factory, lease_s=timings.lease_s, interval=timings.sweep_s)
        _sweeper.start()
        poll_s = get_settings().outbox_poll_s
        _relay = Relay(factory.kw["bind"], queue.publish, interval_s=poll_s, name="unilabel-worker-outbox")
        _relay.start()
        logger.warning("unilabel worker %s ready on %s", hostname, context.device_name())
    except Exception:
        logger.exception("start-up recovery failed")
    _announce_ready()


def _announce_ready() -> None:
    """Tell ``unilabel serve`` (which started this worker) that it is up: it prints the login URL
    only then, below the worker's start-up output (``app.serve.WORKER_READY_ENV``)."""
    path = os.environ.get("UNILABEL_WORKER_READY_FILE")
    if path:
        try:
            Path(path).write_text(str(os.getpid()), encoding="utf-8")
        except OSError:
            logger.warning("could not write the worker-ready file %s", path)


@worker_shutting_down.connect
def on_worker_shutting_down(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    if _relay is not None:
        _relay.stop()


@worker_process_init.connect
def on_worker_process_init(**_: Any) -> None:
    """A forked pool child must not reuse the parent's DB connections."""
    context.reset_after_fork()
    context.configure_torch_threads()


def _job_id(kwargs: dict[str, Any] | None) -> int | None:
    value = (kwargs or {}).get("job_id")
    return int(value) if isinstance(value, int) else None


@task_failure.connect
def on_task_failure(
    sender: Any = None, kwargs: dict[str, Any] | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    """Safety net: a job left running by an unexpected failure outside the task wrapper is failed."""
    job_id = _job_id(kwargs)
    if job_id is None:
        return
    try:
        with unit_of_work(context.session_factory()) as s:
            job = repo.get_job(s, job_id)
            if job is not None and job.status == "running" and job.worker_host == context.worker_hostname():
                repo.finish_job(
                    s,
                    job_id,
                    job.attempt,
                    status="failed",
                    finished_at=utcnow(),
                    error=f"{type(exception).__name__}: {exception}",
                )
    except Exception:
        logger.exception("could not record the failure of job %s", job_id)


@task_revoked.connect
def on_task_revoked(request: Any = None, **_: Any) -> None:
    """A revoked task's job is cancelled (if it has not finished)."""
    job_id = _job_id(getattr(request, "kwargs", None))
    if job_id is None:
        return
    try:
        with unit_of_work(context.session_factory()) as s:
            job = repo.get_job(s, job_id)
            if job is not None and job.status in ("queued", "running"):
                repo.finish_job(s, job_id, None, status="cancelled", finished_at=utcnow(), message="revoked")
    except Exception:
        logger.exception("could not record the revocation of job %s", job_id)
