"""Account edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from app.schemas.common import ORMModel, Page, TokenName, UserName, no_control_chars

Password = Annotated[str, Field(min_length=8, max_length=1024), AfterValidator(no_control_chars)]
Role = Literal["viewer", "editor", "reviewer", "admin"]


class UserRead(ORMModel):
    id: int
    name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    name: UserName
    role: Role = "viewer"
    password: Password | None = None


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None


class UserCreated(UserRead):
    token: str = Field(description="An API token, shown only once")


class TokenCreate(BaseModel):
    name: TokenName
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
