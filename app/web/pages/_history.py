"""Grouping of a mapping's version history for reading (web layer; the stored versions are unchanged).

Each chip edit is its own immutable version, so mapping 26 labels by hand makes 29 versions. The
history and diff pages show a run of one person's consecutive draft edits, each saved within
``UNILABEL_HISTORY_GROUP_WINDOW_S`` of the previous one, as one group that expands to its versions.
Imports, restores (and undos), version 1 and versions that were submitted, approved or rejected
always stand alone: they are the steps a reviewer looks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.db.models import MappingVersion as VersionRow


@dataclass(frozen=True, slots=True)
class VersionGroup:
    """Consecutive versions shown as one history row; ``versions`` newest first."""

    versions: tuple[VersionRow, ...]

    @property
    def newest(self) -> VersionRow:
        return self.versions[0]

    @property
    def oldest(self) -> VersionRow:
        return self.versions[-1]

    @property
    def grouped(self) -> bool:
        return len(self.versions) > 1

    @property
    def span_s(self) -> float:
        return (self.newest.created_at - self.oldest.created_at).total_seconds()


def _groupable(v: VersionRow) -> bool:
    """A plain draft edit: not version 1, an import, a restore/undo, or a reviewed version."""
    return (
        v.number > 1
        and v.status == "draft"
        and v.restored_from_id is None
        and v.original_text is None
        and v.author_id is not None
    )


def _joins(newer: VersionRow, older: VersionRow, window_s: int) -> bool:
    return (
        _groupable(newer)
        and _groupable(older)
        and newer.number == older.number + 1
        and newer.author_id == older.author_id
        and 0 <= (newer.created_at - older.created_at).total_seconds() <= window_s
    )


def group_versions(versions: Sequence[VersionRow], window_s: int) -> list[VersionGroup]:
    """Versions (newest first) in groups (newest first); ``window_s`` 0 leaves every version alone."""
    groups: list[list[VersionRow]] = []
    for v in versions:
        if groups and window_s > 0 and _joins(groups[-1][-1], v, window_s):
            groups[-1].append(v)
        else:
            groups.append([v])
    return [VersionGroup(tuple(g)) for g in groups]


_LEGACY_EDGE = re.compile(r"^(Map|Unmap) ('.*') -> (\d+|void)$", re.S)
_LEGACY_SET = re.compile(r"^Set targets of ('.*') to \[([\d, ]*)\]$", re.S)


def readable_message(message: str | None, target_names: Mapping[int, str]) -> str:
    """A version message as people read it: versions saved before messages named classes said
    "Map 'motorcycle' -> 17"; they read "Map 'motorcycle' → car" (the stored text is unchanged)."""
    text = message or ""
    if match := _LEGACY_EDGE.match(text):
        verb, source, target = match.groups()
        name = target if target == "void" else target_names.get(int(target), target)
        return f"{verb} {source} → {name}"
    if match := _LEGACY_SET.match(text):
        source, ids = match.groups()
        names = [target_names.get(int(t), t) for t in ids.replace(" ", "").split(",") if t]
        return f"Set targets of {source} to {', '.join(names) if names else 'none (unmapped)'}"
    return text


def readable_messages(versions: Iterable[VersionRow], target_names: Mapping[int, str]) -> dict[int, str]:
    """``readable_message`` of each version, by version id (for the templates)."""
    return {v.id: readable_message(v.message, target_names) for v in versions}
