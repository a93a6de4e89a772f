"""Account edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import ORMModel, Page

Role = Literal["viewer", "editor", "reviewer", "admin"]


class UserRead(ORMModel):
    id: int
    name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    role: Role = "viewer"
    password: str | None = Field(default=None, min_length=8)


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8)


class UserCreated(UserRead):
    token: str = Field(description="An API token, shown only once")


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    expires_at: datetime | None = None


class TokenRead(ORMModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The bearer token, shown only once")


UserList = Page[UserRead]
TokenList = Page[TokenRead]
