"""Comparing a file's target class list with stored ones (pure layer).

A ``master_labels_<taxonomy>.csv`` names its target classes. When they equal a stored taxonomy's
(id, name) list, the import reuses it. When they are *almost* equal -- the same class ids, most
names equal, a few not (a typo such as ``rdier``) -- creating a new taxonomy silently would give a
mapping no teacher can use, so the import stops and names the differing classes
(:class:`TargetClassesDiffer`), and the user chooses: that taxonomy (its names are the ones used)
or, explicitly, a new one. Class lists that differ in their ids are other taxonomies (Mapillary's
63 and 65 classes): they are never "close".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from app.domain.errors import Conflict

ClassList = tuple[tuple[int, str], ...]
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class ClassDifference:
    """One class id whose name differs; ``None`` when one side lacks the id."""

    id: int
    file_name: str | None
    taxonomy_name: str | None

    def describe(self) -> str:
        if self.taxonomy_name is None:
            return f"class {self.id} {self.file_name!r} is not in the taxonomy"
        if self.file_name is None:
            return f"class {self.id} {self.taxonomy_name!r} is missing from the file"
        return f"class {self.id} is {self.file_name!r} in the file, {self.taxonomy_name!r} in the taxonomy"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file_name": self.file_name, "taxonomy_name": self.taxonomy_name}


@dataclass(frozen=True, slots=True)
class ClassListComparison:
    """How a file's class list differs from one taxonomy's, class id by class id."""

    differences: tuple[ClassDifference, ...]
    matching: int  # ids with the same name on both sides
    total: int  # ids on either side

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def same_ids(self) -> bool:
        return all(d.file_name is not None and d.taxonomy_name is not None for d in self.differences)

    @property
    def close(self) -> bool:
        """Same ids, at least half of the names equal, and not identical: most likely a typo."""
        return not self.identical and self.same_ids and 2 * self.matching >= self.total

    def describe(self, limit: int = 5) -> str:
        """``class 12 is 'rdier' in the file, 'rider' in the taxonomy; ...`` (at most ``limit``)."""
        parts = [d.describe() for d in self.differences[:limit]]
        more = len(self.differences) - limit
        if more > 0:
            parts.append(f"and {more} more")
        return "; ".join(parts)


def compare_class_lists(file_classes: ClassList, taxonomy_classes: ClassList) -> ClassListComparison:
    """Compare two (id, name) class lists id by id (differences in id order)."""
    mine, theirs = dict(file_classes), dict(taxonomy_classes)
    ids = sorted(set(mine) | set(theirs))
    differences = tuple(
        ClassDifference(i, mine.get(i), theirs.get(i)) for i in ids if mine.get(i) != theirs.get(i)
    )
    return ClassListComparison(differences, len(ids) - len(differences), len(ids))


def closest_class_list(
    file_classes: ClassList, candidates: Iterable[tuple[K, ClassList]]
) -> tuple[K, ClassListComparison] | None:
    """The candidate ``(key, classes)`` that ``file_classes`` is close to (most equal names; the
    first on a tie), or None when none is close (identical lists are not "close")."""
    best: tuple[K, ClassListComparison] | None = None
    for key, classes in candidates:
        comparison = compare_class_lists(file_classes, classes)
        if comparison.close and (best is None or comparison.matching > best[1].matching):
            best = (key, comparison)
    return best


class TargetClassesDiffer(Conflict):
    """The file's target classes are close to a stored taxonomy's but not equal (409).

    ``details``: ``closest_taxonomy`` ({id, name, label_count}), ``differences`` (a list of
    {id, file_name, taxonomy_name}) and ``choices`` (the request parameters that resolve it).
    """

    code = "target_classes_differ"
