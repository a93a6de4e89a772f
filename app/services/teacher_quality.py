"""How far a survey's teacher can be trusted (services layer): its newest evaluation, read as
:class:`app.domain.teacher_trust.TeacherQuality` for the audit (API, editor, review page, CLI).

API (session first; reads only):
    teacher_quality(session, model_id, target_names) -> TeacherQuality | None   of the model's newest
        ``EVALUATIONS_READ`` succeeded evaluations whose classes include every target class, the one
        whose ground truth holds the most target classes (the newest among equals); None when none

Why not simply the newest: an evaluation on a dataset mapped one-to-many into the target (a coarse
``road`` that may be asphalt, cobble or road marking) has no per-class ground truth for those
classes, so it says nothing about them; an evaluation on the target's own ground truth does.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.domain.teacher_trust import TeacherQuality
from app.services import evaluations as evaluation_service

EVALUATIONS_READ = 20


def teacher_quality(session: Session, model_id: int, target_names: dict[int, str]) -> TeacherQuality | None:
    """The model's most telling recent evaluation in the target's classes (None: not evaluated)."""
    ids = {name: cid for cid, name in target_names.items()}
    best: TeacherQuality | None = None
    best_seen = -1
    for row in evaluation_service.list_evaluations(session, model_id=model_id)[:EVALUATIONS_READ]:
        read = evaluation_service.evaluation(session, int(row["job_id"]))
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
