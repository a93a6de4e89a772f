"""Taxonomy files (services layer): import from and export to the paper's ``labels.csv`` or JSON.

API (session first, keyword-only arguments; every function flushes and never commits):
    parse_taxonomy(*, text, fmt, name=None, description=None) -> domain Taxonomy
    read_taxonomy(...same...) -> (domain Taxonomy, file warnings: tuple[Finding, ...])
    import_taxonomy(session, *, text, fmt, name=None, description=None) -> TaxonomyRow
        fmt: "labels_csv" (the paper's labels.csv) or "json" (taxonomy_to_json shape)
    import_taxonomy_report(...same...) -> (TaxonomyRow, file warnings: tuple[Finding, ...])
    file_warnings(session, row) -> tuple[Finding, ...]   (the imported labels.csv's, while unedited)
    export_taxonomy(session, taxonomy_id, *, fmt) -> str
        an imported labels.csv exports byte for byte while its labels are unedited; else canonically

Storing and editing taxonomies is :mod:`app.services.taxonomies`.
"""

from __future__ import annotations

import json
from typing import Literal

from sqlalchemy.orm import Session

from app.db.models import Taxonomy as TaxonomyRow
from app.domain.errors import InvalidInput
from app.domain.reference_csv import LabelsFile, format_labels_csv, read_labels_csv
from app.domain.taxonomy import Taxonomy, taxonomy_from_json, taxonomy_to_json
from app.domain.validation import Finding
from app.services.taxonomies import create_taxonomy, get_taxonomy, to_domain

TaxonomyFormat = Literal["labels_csv", "json"]
FORMATS: tuple[str, ...] = ("labels_csv", "json")


def parse_taxonomy(
    *, text: str, fmt: str, name: str | None = None, description: str | None = None
) -> Taxonomy:
    """Parse ``text`` in ``fmt``; ``name``/``description`` override what the file says."""
    return read_taxonomy(text=text, fmt=fmt, name=name, description=description)[0]


def read_taxonomy(
    *, text: str, fmt: str, name: str | None = None, description: str | None = None
) -> tuple[Taxonomy, tuple[Finding, ...]]:
    """:func:`parse_taxonomy` plus the file's warnings (labels.csv: junk cells, repeated names)."""
    if fmt == "labels_csv":
        if not name:
            raise InvalidInput("a name is required to import a labels.csv file", field="name")
        parsed = read_labels_csv(text, name, description or "")
        return parsed.taxonomy, parsed.findings
    return _parse_other(text=text, fmt=fmt, name=name, description=description), ()


def _parse_other(*, text: str, fmt: str, name: str | None, description: str | None) -> Taxonomy:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"not valid JSON: {exc.msg}", field="file", row=exc.lineno, column=exc.colno
            ) from None
        except RecursionError:
            raise InvalidInput("the JSON file nests too deeply", field="file") from None
        if isinstance(data, dict):
            if name:
                data["name"] = name
            if description is not None:
                data["description"] = description
        return taxonomy_from_json(data)
    raise InvalidInput(f"unknown format {fmt!r}; use one of {list(FORMATS)}", field="format")


def import_taxonomy(
    session: Session,
    *,
    text: str,
    fmt: str,
    name: str | None = None,
    description: str | None = None,
) -> TaxonomyRow:
    """Parse and store a taxonomy file; nothing is written when parsing fails."""
    return import_taxonomy_report(session, text=text, fmt=fmt, name=name, description=description)[0]


def import_taxonomy_report(
    session: Session,
    *,
    text: str,
    fmt: str,
    name: str | None = None,
    description: str | None = None,
) -> tuple[TaxonomyRow, tuple[Finding, ...]]:
    """:func:`import_taxonomy` plus the file's warnings (each with its row and column)."""
    try:
        taxonomy, findings = read_taxonomy(text=text, fmt=fmt, name=name, description=description)
    except InvalidInput as exc:
        exc.field = exc.field or "file"  # a problem of the file as a whole
        raise
    original = text if fmt == "labels_csv" else None
    return create_taxonomy(session, taxonomy=taxonomy, original_text=original), findings


def export_taxonomy(session: Session, taxonomy_id: int, *, fmt: str) -> str:
    """The taxonomy as ``labels_csv`` text or as the documented JSON (pretty-printed)."""
    row = get_taxonomy(session, taxonomy_id)
    taxonomy = to_domain(session, row)
    if fmt == "labels_csv":
        unedited = _original_if_unedited(row, to_domain(session, row, generated=False))
        return unedited or format_labels_csv(taxonomy)
    if fmt == "json":
        return json.dumps(taxonomy_to_json(taxonomy), ensure_ascii=False, indent=2) + "\n"
    raise InvalidInput(f"unknown format {fmt!r}; use one of {list(FORMATS)}", field="format")


def _original_if_unedited(row: TaxonomyRow, taxonomy: Taxonomy) -> str | None:
    """The imported labels.csv, byte for byte, while the stored labels still equal what it says."""
    return row.original_text if _unedited_file(row, taxonomy) is not None else None


def _unedited_file(row: TaxonomyRow, taxonomy: Taxonomy) -> LabelsFile | None:
    if row.original_text is None:
        return None
    try:
        parsed = read_labels_csv(row.original_text, row.name)
    except InvalidInput:  # stored before a parser change: export canonically
        return None
    return parsed if parsed.taxonomy.labels == taxonomy.labels else None


def file_warnings(session: Session, row: TaxonomyRow) -> tuple[Finding, ...]:
    """The warnings of the imported labels.csv (junk cells, repeated names; with rows and columns)
    while the stored labels still equal the file's; () for other taxonomies."""
    parsed = _unedited_file(row, to_domain(session, row, generated=False))
    return parsed.findings if parsed is not None else ()
