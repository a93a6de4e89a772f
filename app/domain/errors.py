"""Domain error tree (pure layer): every error knows its HTTP status and where the bad input is."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of every error that services and the domain raise on purpose."""

    status_code = 400
    code = "domain_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        column: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row
        self.column = column
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of an error (without the HTTP envelope)."""
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "row": self.row,
            "column": self.column,
            "details": self.details,
        }

    def __str__(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
