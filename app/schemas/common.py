"""Shared edge schemas (schemas layer): pages of results and the error envelope."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list endpoint: ``items`` plus ``total`` matching rows."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    row: int | None = None
    column: int | None = None
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    """Every API error: ``{"error": {"code", "message", "field", "row", "column", "details"}}``."""

    error: ErrorDetail


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
