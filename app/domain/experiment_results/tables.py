"""Results of an experiment as tables (domain layer, pure): teacher vs student per evaluation set.

An experiment run evaluates its teacher and each round's student on every evaluation set with
``evaluate`` jobs. :func:`score_from_evaluation` reads one job's ``result_json``
(``worker.ml.evaluate.EvaluationResult.to_json``); :func:`build_results` turns the scores into a
:class:`ResultTable` (one row per set, a mean row, a per-class table per set) and :func:`compare`
lines two tables up by set and class name. The text renderers live in
:mod:`app.domain.experiment_results.text`.

Scores are IoU fractions in ``[0, 1]``; differences are ``student - teacher`` (``b - a`` in a
comparison). ``None`` means "no value" (not evaluated yet, failed, or a class without pixels),
never zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.domain.errors import InvalidInput

Trend = Literal["up", "down", "flat"]
Side = Literal["student", "teacher"]


@dataclass(frozen=True, slots=True)
class Score:
    """One evaluation: mIoU and pixel accuracy (``None`` when nothing was scored), IoU by class name."""

    miou: float | None
    pixel_accuracy: float | None
    class_iou: Mapping[str, float | None]
    images: int


@dataclass(frozen=True, slots=True)
class SetScores:
    """Input of :func:`build_results` for one evaluation set; ``student`` maps round -> score."""

    name: str
    teacher: Score | None
    student: Mapping[int, Score | None]


def difference(a: float | None, b: float | None) -> float | None:
    """``b - a``, or ``None`` when either is missing."""
    return None if a is None or b is None else b - a


def trend(delta: float | None) -> Trend:
    """Direction of a difference as printed (to 0.1 points): a change that rounds to 0.0 is flat."""
    if delta is None:
        return "flat"
    points = round(delta * 100, 1)
    return "up" if points > 0 else "down" if points < 0 else "flat"


@dataclass(frozen=True, slots=True)
class Pair:
    """One cell pair of a table: a baseline value ``a``, a value ``b`` and their difference."""

    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return difference(self.a, self.b)

    @property
    def trend(self) -> Trend:
        return trend(self.delta)


class _HasValues(Protocol):
    @property
    def values(self) -> Pair: ...


class _TeacherStudent:
    """``teacher`` and ``student``: the ``a`` and ``b`` of a row's ``values``."""

    __slots__ = ()

    @property
    def teacher(self: _HasValues) -> float | None:
        return self.values.a

    @property
    def student(self: _HasValues) -> float | None:
        return self.values.b


@dataclass(frozen=True, slots=True)
class ClassRow(_TeacherStudent):
    """One class of one set: teacher IoU (``a``) vs student IoU (``b``)."""

    name: str
    values: Pair


@dataclass(frozen=True, slots=True)
class SetRow(_TeacherStudent):
    """One evaluation set: teacher mIoU vs the mIoU of the last student round with a score."""

    name: str
    teacher_score: Score | None
    student_score: Score | None
    student_round: int | None
    classes: tuple[ClassRow, ...]

    @property
    def values(self) -> Pair:
        return Pair(_miou(self.teacher_score), _miou(self.student_score))


@dataclass(frozen=True, slots=True)
class MeanRow:
    """Means over the ``sets`` sets where both values exist (``None`` values when there is none)."""

    values: Pair
    sets: int


@dataclass(frozen=True, slots=True)
class ResultTable:
    class_names: tuple[str, ...]
    rows: tuple[SetRow, ...]
    mean: MeanRow

    def set_row(self, name: str) -> SetRow | None:
        return next((r for r in self.rows if r.name == name), None)


@dataclass(frozen=True, slots=True)
class ComparedSet:
    """One set in a comparison: its mIoU in table a and b, and per-class IoU (a, b)."""

    name: str
    values: Pair
    classes: tuple[tuple[str, Pair], ...]


@dataclass(frozen=True, slots=True)
class ComparisonTable:
    label_a: str
    label_b: str
    side: Side
    class_names: tuple[str, ...]
    rows: tuple[ComparedSet, ...]
    mean: MeanRow


def _miou(score: Score | None) -> float | None:
    return None if score is None else score.miou


def _fraction(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number or null, got {value!r}", field=field)
    return float(value)


def _class_iou(result: Mapping[str, Any], per_class: Any) -> dict[str, float | None]:
    if not isinstance(per_class, list):
        raise InvalidInput("metrics.per_class must be a list", field="metrics.per_class")
    names = result.get("class_names") or []
    out: dict[str, float | None] = {}
    for i, entry in enumerate(per_class):
        field = f"metrics.per_class[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{field} must be an object", field=field)
        fallback = names[i] if i < len(names) else None
        name = entry.get("name", fallback)
        if not isinstance(name, str):
            raise InvalidInput(f"{field}.name must be a string", field=f"{field}.name")
        out.setdefault(name, _fraction(entry.get("iou"), f"{field}.iou"))
    return out


def score_from_evaluation(result: Mapping[str, Any]) -> Score:
    """The :class:`Score` of an ``evaluate`` job's ``result_json`` (``InvalidInput`` names a bad field).

    ``metrics_from_confusion`` reports an mIoU and pixel accuracy of 0.0 when no pixel was scored;
    here that is "no score" (``None``), like a class without pixels.
    """
    metrics = result.get("metrics")
    if not isinstance(metrics, Mapping):
        raise InvalidInput("the evaluation result has no metrics object", field="metrics")
    images = result.get("evaluated", 0)
    if isinstance(images, bool) or not isinstance(images, int) or images < 0:
        raise InvalidInput(f"evaluated must be a count of images, got {images!r}", field="evaluated")
    class_iou = _class_iou(result, metrics.get("per_class", []))
    scored = metrics.get("pixels", 1) != 0 and metrics.get("present_classes", 1) != 0
    miou = _fraction(metrics.get("miou"), "metrics.miou")
    accuracy = _fraction(metrics.get("pixel_accuracy"), "metrics.pixel_accuracy")
    return Score(
        miou=miou if scored else None,
        pixel_accuracy=accuracy if scored else None,
        class_iou=class_iou,
        images=images,
    )


def _last_scored(student: Mapping[int, Score | None]) -> tuple[int | None, Score | None]:
    scored = [(r, s) for r, s in student.items() if s is not None and s.miou is not None]
    return max(scored, key=lambda item: item[0]) if scored else (None, None)


def _unique(names: Iterable[str], what: str) -> tuple[str, ...]:
    out = tuple(names)
    seen: set[str] = set()
    for name in out:
        if name in seen:
            raise InvalidInput(f"duplicate {what} name {name!r}", field=what)
        seen.add(name)
    return out


def _mean(pairs: Iterable[Pair]) -> MeanRow:
    both = [(p.a, p.b) for p in pairs if p.a is not None and p.b is not None]
    if not both:
        return MeanRow(Pair(None, None), 0)
    return MeanRow(
        Pair(math.fsum(a for a, _ in both) / len(both), math.fsum(b for _, b in both) / len(both)), len(both)
    )


def _iou(score: Score | None, name: str) -> float | None:
    return None if score is None else score.class_iou.get(name)


def build_results(class_names: Sequence[str], sets: Sequence[SetScores]) -> ResultTable:
    """Rows in the order of ``sets``; per-class rows in the order of ``class_names``.

    The student of a set is its last round whose score has an mIoU; the mean row averages the
    sets where both teacher and student have one.
    """
    names = _unique(class_names, "class")
    _unique((s.name for s in sets), "evaluation set")
    rows = []
    for s in sets:
        round_, student = _last_scored(s.student)
        classes = tuple(ClassRow(c, Pair(_iou(s.teacher, c), _iou(student, c))) for c in names)
        rows.append(SetRow(s.name, s.teacher, student, round_, classes))
    return ResultTable(names, tuple(rows), _mean(r.values for r in rows))


def _side(row: SetRow | None, side: Side) -> tuple[float | None, dict[str, float | None]]:
    """The mIoU and per-class IoU of one side of a set row (``None`` and nothing when absent)."""
    if row is None:
        return None, {}
    if side == "student":
        return row.student, {c.name: c.student for c in row.classes}
    return row.teacher, {c.name: c.teacher for c in row.classes}


def _merged(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def compare(
    a: ResultTable, b: ResultTable, label_a: str, label_b: str, *, side: Side = "student"
) -> ComparisonTable:
    """Two experiments' ``side`` scores (default: their students) by set and class name.

    Sets and classes of ``a`` come first, then those only in ``b``; one present on a single side
    has ``None`` on the other. Differences are ``b - a``.
    """
    classes = _merged(a.class_names, b.class_names)
    rows = []
    for name in _merged((r.name for r in a.rows), (r.name for r in b.rows)):
        (miou_a, ious_a), (miou_b, ious_b) = _side(a.set_row(name), side), _side(b.set_row(name), side)
        per_class = tuple((c, Pair(ious_a.get(c), ious_b.get(c))) for c in classes)
        rows.append(ComparedSet(name, Pair(miou_a, miou_b), per_class))
    return ComparisonTable(label_a, label_b, side, classes, tuple(rows), _mean(r.values for r in rows))


def _pair_dict(values: Pair) -> dict[str, float | None]:
    return {"a": values.a, "b": values.b, "delta": values.delta}


def _row_dict(name: str, values: Pair, classes: Iterable[tuple[str, Pair]], **fields: Any) -> dict[str, Any]:
    """One set's row: its name, ``fields``, its pair, and its classes' pairs."""
    classes_ = [{"name": c, **_pair_dict(p)} for c, p in classes]
    return {"name": name, **fields, **_pair_dict(values), "classes": classes_}


def to_dict(table: ResultTable | ComparisonTable) -> dict[str, Any]:
    """A JSON-ready form (IoU fractions, ``None`` for missing): ``a`` is the teacher (or ``label_a``),
    ``b`` the student (or ``label_b``), ``delta`` is ``b - a``."""
    mean = {"sets": table.mean.sets, **_pair_dict(table.mean.values)}
    if isinstance(table, ComparisonTable):
        rows = [_row_dict(r.name, r.values, r.classes) for r in table.rows]
        head = {"label_a": table.label_a, "label_b": table.label_b, "side": table.side}
        return head | {"class_names": list(table.class_names), "rows": rows, "mean": mean}
    rows = [
        _row_dict(r.name, r.values, ((c.name, c.values) for c in r.classes), student_round=r.student_round)
        for r in table.rows
    ]
    return {"class_names": list(table.class_names), "rows": rows, "mean": mean}
