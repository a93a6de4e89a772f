"""Form helpers for the registry and job pages (web layer): inline error messages per field.

A refused form is rendered again with the values the user typed and each message under its field;
messages that belong to no known field go to the form's top alert (key ``""``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from app.domain.errors import DomainError

FieldErrors = dict[str, str]


def errors_of(exc: DomainError | ValidationError, fields: Iterable[str]) -> FieldErrors:
    """``{field name: message}`` for a service refusal or a pydantic validation error."""
    known = set(fields)
    out: FieldErrors = {}
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            name = next((p for p in reversed(loc) if p in known), "")
            message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            out.setdefault(name, message if name else f"{'.'.join(loc)}: {message}")
        return out
    name = exc.field if exc.field in known else ""
    out[name] = exc.message
    return out


def parse_int(value: str, field: str, errors: FieldErrors, *, required: bool = True) -> int | None:
    """An integer form value, or None with a message in ``errors`` (empty optional -> None)."""
    text = value.strip()
    if not text:
        if required:
            errors[field] = "choose a value"
        return None
    try:
        return int(text)
    except ValueError:
        errors[field] = f"{text!r} is not a number"
        return None


def parse_float(value: str, field: str, errors: FieldErrors) -> float | None:
    """An optional float form value (empty -> None)."""
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        errors[field] = f"{text!r} is not a number"
        return None


def split_list(value: str) -> list[str]:
    """``"train, val"`` -> ``["train", "val"]`` (commas or spaces, duplicates dropped)."""
    out: list[str] = []
    for part in value.replace(",", " ").split():
        if part not in out:
            out.append(part)
    return out
