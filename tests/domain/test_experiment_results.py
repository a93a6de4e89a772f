"""Experiment results (pure): scores read from evaluate results, the teacher vs student table with
its mean row and per-class rows, the comparison of two tables, and their exact text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from app.domain.errors import InvalidInput
from app.domain.experiment_results import (
    Score,
    SetScores,
    build_results,
    compare,
    score_from_evaluation,
    to_csv,
    to_dict,
    to_latex,
    to_markdown,
    trend,
)

CLASSES = ["road", "car"]


def _evaluation(miou: float, road: float | None, car: float | None, **metrics: Any) -> dict[str, Any]:
    """The shape of ``EvaluationResult.to_json`` (only the fields the tables read, plus noise)."""
    return {
        "metrics": {
            "miou": miou,
            "miou_all": 0.0,
            "pixel_accuracy": 0.9,
            "present_classes": 2,
            "pixels": 100,
            "per_class": [
                {"id": 0, "name": "road", "iou": road, "gt_pixels": 60, "pred_pixels": 61},
                {"id": 1, "name": "car", "iou": car, "gt_pixels": 40, "pred_pixels": 39},
            ],
            **metrics,
        },
        "confusion": [[50, 5, 5], [5, 30, 5]],
        "evaluated": 4,
        "failed": 0,
        "class_names": CLASSES,
    }


def _score(miou: float | None, road: float | None = None, car: float | None = None) -> Score:
    return Score(miou=miou, pixel_accuracy=None, class_iou={"road": road, "car": car}, images=1)


def test_score_reads_an_evaluate_result() -> None:
    score = score_from_evaluation(_evaluation(0.5, 0.8, None))
    assert score == Score(miou=0.5, pixel_accuracy=0.9, class_iou={"road": 0.8, "car": None}, images=4)


def test_score_of_an_evaluation_without_pixels_is_missing_not_zero() -> None:
    score = score_from_evaluation(
        _evaluation(0.0, None, None, pixels=0, present_classes=0, pixel_accuracy=0.0)
    )
    assert score.miou is None and score.pixel_accuracy is None


def test_score_takes_class_names_from_the_result_when_per_class_has_none() -> None:
    result = _evaluation(0.5, 0.8, 0.2)
    for entry in result["metrics"]["per_class"]:
        del entry["name"]
    assert score_from_evaluation(result).class_iou == {"road": 0.8, "car": 0.2}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("metrics"), "metrics"),
        (lambda r: r["metrics"].update(miou="high"), "metrics.miou"),
        (lambda r: r["metrics"].update(miou=float("nan")), "metrics.miou"),
        (lambda r: r["metrics"].update(per_class={}), "metrics.per_class"),
        (lambda r: r["metrics"]["per_class"][1].update(iou=True), "metrics.per_class[1].iou"),
        (lambda r: r["metrics"]["per_class"][0].update(name=3), "metrics.per_class[0].name"),
        (lambda r: r.update(evaluated=-1), "evaluated"),
    ],
)
def test_a_malformed_result_names_the_field(change: Any, field: str) -> None:
    result = _evaluation(0.5, 0.8, 0.2)
    change(result)
    with pytest.raises(InvalidInput) as err:
        score_from_evaluation(result)
    assert err.value.field == field and err.value.status_code == 422


def _table() -> Any:
    return build_results(
        CLASSES,
        [
            # round 3 failed (None) and round 2 has no score: round 1 is the last with one
            SetScores(
                "city", _score(0.5, 0.8, None), {1: _score(0.532, 0.85, 0.2), 2: _score(None), 3: None}
            ),
            SetScores("rural", None, {1: _score(0.4, 0.4, 0.4)}),  # teacher not evaluated yet
            SetScores("night", _score(0.3, 0.3, 0.3), {2: _score(0.2, 0.2, 0.2), 1: _score(0.9)}),
        ],
    )


def test_build_results_takes_the_last_scored_round_and_means_only_complete_sets() -> None:
    table = _table()
    city, rural, night = table.rows
    assert (city.student_round, city.teacher, city.student) == (1, 0.5, 0.532)
    assert city.values.delta == pytest.approx(0.032) and city.values.trend == "up"
    assert (rural.teacher, rural.student, rural.values.delta) == (None, 0.4, None)
    assert night.student_round == 2 and night.values.trend == "down"
    assert table.mean.sets == 2
    assert table.mean.values.a == pytest.approx(0.4) and table.mean.values.b == pytest.approx(0.366)
    road, car = city.classes
    assert (road.name, road.teacher, road.student) == ("road", 0.8, 0.85)
    assert (car.teacher, car.student, car.values.delta) == (None, 0.2, None)
    assert table.set_row("night") is night and table.set_row("nowhere") is None


def test_build_results_without_any_score() -> None:
    table = build_results(CLASSES, [SetScores("city", None, {})])
    assert table.rows[0].student_round is None and table.rows[0].classes[0].values.delta is None
    assert table.mean.sets == 0 and table.mean.values.a is None
    assert to_csv(table).splitlines()[1:] == ["city,–,–,–,–", "Mean (0 sets),–,–,–,–"]


@pytest.mark.parametrize(
    ("classes", "sets", "field"), [(["a", "a"], [], "class"), (["a"], ["s", "s"], "evaluation set")]
)
def test_duplicate_names_are_refused(classes: list[str], sets: list[str], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        build_results(classes, [SetScores(s, None, {}) for s in sets])
    assert err.value.field == field


def test_trend_follows_the_printed_value() -> None:
    assert [trend(d) for d in (None, 0.0004, -0.0004, 0.0006, -0.0006)] == [
        "flat",
        "flat",
        "flat",
        "up",
        "down",
    ]


def test_csv_of_the_summary_and_per_class() -> None:
    assert to_csv(_table()) == (
        "set,teacher_miou_pct,student_miou_pct,delta_pp,student_round\r\n"
        "city,50.00,53.20,3.20,1\r\n"
        "rural,–,40.00,–,1\r\n"
        "night,30.00,20.00,-10.00,2\r\n"
        "Mean (2 sets),40.00,36.60,-3.40,–\r\n"
    )
    rows = list(csv.reader(io.StringIO(to_csv(_table(), per_class=True), newline="")))
    assert rows[0] == ["set", "class", "teacher_iou_pct", "student_iou_pct", "delta_pp", "student_round"]
    assert rows[1:3] == [
        ["city", "road", "80.00", "85.00", "5.00", "1"],
        ["city", "car", "–", "20.00", "–", "1"],
    ]
    assert len(rows) == 1 + 3 * 2


def test_markdown_of_the_summary_and_per_class() -> None:
    assert to_markdown(_table()) == (
        "| Evaluation set | Teacher mIoU | Student mIoU | Δ | Round |\n"
        "| --- | --: | --: | --: | --: |\n"
        "| city | 50.0 | 53.2 | +3.2 | 1 |\n"
        "| rural | – | 40.0 | – | 1 |\n"
        "| night | 30.0 | 20.0 | -10.0 | 2 |\n"
        "| **Mean (2 sets)** | 40.0 | 36.6 | -3.4 | – |\n"
    )
    per_class = to_markdown(_table(), per_class=True)
    assert "\n### city\n\n| Class | Teacher IoU | Student IoU | Δ |\n| --- | --: | --: | --: |\n" in per_class
    assert "| road | 80.0 | 85.0 | +5.0 |\n| car | – | 20.0 | – |\n" in per_class
    assert per_class.count("### ") == 3


def test_latex_of_the_summary_and_per_class() -> None:
    assert to_latex(_table()) == (
        "\\begin{tabular}{lrrrr}\n"
        "\\toprule\n"
        "Evaluation set & Teacher mIoU & Student mIoU & $\\Delta$ & Round \\\\\n"
        "\\midrule\n"
        "city & 50.0 & 53.2 & $+$3.2 & 1 \\\\\n"
        "rural & -- & 40.0 & -- & 1 \\\\\n"
        "night & 30.0 & 20.0 & $-$10.0 & 2 \\\\\n"
        "\\midrule\n"
        "Mean (2 sets) & 40.0 & 36.6 & $-$3.4 & -- \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    per_class = to_latex(_table(), per_class=True).split("\n\n")[1]
    assert per_class.startswith(
        "\\begin{tabular}{lrrr}\n\\toprule\nClass & Teacher IoU & Student IoU & $\\Delta$ \\\\\n"
    )
    assert (
        "\\midrule\n\\multicolumn{4}{l}{\\textit{city}} \\\\\nroad & 80.0 & 85.0 & $+$5.0 \\\\\n" in per_class
    )


def test_a_difference_that_rounds_to_zero_has_no_sign() -> None:
    table = build_results(CLASSES, [SetScores("s", _score(0.5), {1: _score(0.50004)})])
    assert "| s | 50.0 | 50.0 | 0.0 | 1 |" in to_markdown(table)
    assert "s & 50.0 & 50.0 & 0.0 & 1 \\\\" in to_latex(table)
    table = build_results(CLASSES, [SetScores("s", _score(0.5), {1: _score(0.49996)})])
    assert "s,50.00,50.00,0.00,1" in to_csv(table)  # never "-0.00"


def _other() -> Any:
    return build_results(
        ["car", "bus"],
        [
            SetScores("night", _score(0.3), {1: Score(0.35, None, {"car": 0.5, "bus": 0.1}, 1)}),
            SetScores("snow", _score(0.1), {1: _score(0.2)}),
        ],
    )


def test_compare_matches_sets_and_classes_by_name() -> None:
    table = compare(_table(), _other(), "baseline", "priors")
    assert [r.name for r in table.rows] == ["city", "rural", "night", "snow"]
    assert table.class_names == ("road", "car", "bus")
    city, _, night, snow = table.rows
    assert (city.values.a, city.values.b) == (0.532, None)  # only in a
    assert (snow.values.a, snow.values.b) == (None, 0.2)  # only in b
    assert night.values.delta == pytest.approx(0.15)
    assert dict(night.classes)["car"].a == 0.2 and dict(night.classes)["car"].b == 0.5
    assert dict(night.classes)["road"].b is None and dict(night.classes)["bus"].a is None
    assert table.mean.sets == 1 and table.mean.values.b == 0.35


def test_compare_teachers() -> None:
    table = compare(_table(), _other(), "a", "b", side="teacher")
    assert table.side == "teacher" and table.rows[2].values.a == 0.3 and table.rows[2].values.b == 0.3


def test_comparison_text() -> None:
    table = compare(_table(), _other(), "baseline", "=priors")
    assert to_csv(table).splitlines() == [
        "set,baseline,'=priors,delta_pp",
        "city,53.20,–,–",
        "rural,40.00,–,–",
        "night,20.00,35.00,15.00",
        "snow,–,20.00,–",
        "Mean (1 set),20.00,35.00,15.00",
    ]
    assert to_markdown(table).splitlines()[0] == "| Evaluation set | baseline | =priors | Δ |"
    assert "| night | 20.0 | 35.0 | +15.0 |" in to_markdown(table)
    assert to_csv(table, per_class=True).splitlines()[:2] == [
        "set,class,baseline,'=priors,delta_pp",
        "city,road,85.00,–,–",
    ]
    assert "\\multicolumn{4}{l}{\\textit{snow}} \\\\\nroad & -- & -- & -- \\\\" in to_latex(
        table, per_class=True
    )
    assert "### night" in to_markdown(table, per_class=True)


def test_to_dict_is_json_ready() -> None:
    data = to_dict(_table())
    assert json.loads(json.dumps(data)) == data
    assert data["rows"][1] == {
        "name": "rural",
        "student_round": 1,
        "a": None,
        "b": 0.4,
        "delta": None,
        "classes": [
            {"name": "road", "a": None, "b": 0.4, "delta": None},
            {"name": "car", "a": None, "b": 0.4, "delta": None},
        ],
    }
    assert data["mean"]["sets"] == 2 and data["class_names"] == CLASSES
    comparison = to_dict(compare(_table(), _other(), "x", "y"))
    assert (comparison["label_a"], comparison["side"], len(comparison["rows"])) == ("x", "student", 4)
    assert comparison["rows"][2]["classes"][2] == {"name": "bus", "a": None, "b": 0.1, "delta": None}
