"""Account REST endpoints (web layer): the caller, users (admins), own API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.schemas.users import (
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenRead,
    UserCreate,
    UserCreated,
    UserList,
    UserRead,
    UserUpdate,
)
from app.services import users as service
from app.web.auth import AdminUser, CsrfChecked, CurrentUser
from app.web.deps import IdPath, PageDep, SessionDep

router = APIRouter(tags=["users"])


@router.get("/users/me", response_model=UserRead)
def read_me(user: CurrentUser) -> UserRead:
    """The authenticated caller."""
    return UserRead.model_validate(user)


@router.get("/users", response_model=UserList)
def list_users(session: SessionDep, _admin: AdminUser, page: PageDep) -> UserList:
    """All users (admins only, paginated)."""
    rows, total = service.list_users(session, limit=page.limit, offset=page.offset)
    return UserList(
        items=[UserRead.model_validate(u) for u in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post("/users", response_model=UserCreated, status_code=201)
def create_user(body: UserCreate, session: SessionDep, _admin: AdminUser) -> UserCreated:
    """Create a user and a first API token (shown once; admins only)."""
    user = service.create_user(session, name=body.name, role=body.role, password=body.password)
    _, token = service.create_api_token(session, user=user, name="initial token")
    return UserCreated(**UserRead.model_validate(user).model_dump(), token=token)


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(user_id: IdPath, body: UserUpdate, session: SessionDep, _admin: AdminUser) -> UserRead:
    """Change a user's role, active flag or password (admins only)."""
    user = service.update_user(
        session, user_id, role=body.role, is_active=body.is_active, password=body.password
    )
    return UserRead.model_validate(user)


@router.get("/tokens", response_model=TokenList)
def list_tokens(session: SessionDep, user: CurrentUser, page: PageDep) -> TokenList:
    """The caller's API tokens, newest first (without their secret; paginated)."""
    rows = service.list_api_tokens(session, user=user)
    items = [TokenRead.model_validate(t) for t in rows[page.offset : page.offset + page.limit]]
    return TokenList(items=items, total=len(rows), limit=page.limit, offset=page.offset)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenCreate, session: SessionDep, user: CurrentUser, _csrf: CsrfChecked
) -> TokenCreated:
    """Create an API token for the caller; the secret is in the response only."""
    row, token = service.create_api_token(session, user=user, name=body.name, expires_at=body.expires_at)
    return TokenCreated(**TokenRead.model_validate(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: IdPath, session: SessionDep, user: CurrentUser, _csrf: CsrfChecked) -> Response:
    """Revoke one of the caller's tokens."""
    service.revoke_api_token(session, user=user, token_id=token_id)
    return Response(status_code=204)
