"""Account services: roles, hashed tokens, one-time login tokens, passwords."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import ApiToken
from app.domain.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied
from app.services import users as service


def test_roles_are_ordered(session: Session) -> None:
    reviewer = service.create_user(session, name="rita", role="reviewer")
    assert service.has_role(reviewer, "editor") and service.has_role(reviewer, "reviewer")
    assert not service.has_role(reviewer, "admin")
    assert not service.has_role(None, "viewer")
    with pytest.raises(InvalidInput):
        service.create_user(session, name="x", role="god")
    with pytest.raises(Conflict):
        service.create_user(session, name="rita", role="viewer")


def test_tokens_are_stored_hashed_and_authenticate(session: Session) -> None:
    user = service.create_user(session, name="ed", role="editor")
    row, token = service.create_api_token(session, user=user, name="script")
    assert token not in (row.token_hash, row.prefix) and row.token_hash == service.hash_token(token)
    assert session.query(ApiToken).filter(ApiToken.token_hash == token).count() == 0
    assert service.authenticate_token(session, token) is user
    assert service.authenticate_token(session, token + "x") is None
    service.revoke_api_token(session, user=user, token_id=row.id)
    assert service.authenticate_token(session, token) is None


def test_only_owner_or_admin_revokes(session: Session) -> None:
    owner = service.create_user(session, name="o", role="viewer")
    other = service.create_user(session, name="p", role="editor")
    row, _ = service.create_api_token(session, user=owner, name="t")
    with pytest.raises(PermissionDenied):
        service.revoke_api_token(session, user=other, token_id=row.id)


def test_inactive_users_cannot_authenticate(session: Session) -> None:
    user = service.create_user(session, name="gone", role="admin", password="correct horse")
    _, token = service.create_api_token(session, user=user, name="t")
    service.update_user(session, user.id, is_active=False)
    assert service.authenticate_token(session, token) is None
    assert service.authenticate_password(session, name="gone", password="correct horse") is None


def test_password_login(session: Session) -> None:
    service.create_user(session, name="pat", role="viewer", password="correct horse")
    assert service.authenticate_password(session, name="pat", password="correct horse") is not None
    assert service.authenticate_password(session, name="pat", password="wrong horse") is None
    with pytest.raises(InvalidInput):
        service.create_user(session, name="short", role="viewer", password="123")


def test_login_token_is_single_use(session: Session) -> None:
    admin, created = service.ensure_local_admin(session)
    assert created and admin.role == "admin"
    assert service.ensure_local_admin(session) == (admin, False)
    token = service.create_login_token(session, user=admin, ttl_s=60)
    assert service.authenticate_token(session, token) is None  # not an API token
    assert service.consume_login_token(session, token) is admin
    with pytest.raises(NotAuthenticated):
        service.consume_login_token(session, token)
    expired = service.create_login_token(session, user=admin, ttl_s=-1)
    with pytest.raises(NotAuthenticated):
        service.consume_login_token(session, expired)


def test_token_expiry_is_judged_at_the_given_time(session: Session) -> None:
    user = service.create_user(session, name="clock", role="viewer")
    expires_at = utcnow() + timedelta(hours=1)
    _row, token = service.create_api_token(session, user=user, name="script", expires_at=expires_at)
    assert service.authenticate_token(session, token, now=expires_at - timedelta(seconds=1)) is user
    assert service.authenticate_token(session, token, now=expires_at) is None
    assert service.authenticate_token(session, token, now=expires_at + timedelta(minutes=5)) is None


def test_bearer_authentication_reads_token_and_user_in_one_query(session: Session) -> None:
    user = service.create_user(session, name="onequery", role="viewer")
    _row, token = service.create_api_token(session, user=user, name="script")
    service.authenticate_token(session, token)  # records last_used_at (after commit)
    session.commit()
    session.expunge_all()  # a new request: nothing in the identity map
    engine = session.get_bind().engine
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        found = service.authenticate_token(session, token)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert found is not None and found.name == "onequery"
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
