"""Experiment result schemas (schemas layer): a run's teacher vs student table and a comparison.

Values are IoU fractions in ``[0, 1]`` (``null``: no value yet, a failed stage, or a class without
pixels; never 0). ``a`` is the teacher (in a comparison: experiment ``a``), ``b`` the student (or
experiment ``b``) and ``delta`` is ``b - a``. The JSON form of
:func:`app.domain.experiment_results.to_dict`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Fraction = float | None


class ClassValues(BaseModel):
    name: str
    a: Fraction
    b: Fraction
    delta: Fraction


class ResultRow(BaseModel):
    name: str = Field(description="The evaluation set")
    a: Fraction = Field(description="Teacher mIoU (comparison: experiment a's)")
    b: Fraction = Field(description="Student mIoU of its last scored round (comparison: experiment b's)")
    delta: Fraction = Field(description="b - a")
    student_round: int | None = Field(default=None, description="The round whose student is shown")
    classes: list[ClassValues] | None = Field(
        default=None, description="IoU per class (only with per_class=true)"
    )


class MeanValues(BaseModel):
    sets: int = Field(description="How many sets have both values (the mean is over those)")
    a: Fraction
    b: Fraction
    delta: Fraction


class RunRef(BaseModel):
    experiment_id: int
    experiment: str
    run: int
    run_status: str
    scored: int = Field(description="Evaluate stages of the run with a score")
    expected: int = Field(description="Evaluate stages in the run's graph")


class ExperimentResultsRead(RunRef):
    class_names: list[str]
    rows: list[ResultRow]
    mean: MeanValues


class ExperimentComparisonRead(BaseModel):
    a: RunRef
    b: RunRef
    label_a: str
    label_b: str
    side: Literal["student", "teacher"] = Field(description="Whose scores are compared")
    class_names: list[str]
    rows: list[ResultRow]
    mean: MeanValues
