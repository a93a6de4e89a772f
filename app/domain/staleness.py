"""Which pseudo-labels a newer mapping version makes stale, and which images an update re-labels (pure).

A pixel's pseudo-label depends on the mapping only through its source label's *allowed set* (the
target classes, and void, that the priors let it take: :func:`app.domain.priors.compile_priors`).
So an image whose labels contain no source label whose allowed set changed gets byte-identical
outputs under both versions, and an update run may carry it over instead of running the teacher.

* :func:`changed_labels` — the source labels whose allowed set differs between two mappings. A
  label in no edge may only be void, like a label mapped to void alone; adding or removing void
  next to real classes is a change (the label becomes, or stops being, ambiguous-with-void).
* :func:`record_presence` — the source pixel values present in one image, from its manifest record
  (the ``histogram`` rows a pseudo-label run writes per image).
* :func:`affected_images` — the images that contain a changed label.
* :func:`plan_update` — for every pair of the new run: re-label it, or carry the old output over.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.domain.mapping import VOID, OntologyMapping
from app.domain.pairing import Pair
from app.domain.taxonomy import NO_PIXEL, Taxonomy


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One source label whose allowed set differs between the old and the new mapping.

    ``old``/``new`` are sorted target ids with :data:`~app.domain.mapping.VOID` (255) last; a label
    in no edge reads ``(255,)`` (void only).
    """

    name: str
    value: int
    old: tuple[int, ...]
    new: tuple[int, ...]


def allowed_targets(mapping: OntologyMapping, name: str) -> tuple[int, ...]:
    """The allowed set of source label ``name`` (void only when it is in no edge)."""
    return mapping.targets_of(name) or (VOID,)


def changed_labels(
    old: OntologyMapping,
    new: OntologyMapping,
    source: Taxonomy,
    *,
    any_class_values: Collection[int] = (),
) -> tuple[LabelChange, ...]:
    """Source labels (with a pixel value) whose allowed set differs, in pixel-value order.

    Labels that never appear as a pixel (value -1) cannot change any output and are left out, as
    are the dataset's "any class" values, whose rows allow every class whatever the mapping says.
    """
    out = []
    for label in sorted(source.labels, key=lambda lb: (lb.value, lb.name)):
        if label.value == NO_PIXEL or label.value in any_class_values:
            continue
        before, after = allowed_targets(old, label.name), allowed_targets(new, label.name)
        if before != after:
            out.append(LabelChange(label.name, label.value, before, after))
    return tuple(out)


def record_presence(record: Mapping[str, Any]) -> frozenset[int] | None:
    """Source pixel values present in an image, from its manifest record; None when unknown.

    The record's ``histogram`` maps a source row (the pixel value; the last row collects unknown
    values) to target counts. Only an ``"ok"`` record of a run with priors has one.
    """
    histogram = record.get("histogram")
    if record.get("status") != "ok" or not isinstance(histogram, Mapping):
        return None
    return frozenset(int(row) for row, counts in histogram.items() if counts)


def affected_images(
    presence: Mapping[str, frozenset[int] | None], changed_values: Collection[int]
) -> tuple[str, ...]:
    """Images (in the order given) whose labels contain a changed value; unknown presence counts."""
    changed = frozenset(changed_values)
    return tuple(image for image, values in presence.items() if values is None or values & changed)


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """What an update run does with each pair (indices into the new run's pairs, in order).

    ``relabel`` = ``changed`` + ``redo``: ``changed`` contain a label whose allowed set changed;
    ``redo`` have no usable earlier output (failed, missing, new since, or paired differently).
    """

    carry: tuple[int, ...]
    changed: tuple[int, ...]
    redo: tuple[int, ...]

    @property
    def relabel(self) -> tuple[int, ...]:
        return tuple(sorted(self.changed + self.redo))


def plan_update(
    pairs: Sequence[Pair], records: Mapping[str, Mapping[str, Any]], changed_values: Collection[int]
) -> UpdatePlan:
    """Split the new run's ``pairs`` into carried-over and re-labelled ones.

    Args:
        pairs: the pairs the new run labels (its ``pairs.jsonl``).
        records: the earlier run's manifest records by image path.
        changed_values: pixel values of the source labels whose allowed set changed.
    """
    changed = frozenset(changed_values)
    carry: list[int] = []
    touched: list[int] = []
    redo: list[int] = []
    for i, pair in enumerate(pairs):
        record = records.get(pair.image)
        values = None if record is None or record.get("label") != pair.label else record_presence(record)
        if values is None:
            redo.append(i)
        elif values & changed:
            touched.append(i)
        else:
            carry.append(i)
    return UpdatePlan(tuple(carry), tuple(touched), tuple(redo))


def change_names(changes: Iterable[LabelChange]) -> tuple[str, ...]:
    return tuple(c.name for c in changes)
