"""templates/macros/results.html through the app's Jinja environment: the teacher vs student table
(signed, coloured differences; en dashes for missing values), the comparison variant and the
per-class grouped bar chart (well-formed SVG, names escaped)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from app.domain.experiment_results import ResultTable, Score, SetScores, build_results, compare
from app.web.pages._render import templates

NAME = '<b>"cars" & co</b>'


def _render(call: str, **context: Any) -> str:
    source = '{% from "macros/results.html" import results_table, class_bars, class_table %}' + call
    return templates.env.from_string(source).render(**context)


def _table() -> ResultTable:
    def score(miou: float | None, road: float | None, car: float | None) -> Score:
        return Score(miou, None, {"road": road, NAME: car}, 1)

    return build_results(
        ["road", NAME],
        [
            SetScores("city", score(0.5, 0.8, None), {1: score(0.532, 0.85, 0.2), 2: None}),
            SetScores("night", score(0.3, 0.3, 0.3), {1: score(0.2, 0.1, 0.3)}),
            SetScores("rural", None, {}),
        ],
    )


def _cells(html: str, name: str) -> list[str]:
    """The text of the cells of the row headed ``name`` (tags stripped, spaces collapsed)."""
    row = re.search(r"<tr>\s*<th scope=\"row\">" + re.escape(name) + r"(.*?)</tr>", html, re.DOTALL)
    assert row, name
    return [
        " ".join(re.sub(r"<[^>]+>", " ", c).split())
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)
    ]


def test_results_table_signs_and_colours_the_differences() -> None:
    html = _render("{{ results_table(t) }}", t=_table())
    assert _cells(html, "city") == ["50.0", "53.2 round 1", "+3.2 points, student better"]
    assert _cells(html, "night") == ["30.0", "20.0 round 1", "-10.0 points, student worse"]
    assert _cells(html, "rural") == ["–", "–", "–"]  # never 0
    assert '<span class="delta delta-up" title="student better">+3.2' in html
    assert '<span class="delta delta-down" title="student worse">-10.0' in html
    assert "Mean <span" in html and "(2 sets with both)" in html


def test_results_table_of_a_comparison_uses_its_labels() -> None:
    table = compare(_table(), _table(), "baseline", "<priors>")
    html = _render("{{ results_table(t) }}", t=table)
    assert '<th scope="col" class="num">&lt;priors&gt;</th>' in html and "round" not in html
    assert _cells(html, "night") == ["20.0", "20.0", "0.0"]


def test_class_bars_draw_teacher_and_student_per_class() -> None:
    html = _render("{{ class_bars(t, 'city', id='bars') }}", t=_table())
    svg = ET.fromstring(re.search(r"<svg.*</svg>", html, re.DOTALL).group())  # type: ignore[union-attr]
    # bars are IoU x 166 px (the plot is 166 px high)
    rects = svg.findall(".//{http://www.w3.org/2000/svg}rect") or svg.findall(".//rect")
    # road: teacher and student; the escaped class: student only (the teacher has no value)
    assert [(r.get("fill"), r.get("height")) for r in rects] == [
        ("#5a6373", "132.8"),
        ("#2456c7", "141.1"),
        ("#2456c7", "33.2"),
    ]
    titles = [t.text for t in svg.iter() if t.tag.endswith("title")]
    assert titles == ["road: teacher 80.0, student 85.0", f"{NAME}: teacher no value, student 20.0"]
    assert "&lt;b&gt;&#34;cars&#34; &amp; co&lt;/b&gt;" in html and NAME not in html
    assert 'aria-labelledby="bars-title bars-desc"' in html and "round 1" in html
    assert "<details" in html and "IoU per class on city" in html


def test_class_bars_without_scores_say_so() -> None:
    assert "No per-class scores yet." in _render("{{ class_bars(t, 'rural') }}", t=_table())
    assert "No per-class scores yet." in _render("{{ class_bars(t, 'nowhere') }}", t=_table())
    assert "No classes." in _render("{{ class_table(t, 'nowhere') }}", t=_table())
