"""templates/experiments/_results.html through the app's Jinja environment: a run's results card
(teacher vs student table, per-class bars per set, downloads), as the experiment page includes it."""

from __future__ import annotations

import html
import re

from app.domain.experiment_results import ResultTable, Score, SetScores, build_results
from app.services.experiment_results import RunResults
from app.web.pages._render import templates


def _table() -> ResultTable:
    def score(miou: float, road: float | None, car: float | None) -> Score:
        return Score(miou, None, {"road": road, "car": car}, 2)

    return build_results(
        ["road", "car"],
        [
            SetScores("city & co", score(0.5, 0.8, 0.2), {1: score(0.6, 0.9, 0.3)}),
            SetScores("night", None, {1: None}),
        ],
    )


def _render(results: object, **context: object) -> str:
    return templates.env.get_template("experiments/_results.html").render(results=results, **context)


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_card_of_a_run() -> None:
    out = _render(RunResults(7, "exp", 2, "running", _table(), scored=2, expected=4))
    text = _text(out)
    assert 'id="results-title"' in out and "Results run 2" in text
    assert "2 of 4 evaluations scored; the table fills in" in text
    assert "city & co 50.0 60.0 round 1 +10.0 points, student better" in text
    assert "night – – –" in text
    for fmt in ("csv", "md", "tex"):
        assert f'href="/api/v1/experiments/7/results?run=2&amp;format={fmt}" download' in out
        assert f'href="/api/v1/experiments/7/results?run=2&amp;format={fmt}&amp;per_class=true"' in out
    assert 'href="/experiments/compare?a=7"' in out
    assert out.count('class="train-chart results-bars"') == 2  # one chart per set
    assert 'id="class-bars-1-title"' in out and "IoU per class on city &amp; co" in out
    assert "No per-class scores yet." in out  # night
    assert "<svg" in out and out.count("<rect") == 4  # road and car, teacher and student


def test_a_bare_table_takes_the_links_from_the_page() -> None:
    out = _render(_table(), e={"id": 3}, run={"number": 1})
    assert 'href="/api/v1/experiments/3/results?run=1&amp;format=csv"' in out
    assert "evaluations scored" not in out
