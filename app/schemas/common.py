"""Shared edge schemas (schemas layer): pages of results, the error envelope, constrained types.

The constrained types are the edge's promise to the database: every request schema uses them, so
bad input is a 422 naming the field instead of a database error (a 500) later.

- ``Int32``, ``Id``, ``NonNegInt32`` -- integers that fit the INTEGER columns (ids are 1..2**31-1).
- ``Name`` (200), ``ShortName`` (100), ``UserName`` (80), ``TokenName`` (120) -- stripped, non-empty,
  without control characters (names end up in file names and HTTP headers of exports).
- ``LabelName`` -- like ``Name`` but not stripped: label names match the paper's files exactly.
- ``Text`` -- free text (descriptions, messages, comments): any length up to ``TEXT_MAX``, line
  breaks and tabs allowed, other control characters (NUL included) refused.
- ``Token`` -- a single-line value up to 4096 characters (paths, specs): no control characters.
- ``ShortText`` -- a single-line value up to 100 characters, may be empty (categories, splits).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.domain.text import INT32_MAX, INT32_MIN, LINE_BREAKS_AND_TABS, describe_control_characters

T = TypeVar("T")
TEXT_MAX = 10_000


def no_control_chars(value: str) -> str:
    """Refuse control characters (NUL, escapes, line breaks) in a single-line value."""
    problem = describe_control_characters(value)
    if problem:
        raise ValueError(problem)
    return value


def printable_text(value: str) -> str:
    """Refuse control characters other than line breaks and tabs in free text."""
    problem = describe_control_characters(value, LINE_BREAKS_AND_TABS)
    if problem:
        raise ValueError(problem)
    return value


Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]
NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]


_NoControl = AfterValidator(no_control_chars)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NoControl]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _NoControl]
UserName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), _NoControl]
TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), _NoControl]
LabelName = Annotated[str, Field(min_length=1, max_length=200), _NoControl]
Text = Annotated[str, Field(max_length=TEXT_MAX), AfterValidator(printable_text)]
Token = Annotated[str, Field(max_length=4096), _NoControl]
ShortText = Annotated[str, Field(max_length=100), _NoControl]


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
