"""The target taxonomy of an imported master_labels file (services layer).

API:
    resolve_target(session, *, classes, name, exact_name=False, target_taxonomy_id=None,
                   create_target=False) -> TargetChoice
        ``target_taxonomy_id``: use that taxonomy (same class ids; its names are the ones used).
        ``create_target``: create a new taxonomy even though a stored one is close.
        Neither: reuse an identical class list, refuse (409 ``target_classes_differ``) a list that
        is close to a stored one (a typo must never silently create a taxonomy), else create.
    closest_taxonomy(session, classes) -> (TaxonomyRow, ClassListComparison) | None
    check_mapping_target(row, target, classes) -> None
        422 naming the differing classes when a file does not fit an existing mapping's target.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.models import Taxonomy as TaxonomyRow
from app.domain.class_lists import (
    ClassDifference,
    ClassList,
    ClassListComparison,
    TargetClassesDiffer,
    closest_class_list,
    compare_class_lists,
)
from app.domain.errors import InvalidInput
from app.domain.taxonomy import Taxonomy
from app.services import taxonomies as taxonomy_service


@dataclass(frozen=True, slots=True)
class TargetChoice:
    row: TaxonomyRow
    created: bool
    chosen: bool = False  # the user named this existing taxonomy
    corrected: tuple[ClassDifference, ...] = ()  # file names replaced by the chosen taxonomy's


def closest_taxonomy(session: Session, classes: ClassList) -> tuple[TaxonomyRow, ClassListComparison] | None:
    """The stored class list that ``classes`` is close to (see ``ClassListComparison.close``), or
    None -- also when a stored class list equals ``classes`` (the import reuses that one)."""
    rows = repo.list_class_list_taxonomies(session, label_count=len(classes))
    candidates = [(row, taxonomy_service.to_domain(session, row).class_list()) for row in rows]
    if any(found == classes for _, found in candidates):
        return None
    return closest_class_list(classes, candidates)


def resolve_target(
    session: Session,
    *,
    classes: ClassList,
    name: str,
    exact_name: bool = False,
    target_taxonomy_id: int | None = None,
    create_target: bool = False,
) -> TargetChoice:
    """The target taxonomy for a new mapping imported from a file with these target ``classes``."""
    if target_taxonomy_id is not None and create_target:
        raise InvalidInput(
            "choose either an existing target taxonomy or a new one, not both", field="create_target"
        )
    if target_taxonomy_id is not None:
        return _chosen(session, classes, target_taxonomy_id)
    if not create_target:
        close = closest_taxonomy(session, classes)
        if close is not None:
            raise _differ(*close)
    row, created = taxonomy_service.find_or_create_class_list(
        session, classes=classes, name=name, exact_name=exact_name
    )
    return TargetChoice(row, created)


def _chosen(session: Session, classes: ClassList, taxonomy_id: int) -> TargetChoice:
    row = taxonomy_service.get_taxonomy(session, taxonomy_id)
    target = taxonomy_service.to_domain(session, row)
    if not target.is_class_list():
        raise InvalidInput(
            f"taxonomy {row.name!r} is not a class list 0..N-1 and cannot be a target",
            field="target_taxonomy_id",
        )
    comparison = compare_class_lists(classes, target.class_list())
    if not comparison.same_ids:
        raise InvalidInput(
            f"the file's target class ids differ from those of {row.name!r}: {comparison.describe()}",
            field="target_taxonomy_id",
            details={"differences": [d.to_dict() for d in comparison.differences]},
        )
    return TargetChoice(row, False, chosen=True, corrected=comparison.differences)


def _differ(row: TaxonomyRow, comparison: ClassListComparison) -> TargetClassesDiffer:
    n = len(comparison.differences)
    return TargetClassesDiffer(
        f"the file's target classes are close to those of taxonomy {row.name!r} but {n} "
        f"differ{'s' if n == 1 else ''}: {comparison.describe()}. Fix the file, or choose: use "
        f"{row.name!r} (its class names replace the file's), or create a new target taxonomy",
        field="file",
        details={
            "closest_taxonomy": {"id": row.id, "name": row.name, "label_count": row.label_count},
            "differences": [d.to_dict() for d in comparison.differences],
            "choices": {
                "use_existing": {"target_taxonomy_id": row.id},
                "create_new": {"create_target": True},
            },
        },
    )


def check_mapping_target(row: TaxonomyRow, target: Taxonomy, classes: ClassList) -> None:
    """A file imported into an existing mapping must have its target's classes (422 naming them)."""
    comparison = compare_class_lists(classes, target.class_list())
    if comparison.identical:
        return
    raise InvalidInput(
        f"the file's target classes differ from those of {row.name!r}: {comparison.describe()}",
        field="file",
        details={
            "expected": [list(c) for c in target.class_list()],
            "differences": [d.to_dict() for d in comparison.differences],
        },
    )


def describe_corrections(corrected: tuple[ClassDifference, ...]) -> str:
    """``class 12 'rdier' read as 'rider'; ...`` for a version message and the outcome line."""
    return "; ".join(f"class {d.id} {d.file_name!r} read as {d.taxonomy_name!r}" for d in corrected)
