"""Password login with throttling (services layer): growing lockouts per account name and client address.

API:
    login_with_password(session, *, name, password, client, policy, now=None) -> User | None
    LoginThrottled   -- DomainError (429) with ``retry_after_s``: refused without checking the password

Counts live in the ``login_throttle`` table, so every server process shares them. Each attempt
locks its account row, then its client row, for the rest of the transaction: concurrent attempts
queue up and each sees the lockout recorded before it, so parallel guessing gains nothing. A
failure increments both counts; past ``policy.free_failures`` (per account) or
``policy.client_free_failures`` (per address) it locks that key for a doubling delay (see
``app.domain.login_throttle``). A success resets the account's count; the address keeps its count
(an attacker's own valid account must not wipe out the failures it spread over other accounts).
Every lockout and every refusal is logged on ``app.services.login_throttle``.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.db import repositories_security as security_repo
from app.db.base import utcnow
from app.db.models import User
from app.db.models_security import LoginThrottle
from app.domain.errors import DomainError
from app.domain.login_throttle import ThrottlePolicy
from app.services import users as user_service

log = logging.getLogger(__name__)

ACCOUNT = "account"
CLIENT = "client"
SUBJECT_MAX = 200


class LoginThrottled(DomainError):
    """Too many failed logins for this account name or client address; try again later."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed sign-in attempts; try again in {retry_after_s} s",
            field="username",
            details={"retry_after_s": retry_after_s},
        )
        self.retry_after_s = retry_after_s


def _subject(value: str | None) -> str:
    return (value or "").strip()[:SUBJECT_MAX] or "?"


def login_with_password(
    session: Session,
    *,
    name: str,
    password: str,
    client: str | None,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> User | None:
    """The user when ``name``/``password`` are right, None when wrong (the failure is recorded).

    Raises:
        LoginThrottled: the account name or the client address is locked out; the password is not
            even checked, and the refusal does not extend the lockout.
    """
    now = now or utcnow()
    account_subject, client_subject = _subject(name), _subject(client)
    account, address = security_repo.lock_throttles(
        session, [(ACCOUNT, account_subject), (CLIENT, client_subject)], now=now
    )
    locked_until = max((r.locked_until for r in (account, address) if r.locked_until), default=None)
    if locked_until is not None and locked_until > now:
        retry_after_s = max(1, math.ceil((locked_until - now).total_seconds()))
        log.warning(
            "login throttled: account=%r client=%s retry_after=%ds",
            account_subject,
            client_subject,
            retry_after_s,
        )
        raise LoginThrottled(retry_after_s)
    user = user_service.authenticate_password(session, name=name, password=password)
    if user is not None:
        account.failures, account.last_failure_at, account.locked_until = 0, None, None
        session.flush()
        return user
    for row, free in ((account, policy.free_failures), (address, policy.client_free_failures)):
        _record_failure(row, policy=policy, free=free, now=now, client=client_subject)
    session.flush()
    security_repo.delete_idle_throttles(
        session,
        idle_before=now - timedelta(seconds=policy.window_s),
        now=now,
        keep_ids=[account.id, address.id],
    )
    return None


def _record_failure(
    row: LoginThrottle, *, policy: ThrottlePolicy, free: int, now: datetime, client: str
) -> None:
    forgotten = row.last_failure_at is None or row.last_failure_at < now - timedelta(seconds=policy.window_s)
    row.failures = 1 if forgotten else row.failures + 1
    row.last_failure_at = now
    delay_s = policy.lockout_s(row.failures, free=free)
    row.locked_until = now + timedelta(seconds=delay_s) if delay_s else None
    if delay_s:
        log.warning(
            "login lockout: %s=%r after %d failures, locked for %gs (client=%s)",
            row.scope, row.subject, row.failures, delay_s, client,
        )  # fmt: skip
