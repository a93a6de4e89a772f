"""How far a survey's teacher can be trusted, from its own evaluation (pure domain layer).

A survey is only as good as the teacher that made it: where the teacher cannot recognise a class, an
audit finding about that class is the teacher's blind spot, not a mapping error (the demo's quick
teacher, mIoU 0.20, produced four findings, all of them its own blind spots). So the audit shows the
teacher's evaluation next to the survey (:mod:`app.services.teacher_quality` picks which) and, on
each finding, the classes it involves that the teacher is weak on. Both thresholds are unilabel's,
not the paper's (the paper audits no mapping); they come from the synthetic benchmark of issue 15
(docs/benchmarks.md, "Data evidence"):

* :data:`WEAK_TEACHER_MIOU` 0.5 — the five toy teachers whose audits met the goal (4 of 5 corrupted
  edges flagged, at most 1 false flag) had held-out mIoU 0.54-0.66.
* :data:`WEAK_CLASS_IOU` 0.35 — every false flag of those audits concerned road marking, on which
  the teachers had IoU 0.075-0.305; the classes they judged right had IoU 0.48 and more.

A class the evaluation's ground truth never contains has no IoU (``None``): the teacher's skill on it
is unknown, and a finding involving it says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.domain.audit import Finding
from app.domain.mapping import VOID

WEAK_TEACHER_MIOU = 0.5
WEAK_CLASS_IOU = 0.35


@dataclass(frozen=True, slots=True)
class TeacherQuality:
    """One evaluation of a teacher in the target taxonomy: its mIoU and IoU per target class id."""

    model_name: str
    evaluation_job_id: int
    dataset_name: str
    miou: float | None
    class_iou: Mapping[int, float | None]  # target class id -> IoU (None: not in the evaluated data)

    @property
    def weak(self) -> bool:
        return self.miou is not None and self.miou < WEAK_TEACHER_MIOU

    def weak_classes(self, classes: Iterable[int]) -> tuple[tuple[int, float | None], ...]:
        """The given classes (void skipped, each once) the teacher is weak on or was never evaluated on."""
        out = []
        for c in dict.fromkeys(classes):
            if c == VOID:
                continue
            iou = self.class_iou.get(c)
            if iou is None or iou < WEAK_CLASS_IOU:
                out.append((c, iou))
        return tuple(out)


def summary(quality: TeacherQuality | None, model_name: str) -> str:
    """One sentence on the teacher: its evaluation, or that it has none."""
    if quality is None:
        return (
            f"Teacher `{model_name}` has no evaluation in the target taxonomy: how far its survey can be "
            "trusted is unknown (evaluate it on a dataset with ground truth)"
        )
    miou = "no mIoU" if quality.miou is None else f"mIoU {quality.miou:.2f}"
    text = (
        f"Teacher `{quality.model_name}`: {miou} on `{quality.dataset_name}` "
        f"(evaluation job {quality.evaluation_job_id})"
    )
    if quality.weak:
        text += (
            f"; under {WEAK_TEACHER_MIOU:.2f}, so findings may be the teacher's blind spots rather "
            "than mapping errors: check each against the images"
        )
    return text


def class_note(quality: TeacherQuality | None, target: int, name: str) -> str | None:
    """A short note on one class the teacher is weak on or was never evaluated on (None: neither)."""
    if quality is None or not quality.weak_classes((target,)):
        return None
    iou = quality.class_iou.get(target)
    job = f"evaluation job {quality.evaluation_job_id}"
    if iou is None:
        return f"the teacher was not evaluated on `{name}` ({job}): its skill there is unknown"
    return f"the teacher's IoU on `{name}` is {iou:.2f} ({job}): maybe its blind spot"


def caveats(quality: TeacherQuality | None, finding: Finding, names: Mapping[int, str]) -> tuple[str, ...]:
    """Why ``finding`` may be the teacher's error, from the classes it involves (its subject, the
    label's targets now and the proposed ones): one sentence for those the teacher is weak on, one
    for those its evaluation never saw."""
    if quality is None:
        return ()
    weak = quality.weak_classes((finding.target, *finding.current, *finding.proposed))
    low = [f"{iou:.2f} on `{names.get(c, str(c))}`" for c, iou in weak if iou is not None]
    unknown = [f"`{names.get(c, str(c))}`" for c, iou in weak if iou is None]
    job = f"evaluation job {quality.evaluation_job_id}"
    out = []
    if low:
        these = "this may be its blind spot" if len(low) == 1 else "these may be its blind spots"
        out.append(f"the teacher's IoU is {', '.join(low)} ({job}): {these}")
    if unknown:
        verb, them = ("is", "it") if len(unknown) == 1 else ("are", "them")
        names_ = ", ".join(unknown)
        out.append(f"{names_} {verb} not in {job}'s ground truth: the teacher's skill on {them} is unknown")
    return tuple(out)
