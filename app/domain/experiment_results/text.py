"""CSV, Markdown and LaTeX text of result and comparison tables (domain layer, pure).

Values print in percentage points (IoU x 100): one decimal in Markdown and LaTeX, two in CSV;
differences carry their sign; a missing value is an en dash (``--`` in LaTeX), never 0.
Names are user input, so every text cell is escaped for its format: CSV cells that a spreadsheet
would read as a formula get a leading apostrophe, Markdown escapes ``\\``, ``|`` and ``<``, and
LaTeX escapes its special characters. User text is only ever concatenated, never used as a format.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.domain.experiment_results.tables import ComparisonTable, MeanRow, Pair, ResultTable

Kind = Literal["text", "score", "delta", "round"]
Style = Literal["csv", "markdown", "latex"]
Cell = tuple[Kind, str | float | int | None]
DASH = "\u2013"  # en dash
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "[": "{[}",  # a row that starts with [ would be read as the optional argument of the \\ before it
    "]": "{]}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "\n": " ",
    "\r": " ",
    "\t": " ",
    "\u0394": r"$\Delta$",  # no Greek in LaTeX's default fonts; an en dash is fine in UTF-8 input
}


def csv_cell(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell or heading (one line, no live ``|``)."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")
    return out.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def latex_text(text: str) -> str:
    """``text`` with every LaTeX special character escaped (and line breaks made spaces)."""
    return "".join(_LATEX.get(c, c) for c in text)


def _number(kind: Kind, value: float | int, style: Style) -> str:
    if kind == "round":
        return str(value)
    points = round(value * 100, 2 if style == "csv" else 1) + 0.0  # + 0.0: no "-0.0"
    digits = f"{abs(points):.2f}" if style == "csv" else f"{abs(points):.1f}"
    if kind == "score" or style == "csv":
        return ("-" if points < 0 else "") + digits
    if points == 0:
        return digits
    sign = "+" if points > 0 else "-"
    return f"${sign}${digits}" if style == "latex" else sign + digits


def _cell(cell: Cell, style: Style) -> str:
    kind, value = cell
    if kind == "text":
        text = str(value)
        return (
            csv_cell(text)
            if style == "csv"
            else markdown_cell(text)
            if style == "markdown"
            else latex_text(text)
        )
    if value is None or isinstance(value, str):
        return "--" if style == "latex" else DASH
    return _number(kind, value, style)


@dataclass(frozen=True, slots=True)
class _Section:
    """A titled block of rows under one header (a per-class table of one set, or the summary)."""

    title: str | None
    rows: list[list[Cell]]


@dataclass(frozen=True, slots=True)
class _Grid:
    header: list[str]
    sections: list[_Section]
    footer: list[Cell] | None = None


def _pair(values: Pair) -> list[Cell]:
    return [("score", values.a), ("score", values.b), ("delta", values.delta)]


def _mean_label(mean: MeanRow) -> Cell:
    return ("text", f"Mean ({mean.sets} set{'' if mean.sets == 1 else 's'})")


def _result_grids(table: ResultTable, per_class: bool) -> list[_Grid]:
    summary = _Grid(
        ["Evaluation set", "Teacher mIoU", "Student mIoU", "\u0394", "Round"],
        [
            _Section(
                None, [[("text", r.name), *_pair(r.values), ("round", r.student_round)] for r in table.rows]
            )
        ],
        [_mean_label(table.mean), *_pair(table.mean.values), ("round", None)],
    )
    if not per_class:
        return [summary]
    sections = [
        _Section(r.name, [[("text", c.name), *_pair(c.values)] for c in r.classes]) for r in table.rows
    ]
    return [summary, _Grid(["Class", "Teacher IoU", "Student IoU", "\u0394"], sections)]


def _comparison_grids(table: ComparisonTable, per_class: bool) -> list[_Grid]:
    labels = [table.label_a, table.label_b]
    summary = _Grid(
        ["Evaluation set", *labels, "\u0394"],
        [_Section(None, [[("text", r.name), *_pair(r.values)] for r in table.rows])],
        [_mean_label(table.mean), *_pair(table.mean.values)],
    )
    if not per_class:
        return [summary]
    sections = [_Section(r.name, [[("text", c), *_pair(p)] for c, p in r.classes]) for r in table.rows]
    return [summary, _Grid(["Class", *labels, "\u0394"], sections)]


def _grids(table: ResultTable | ComparisonTable, per_class: bool) -> list[_Grid]:
    if isinstance(table, ResultTable):
        return _result_grids(table, per_class)
    return _comparison_grids(table, per_class)


def _csv_rows(table: ResultTable | ComparisonTable, per_class: bool) -> list[list[Cell]]:
    if isinstance(table, ResultTable):
        head = ["set", "teacher_miou_pct", "student_miou_pct", "delta_pp", "student_round"]
        if not per_class:
            body = [[("text", r.name), *_pair(r.values), ("round", r.student_round)] for r in table.rows]
            mean = [_mean_label(table.mean), *_pair(table.mean.values), ("round", None)]
            return [[("text", h) for h in head], *body, mean]
        head = ["set", "class", "teacher_iou_pct", "student_iou_pct", "delta_pp", "student_round"]
        body = [
            [("text", r.name), ("text", c.name), *_pair(c.values), ("round", r.student_round)]
            for r in table.rows
            for c in r.classes
        ]
        return [[("text", h) for h in head], *body]
    labels = [table.label_a, table.label_b]
    if not per_class:
        body = [[("text", r.name), *_pair(r.values)] for r in table.rows]
        mean = [_mean_label(table.mean), *_pair(table.mean.values)]
        return [[("text", h) for h in ["set", *labels, "delta_pp"]], *body, mean]
    body = [[("text", r.name), ("text", c), *_pair(p)] for r in table.rows for c, p in r.classes]
    return [[("text", h) for h in ["set", "class", *labels, "delta_pp"]], *body]


def to_csv(table: ResultTable | ComparisonTable, *, per_class: bool = False) -> str:
    """The summary (with its mean row), or with ``per_class`` one row per set and class."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" rows: a name with a bare "\r" is quoted, not split
    writer.writerows([_cell(c, "csv") for c in row] for row in _csv_rows(table, per_class))
    return buffer.getvalue()


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _markdown_grid(grid: _Grid, lines: list[str]) -> None:
    align = ["---", *("--:" for _ in grid.header[1:])]
    header = [_markdown_row([markdown_cell(h) for h in grid.header]), _markdown_row(align)]
    for section in grid.sections:
        if section.title is not None:
            lines += ["", "### " + markdown_cell(section.title), ""]
        lines += header + [_markdown_row([_cell(c, "markdown") for c in row]) for row in section.rows]
    if grid.footer is not None:
        label, *values = (_cell(c, "markdown") for c in grid.footer)
        lines.append(_markdown_row(["**" + label + "**", *values]))


def to_markdown(table: ResultTable | ComparisonTable, *, per_class: bool = False) -> str:
    """A pipe table (mean row in bold); with ``per_class`` a ``###`` heading and table per set."""
    lines: list[str] = []
    for grid in _grids(table, per_class):
        _markdown_grid(grid, lines)
    return "\n".join(lines) + "\n"


def _latex_row(cells: Sequence[str]) -> str:
    return " & ".join(cells) + r" \\"


def _latex_grid(grid: _Grid) -> str:
    width = len(grid.header)
    lines = [
        r"\begin{tabular}{l" + "r" * (width - 1) + "}",
        r"\toprule",
        _latex_row([latex_text(h) for h in grid.header]),
    ]
    for section in grid.sections:
        lines.append(r"\midrule")
        if section.title is not None:
            lines.append(
                r"\multicolumn{" + str(width) + r"}{l}{\textit{" + latex_text(section.title) + r"}} \\"
            )
        lines += [_latex_row([_cell(c, "latex") for c in row]) for row in section.rows]
    if grid.footer is not None:
        lines += [r"\midrule", _latex_row([_cell(c, "latex") for c in grid.footer])]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"])


def to_latex(table: ResultTable | ComparisonTable, *, per_class: bool = False) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); ``per_class`` adds a second one
    with a block of class rows per set."""
    return "\n\n".join(_latex_grid(g) for g in _grids(table, per_class)) + "\n"
