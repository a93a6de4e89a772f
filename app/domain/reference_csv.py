"""The paper authors' CSV formats (``labels.csv`` and ``master_labels_<taxonomy>.csv``) as text.

Pure layer: functions take and return ``str``; no file paths, no I/O. Adapted in intent from
data-priors ``utils.py`` (its readers), rewritten to keep names exact and to report every defect.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID, OntologyMapping
from app.domain.taxonomy import (
    NO_PIXEL,
    Label,
    Taxonomy,
    check_label_text,
    check_taxonomy_text,
    class_list_taxonomy,
)
from app.domain.validation import Finding

LABELS_HEADER = ("name", "id", "trainId", "category", "categoryId", "hasInstances", "ignoreInEval", "color")


def _rows(text: str) -> list[list[str]]:
    if not isinstance(text, str):
        raise InvalidInput("CSV input must be text")
    text = text.removeprefix("\ufeff")
    if text.strip() == "":
        raise InvalidInput("the CSV file is empty")
    if "\x00" in text:
        raise InvalidInput("the CSV file contains NUL bytes (is it a binary file?)")
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidInput(f"not a readable CSV file: {exc}") from None


def _int_cell(cell: str, *, row: int, column: int, what: str) -> int:
    try:
        return int(cell.strip())
    except ValueError:
        raise InvalidInput(
            f"{what} must be an integer, got {cell!r}", row=row, column=column, field=what
        ) from None


def _bool_cell(cell: str, *, row: int, column: int, what: str) -> bool | None:
    value = cell.strip().lower()
    if value == "":
        return None
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{what} must be True or False, got {cell!r}", row=row, column=column, field=what)


# Label field -> labels.csv header, so that a refused cell's column is named.
_LABEL_FIELD_COLUMNS = {
    "value": "id",
    "name": "name",
    "color": "color",
    "category": "category",
    "train_id": "trainId",
    "category_id": "categoryId",
}


@dataclass(frozen=True, slots=True)
class LabelsFile:
    """A parsed ``labels.csv``: the taxonomy and the defects that do not stop the import."""

    taxonomy: Taxonomy
    findings: tuple[Finding, ...]


# Columns the authors' method never reads (data-priors ``LabelMapper._parse_labels_csv`` reads
# name, id, trainId, hasInstances): a non-integer there is a warning and the cell is left empty.
_LENIENT_INT_COLUMNS = ("categoryId",)


def parse_labels_csv(text: str, name: str, description: str = "") -> Taxonomy:
    """The taxonomy of :func:`read_labels_csv` (its findings dropped)."""
    return read_labels_csv(text, name, description).taxonomy


def read_labels_csv(text: str, name: str, description: str = "") -> LabelsFile:
    """Parse ``labels.csv``: header ``0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color``.

    ``id`` is the pixel value (may be -1 or 255). Names are kept exactly, whitespace included.
    Errors name the 1-based row and column. Junk in a column the method never reads
    (``categoryId``: coco's ``x``/``e``) and a name given to several labels (CamVid's
    ``Bicyclist``) are warnings with rows; a pixel value used twice is an error naming both rows.
    """
    rows = _rows(text)
    findings: list[Finding] = []
    label_rows: list[int] = []
    header = tuple(c.strip() for c in rows[0][1:9])
    if header[:2] != LABELS_HEADER[:2] or not set(header) <= set(LABELS_HEADER):
        raise InvalidInput(
            "first row must be the header '0,name,id,trainId,category,categoryId,hasInstances,"
            f"ignoreInEval,color', got {','.join(rows[0])!r}",
            row=1,
        )
    col = {h: i + 1 for i, h in enumerate(header)}
    labels: list[Label] = []
    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cells = row + [""] * (10 - len(row))

        def cell(key: str, cells: list[str] = cells) -> str:
            return cells[col[key]] if key in col else ""

        for key in _LENIENT_INT_COLUMNS:
            if key in col and cell(key).strip() != "" and not _is_int(cell(key)):
                findings.append(
                    Finding(
                        "junk_cell",
                        "warning",
                        f"{key} {cell(key)!r} is not an integer (file row {r}, column {col[key] + 1}); "
                        "ignored: the method never reads this column",
                        row=r,
                        column=col[key] + 1,
                    )
                )
                cells[col[key]] = ""
        label_name = cell("name")
        if label_name == "":
            raise InvalidInput("label name is empty", row=r, column=col["name"] + 1, field="name")
        try:
            labels.append(
                Label(
                    value=_int_cell(cell("id"), row=r, column=col["id"] + 1, what="id"),
                    name=label_name,
                    color=cell("color") or None,
                    category=cell("category").strip() or None,
                    ignore=bool(
                        _bool_cell(
                            cell("ignoreInEval"),
                            row=r,
                            column=col.get("ignoreInEval", 0) + 1,
                            what="ignoreInEval",
                        )
                    ),
                    train_id=_opt_int(cell("trainId"), r, col.get("trainId", 0) + 1, "trainId"),
                    category_id=_opt_int(cell("categoryId"), r, col.get("categoryId", 0) + 1, "categoryId"),
                    has_instances=_bool_cell(
                        cell("hasInstances"),
                        row=r,
                        column=col.get("hasInstances", 0) + 1,
                        what="hasInstances",
                    ),
                )
            )
            check_label_text(labels[-1])
            label_rows.append(r)
        except InvalidInput as exc:
            exc.row = exc.row or r
            header_name = _LABEL_FIELD_COLUMNS.get(exc.field or "")
            if exc.column is None and header_name in col:
                exc.column = col[header_name] + 1
            raise
    if not labels:
        raise InvalidInput("labels.csv has a header but no labels")
    _check_unique_values(labels, label_rows, col["id"] + 1)
    taxonomy = Taxonomy(name=name, labels=tuple(labels), description=description)
    check_taxonomy_text(taxonomy)
    for dup, same in taxonomy.duplicate_names.items():
        at = [label_rows[i] for i, lb in enumerate(labels) if lb.name == dup]
        findings.append(
            Finding(
                "duplicate_label_name",
                "warning",
                f"{dup!r} names {len(same)} labels (file rows {', '.join(map(str, at))}; ids "
                f"{', '.join(str(lb.value) for lb in same)}): a mapping cell naming it applies to all "
                "of them, as in the authors' code",
                source_name=dup,
                row=at[0],
                column=col["name"] + 1,
            )
        )
    return LabelsFile(taxonomy, tuple(findings))


def _is_int(cell: str) -> bool:
    try:
        int(cell.strip())
    except ValueError:
        return False
    return True


def _check_unique_values(labels: list[Label], rows: list[int], column: int) -> None:
    """A pixel value (other than -1) used by two labels is an error naming their file rows."""
    at: dict[int, list[int]] = {}
    for lb, r in zip(labels, rows, strict=True):
        if lb.value != NO_PIXEL:
            at.setdefault(lb.value, []).append(r)
    for value, where in at.items():
        if len(where) > 1:
            raise InvalidInput(
                f"pixel value {value} is used by file rows {', '.join(map(str, where))}",
                row=where[1],
                column=column,
                field="id",
                details={"duplicate_values": [value], "rows": where},
            )


def _opt_int(cell: str, row: int, column: int, what: str) -> int | None:
    return None if cell.strip() == "" else _int_cell(cell, row=row, column=column, what=what)


def _fmt_bool(value: bool | None) -> str:
    return "" if value is None else str(bool(value))


def format_labels_csv(taxonomy: Taxonomy) -> str:
    """Inverse of :func:`parse_labels_csv` (same header, index in column 0)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("0", *LABELS_HEADER))
    for i, lb in enumerate(taxonomy.labels):
        writer.writerow(
            (
                i,
                lb.name,
                lb.value,
                "" if lb.train_id is None else lb.train_id,
                lb.category or "",
                "" if lb.category_id is None else lb.category_id,
                _fmt_bool(lb.has_instances),
                _fmt_bool(lb.ignore) if (lb.ignore or lb.category is not None) else "",
                lb.color or "",
            )
        )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class MasterLabels:
    """A parsed ``master_labels_<taxonomy>.csv``.

    ``target_classes``: (id, name) of the target classes in id order (the void row excluded);
    ``edges``: (source label name, target id or VOID); ``findings``: defects only the file shows
    (a name listed twice in one row).
    """

    target_classes: tuple[tuple[int, str], ...]
    edges: frozenset[tuple[str, int]]
    void_name: str
    findings: tuple[Finding, ...]

    @property
    def mapping(self) -> OntologyMapping:
        return OntologyMapping(self.edges)


def parse_master_labels_csv(text: str) -> MasterLabels:
    """Parse the paper's mapping file.

    Row 1 is a header and is skipped. Each later row: target class id, target class name, then
    source label names (kept exactly; empty cells skipped). The row with id 255 is the void row.
    Target ids must be unique and form 0..N-1.
    """
    rows = _rows(text)
    classes: dict[int, str] = {}
    edges: set[tuple[str, int]] = set()
    findings: list[Finding] = []
    void_name = "void"
    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 2 or row[1].strip() == "":
            raise InvalidInput("each row needs a target class id and a name", row=r, column=2, field="name")
        target = _int_cell(row[0], row=r, column=1, what="target id")
        target_name = row[1].strip()
        if target == VOID:
            void_name = target_name
        elif not 0 <= target < VOID:
            raise InvalidInput(f"target id {target} must be in 0..254 or 255 (void)", row=r, column=1)
        elif target in classes:
            raise InvalidInput(f"target id {target} appears twice", row=r, column=1, field="target id")
        else:
            classes[target] = target_name
        sources = [c for c in row[2:] if c != ""]
        for dup, count in Counter(sources).items():
            if count > 1:
                findings.append(
                    Finding(
                        "duplicate_entry",
                        "warning",
                        f"{dup!r} is listed {count} times in the row of target {target} {target_name!r} "
                        f"(file row {r})",
                        source_name=dup,
                        target_id=target,
                    )
                )
        edges.update((s, target) for s in sources)
    if not classes:
        raise InvalidInput("the mapping file has no target classes")
    missing = sorted(set(range(max(classes) + 1)) - set(classes))
    if missing:
        raise InvalidInput(f"target class ids must be 0..N-1; missing {missing}", field="target id")
    ordered = tuple((i, classes[i]) for i in sorted(classes))
    return MasterLabels(ordered, frozenset(edges), void_name, tuple(findings))


def target_taxonomy_from_master(master: MasterLabels, name: str, description: str = "") -> Taxonomy:
    """The target taxonomy (classes 0..N-1) a mapping file defines."""
    return class_list_taxonomy(name, master.target_classes, description)


def format_master_labels_csv(
    target: Taxonomy, mapping: OntologyMapping, source: Taxonomy | None = None, void_name: str = "void"
) -> str:
    """Write a mapping in the paper's format; sources in source-taxonomy order when given, then by name."""
    order = {n: i for i, n in enumerate(source.names)} if source is not None else {}

    def sort_key(n: str) -> tuple[int, str]:
        return (order.get(n, len(order)), n)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("trainId", "name"))
    for lb in target.labels:
        writer.writerow((lb.value, lb.name, *sorted(mapping.sources_of(lb.value), key=sort_key)))
    writer.writerow((VOID, void_name, *sorted(mapping.sources_of(VOID), key=sort_key)))
    return out.getvalue()
