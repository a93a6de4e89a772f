"""How far a survey's teacher can be trusted (services layer): its newest evaluation, read as
:class:`app.domain.teacher_trust.TeacherQuality` for the audit (API, editor, review page, CLI).

API (session first; reads only):
    teacher_quality(session, model_id, target_names) -> TeacherQuality | None   of the model's newest
        ``EVALUATIONS_READ`` succeeded evaluations whose classes include every target class, the one
        whose ground truth holds the most target classes (the newest among equals); None when none
    survey_teacher(session, survey, target_names=None) -> SurveyTeacher   a survey's teacher (its
        model and that evaluation): the one sentence, the level and the API's fields that the audit
        (API, editor and review sections, CLI) and the suggestions' data evidence show

Why not simply the newest: an evaluation on a dataset mapped one-to-many into the target (a coarse
``road`` that may be asphalt, cobble or road marking) has no per-class ground truth for those
classes, so it says nothing about them; an evaluation on the target's own ground truth does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.domain.teacher_trust import TeacherQuality, summary
from app.services import evaluations as evaluation_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.surveys import SurveyResult

EVALUATIONS_READ = 20


def teacher_quality(session: Session, model_id: int, target_names: dict[int, str]) -> TeacherQuality | None:
    """The model's most telling recent evaluation in the target's classes (None: not evaluated)."""
    ids = {name: cid for cid, name in target_names.items()}
    best: TeacherQuality | None = None
    best_seen = -1
    for read in evaluation_service.newest_evaluations(session, model_id=model_id, limit=EVALUATIONS_READ):
        per_class = {str(c["name"]): c for c in read["per_class"]}
        if not set(ids) <= set(per_class):
            continue
        class_iou = {
            ids[n]: None if c["iou"] is None or not c["gt_pixels"] else float(c["iou"])
            for n, c in per_class.items()
            if n in ids
        }
        seen = sum(v is not None for v in class_iou.values())
        if seen > best_seen:  # newest first: a later one must see strictly more classes
            best_seen = seen
            best = TeacherQuality(
                model_name=str(read["model_name"]),
                evaluation_job_id=int(read["job_id"]),
                dataset_name=str(read["dataset_name"]),
                miou=None if read["miou"] is None else float(read["miou"]),
                class_iou=class_iou,
            )
    return best


@dataclass(frozen=True, slots=True)
class SurveyTeacher:
    """The teacher of a survey: its model and the evaluation that says how far to trust it."""

    model_id: int
    model_name: str
    quality: TeacherQuality | None

    @property
    def summary(self) -> str:
        return summary(self.quality, self.model_name)

    @property
    def level(self) -> Literal["ok", "warning", "unknown"]:
        """ok | warning (weak) | unknown (never evaluated in the target's classes)."""
        if self.quality is None:
            return "unknown"
        return "warning" if self.quality.weak else "ok"

    def read(self, target_names: Mapping[int, str]) -> dict[str, Any]:
        """The fields of ``app.schemas.audit.TeacherQualityRead`` (class IoU by class name)."""
        q = self.quality
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "evaluation_job_id": q.evaluation_job_id if q else None,
            "dataset_name": q.dataset_name if q else None,
            "miou": q.miou if q else None,
            "weak": q.weak if q else False,
            "class_iou": {target_names[c]: iou for c, iou in q.class_iou.items()} if q else {},
            "summary": self.summary,
        }


def survey_teacher(
    session: Session, survey: SurveyResult, target_names: Mapping[int, str] | None = None
) -> SurveyTeacher:
    """A survey's teacher and its evaluation in the target's classes (``target_names``: the target
    taxonomy's class list, read from the database when not given)."""
    if target_names is None:
        target = taxonomy_service.load_taxonomy(session, survey.target_taxonomy_id)
        target_names = dict(target.class_list())
    model = model_service.get_model(session, survey.model_id)
    return SurveyTeacher(model.id, model.name, teacher_quality(session, model.id, dict(target_names)))
