"""The outbox relay (outer layer, beside ``app.queue``): publish committed outbox rows to the broker.

``app.queue.enqueue_after_commit`` writes a task message as an ``outbox_message`` row in the caller's
transaction. After the commit it *nudges*: :func:`publish_pending` for exactly those rows, at once,
so latency stays what it was when the broker is up. If the process dies before or during that, or
the broker is down, the rows stay unsent and a :class:`Relay` thread — one in the web process and
one in every worker — publishes them later, with exponential backoff while the broker is down.

A pass claims rows with a conditional UPDATE (a lease: ``claimed_by``/``claimed_until``), publishes
them, and marks each sent, conditional on its claim. So a message is published by one relay at a
time; a relay killed between publishing and marking leaves a claim that lapses, and another relay
publishes the message again. Tasks are therefore idempotent on duplicates (a job's claim is a
compare-and-set on its status/lease: ``repositories_registry.claim_job``).

This module never imports Celery, ``worker`` or torch: the publisher is passed in
(``app.queue.publish`` sends by task name).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db import repositories_outbox as repo
from app.db.base import utcnow

logger = logging.getLogger(__name__)

Publisher = Callable[[str, str | None, dict[str, Any]], None]
"""``publisher(task_name, queue, kwargs)`` sends one message or raises."""

# A fresh row belongs to its transaction's after-commit nudge for this long; the relays leave it
# alone meanwhile, so the normal path publishes each message exactly once, from the committer.
NUDGE_GRACE_S = 5.0
CLAIM_LEASE_S = 60.0
MAX_BACKOFF_S = 60.0
BATCH = 100
KEEP_SENT = timedelta(days=1)
PRUNE_EVERY_S = 3600.0


def backoff_s(attempts: int, *, max_backoff_s: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait after the ``attempts``-th failed publish: 1, 2, 4, ... capped."""
    return float(min(max_backoff_s, 2 ** max(0, attempts - 1)))


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def publish_pending(
    bind: Engine,
    publisher: Publisher,
    *,
    ids: Sequence[int] | None = None,
    limit: int = BATCH,
    lease_s: float = CLAIM_LEASE_S,
    max_backoff_s: float = MAX_BACKOFF_S,
    now: datetime | None = None,
) -> int:
    """One relay pass: claim, publish and mark up to ``limit`` messages; returns how many were sent.

    ``ids`` limits the pass to those messages, due or not (the after-commit nudge); otherwise the
    due ones are taken, oldest first. The first publish error ends the pass: that message and the
    rest of the batch are released with the error and a backoff (the broker is likely down).
    """
    owner = _owner()
    start = now or utcnow()
    with Session(bind, expire_on_commit=False) as s:
        messages = repo.claim_messages(
            s, owner=owner, now=start, lease_until=start + timedelta(seconds=lease_s), limit=limit, ids=ids
        )
        s.commit()
    sent = 0
    for index, message in enumerate(messages):
        try:
            publisher(message.task, message.queue, json.loads(message.kwargs_json))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            delay = backoff_s(message.attempts + 1, max_backoff_s=max_backoff_s)
            retry_at = utcnow() + timedelta(seconds=delay)
            with Session(bind) as s:
                rest = [m.id for m in messages[index:]]
                repo.release_failed(s, rest, owner=owner, error=error, available_at=retry_at)
                s.commit()
            logger.warning(
                "outbox: publishing %s failed (%s); %d message(s) wait %.0f s for the broker",
                message.task,
                error,
                len(rest),
                delay,
            )
            break
        with Session(bind) as s:
            repo.mark_sent(s, message.id, owner=owner, now=utcnow())
            s.commit()
        sent += 1
    return sent


def nudge(bind: Engine, publisher: Publisher, ids: Sequence[int]) -> None:
    """Publish the messages a transaction just committed; never raises (a relay retries them)."""
    try:
        publish_pending(bind, publisher, ids=ids, limit=len(ids))
    except Exception:
        logger.exception("outbox: the after-commit publish failed; a relay will send the message(s)")


def prune(bind: Engine, *, keep: timedelta = KEEP_SENT) -> int:
    """Delete messages published more than ``keep`` ago."""
    with Session(bind) as s:
        removed = repo.prune_sent(s, before=utcnow() - keep)
        s.commit()
    return removed


class Relay:
    """A daemon thread that publishes due outbox rows every ``interval_s`` seconds until stopped."""

    def __init__(
        self, bind: Engine, publisher: Publisher, *, interval_s: float, name: str = "unilabel-outbox"
    ) -> None:
        self.bind, self.publisher, self.interval_s = bind, publisher, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._pruned_at = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass (a publish in flight finishes and is marked)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Publish everything due now (in batches); returns how many were sent."""
        total = 0
        while not self._stop.is_set():
            sent = publish_pending(self.bind, self.publisher)
            total += sent
            if sent < BATCH:
                break
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            prune(self.bind)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # never kill the thread: the next pass tries again
                logger.exception("outbox relay pass failed")
