"""Experiment results (domain layer, pure): scores of teacher and student per evaluation set as
tables (:mod:`.tables`) and their CSV, Markdown and LaTeX text (:mod:`.text`)."""

from app.domain.experiment_results.tables import (
    ClassRow,
    ComparedSet,
    ComparisonTable,
    MeanRow,
    Pair,
    ResultTable,
    Score,
    SetRow,
    SetScores,
    build_results,
    compare,
    difference,
    score_from_evaluation,
    to_dict,
    trend,
)
from app.domain.experiment_results.text import (
    csv_cell,
    latex_text,
    markdown_cell,
    to_csv,
    to_latex,
    to_markdown,
)

__all__ = [
    "ClassRow",
    "ComparedSet",
    "ComparisonTable",
    "MeanRow",
    "Pair",
    "ResultTable",
    "Score",
    "SetRow",
    "SetScores",
    "build_results",
    "compare",
    "csv_cell",
    "difference",
    "latex_text",
    "markdown_cell",
    "score_from_evaluation",
    "to_csv",
    "to_dict",
    "to_latex",
    "to_markdown",
    "trend",
]
