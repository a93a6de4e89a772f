"""Escaping of user text in result tables (pure): whatever a set, class or label is called, the
CSV reads back cell for cell, Markdown rows keep their columns and LaTeX keeps its structure."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.experiment_results import (
    ComparisonTable,
    ResultTable,
    Score,
    SetScores,
    build_results,
    compare,
    csv_cell,
    latex_text,
    markdown_cell,
    to_csv,
    to_latex,
    to_markdown,
)
from app.domain.experiment_results.text import FORMULA_START

SPECIALS = "\\&%$#_{}~^[]<>|\n\r\t=+-@ \"',*`Δ–"
NO_DEADLINE = settings(deadline=None)  # no wall-clock limit: a loaded CI machine must not fail these
names = st.text(alphabet=st.sampled_from(SPECIALS) | st.characters(), max_size=12)
LATEX_ESCAPES: tuple[str, ...] = (
    "\\textbackslash{}",
    "\\textasciitilde{}",
    "\\textasciicircum{}",
    "\\textless{}",
    "\\textgreater{}",
    "\\textbar{}",
    "$\\Delta$",
    "{[}",
    "{]}",
    "\\&",
    "\\%",
    "\\$",
    "\\#",
    "\\_",
    "\\{",
    "\\}",
)


def _tables(set_name: str, class_name: str, label: str) -> list[ResultTable | ComparisonTable]:
    classes = [class_name, class_name + "2"]
    score = Score(0.5, 0.9, {class_name: 0.25, class_name + "2": None}, 3)
    table = build_results(
        classes, [SetScores(set_name, score, {1: score}), SetScores(set_name + "2", None, {})]
    )
    return [table, compare(table, table, label, label + "2")]


def _unescaped(line: str, char: str) -> int:
    """How many ``char`` in ``line`` are not escaped by a backslash (``\\\\`` is an escaped one)."""
    return sum(1 for m in re.finditer(r"\\.|.", line, re.DOTALL) if m.group() == char)


def _shape_md(text: str) -> list[int]:
    return [_unescaped(line, "|") for line in text.split("\n")]


@NO_DEADLINE
@given(names, names, names)
def test_markdown_rows_keep_their_columns(set_name: str, class_name: str, label: str) -> None:
    for plain, table in zip(_tables("s", "c", "l"), _tables(set_name, class_name, label), strict=True):
        for per_class in (False, True):
            assert _shape_md(to_markdown(table, per_class=per_class)) == _shape_md(
                to_markdown(plain, per_class=per_class)
            )


@NO_DEADLINE
@given(names)
def test_markdown_cell_is_one_line_without_live_pipes(text: str) -> None:
    cell = markdown_cell(text)
    assert "\n" not in cell and "\r" not in cell and _unescaped(cell, "|") == 0


@NO_DEADLINE
@given(names, names, names)
def test_csv_reads_back_cell_for_cell(set_name: str, class_name: str, label: str) -> None:
    for table in _tables(set_name, class_name, label):
        rows = list(csv.reader(io.StringIO(to_csv(table, per_class=True), newline="")))
        assert len(rows) == 1 + 2 * 2 and {len(r) for r in rows} == {len(rows[0])}
        assert [r[:2] for r in rows[1:3]] == [
            [csv_cell(set_name), csv_cell(class_name)],
            [csv_cell(set_name), csv_cell(class_name + "2")],
        ]
        summary = list(csv.reader(io.StringIO(to_csv(table), newline="")))
        assert [r[0] for r in summary[1:3]] == [csv_cell(set_name), csv_cell(set_name + "2")]


@NO_DEADLINE
@given(names)
def test_csv_cell_never_starts_a_formula(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_START) and cell in (text, "'" + text)


def _latex_shape(text: str) -> list[tuple[int, int, int]]:
    """Per line: unescaped ``&``, row ends ``\\\\`` and the brace depth at its end (never below 0)."""
    shape, depth = [], 0
    for line in text.split("\n"):
        tokens = [m.group() for m in re.finditer(r"\\.|.", line, re.DOTALL)]
        for token in tokens:
            depth += {"{": 1, "}": -1}.get(token, 0)
            assert depth >= 0, line
        shape.append((tokens.count("&"), tokens.count("\\\\"), depth))
    return shape


@NO_DEADLINE
@given(names, names, names)
def test_latex_keeps_its_structure(set_name: str, class_name: str, label: str) -> None:
    for plain, table in zip(_tables("s", "c", "l"), _tables(set_name, class_name, label), strict=True):
        for per_class in (False, True):
            shape = _latex_shape(to_latex(table, per_class=per_class))
            assert shape == _latex_shape(to_latex(plain, per_class=per_class))
            assert shape[-1][2] == 0  # braces balance


@NO_DEADLINE
@given(names)
def test_latex_text_leaves_no_special_character_live(text: str) -> None:
    escaped = latex_text(text)
    rest = escaped
    for sequence in LATEX_ESCAPES:
        rest = rest.replace(sequence, "")
    assert not set(rest) & set("\\&%$#_{}~^[]<>|\n\r\t"), escaped
    assert _unlatex(escaped) == re.sub("[\n\r\t]", " ", text)  # nothing lost but line breaks and tabs


def _unlatex(escaped: str) -> str:
    """The text of ``latex_text`` output, read left to right."""
    chars = dict(zip(LATEX_ESCAPES, "\\~^<>|Δ[]&%$#_{}", strict=True))
    out, i = [], 0
    while i < len(escaped):
        sequence = next((s for s in LATEX_ESCAPES if escaped.startswith(s, i)), None)
        out.append(chars[sequence] if sequence else escaped[i])
        i += len(sequence) if sequence else 1
    return "".join(out)
