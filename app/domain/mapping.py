"""Ontology mappings: many-to-many edges from source label names to target classes or void. Pure layer."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.domain.errors import InvalidInput

VOID = 255  # the target id of "void": the pixel is ignored / may only be void

Edge = tuple[str, int]  # (source label name, target class id or VOID)


@dataclass(frozen=True, slots=True)
class OntologyMapping:
    """An immutable set of edges (source label name, target class id or :data:`VOID`).

    Edges refer to source labels by *name* (matched exactly, whitespace included) so a file that
    names a label the source taxonomy lacks keeps that edge and the validation report names it.
    A source label in no edge maps to void.
    """

    edges: frozenset[Edge] = frozenset()
    _targets: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        edges = frozenset(self.edges)
        for name, target in edges:
            if not isinstance(name, str) or name == "":
                raise InvalidInput(
                    f"edge source must be a non-empty label name, got {name!r}", field="source"
                )
            if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= VOID:
                raise InvalidInput(
                    f"edge target must be a class id 0..254 or {VOID} (void), got {target!r}", field="target"
                )
        object.__setattr__(self, "edges", edges)
        targets: dict[str, list[int]] = defaultdict(list)
        for name, target in edges:
            targets[name].append(target)
        object.__setattr__(self, "_targets", {n: tuple(sorted(t)) for n, t in targets.items()})

    @classmethod
    def from_edges(cls, edges: Iterable[Edge]) -> OntologyMapping:
        return cls(frozenset((str(n), int(t)) for n, t in edges))

    def targets_of(self, name: str) -> tuple[int, ...]:
        """Targets of a source label, sorted (VOID last); empty when the label is in no edge."""
        return self._targets.get(name, ())

    def sources_of(self, target: int) -> tuple[str, ...]:
        return tuple(sorted(n for n, t in self.edges if t == target))

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._targets))

    def with_edge(self, name: str, target: int) -> OntologyMapping:
        return OntologyMapping(self.edges | {(name, target)})

    def without_edge(self, name: str, target: int) -> OntologyMapping:
        return OntologyMapping(self.edges - {(name, target)})

    def with_targets(self, name: str, targets: Iterable[int]) -> OntologyMapping:
        """Replace every edge of ``name`` by edges to ``targets``."""
        kept = {e for e in self.edges if e[0] != name}
        return OntologyMapping(frozenset(kept | {(name, int(t)) for t in targets}))

    def sorted_edges(self) -> list[Edge]:
        return sorted(self.edges, key=lambda e: (e[0], e[1]))

    def canonical_json(self) -> str:
        """Canonical text of the edges: the input of :meth:`content_hash`."""
        return json.dumps([[n, t] for n, t in self.sorted_edges()], ensure_ascii=False, separators=(",", ":"))

    def content_hash(self) -> str:
        """sha256 hex digest of the canonical edges; equal edges give equal hashes."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self.edges)


def mapping_from_json(text: str) -> OntologyMapping:
    """Inverse of :meth:`OntologyMapping.canonical_json`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"edges are not valid JSON: {exc.msg}", field="edges") from None
    if not isinstance(data, list) or not all(isinstance(e, list) and len(e) == 2 for e in data):
        raise InvalidInput("edges must be a list of [source_name, target_id] pairs", field="edges")
    return OntologyMapping(frozenset((e[0], e[1]) for e in data))


@dataclass(frozen=True, slots=True)
class SourceDiff:
    """Edges added/removed for one source label between two versions."""

    source_name: str
    added: tuple[int, ...]
    removed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MappingDiff:
    added: tuple[Edge, ...]
    removed: tuple[Edge, ...]
    by_source: tuple[SourceDiff, ...]

    @property
    def is_empty(self) -> bool:
        return not self.added and not self.removed


def diff_mappings(old: OntologyMapping, new: OntologyMapping) -> MappingDiff:
    """Edges added and removed going from ``old`` to ``new``, also grouped per source label."""
    added = sorted(new.edges - old.edges)
    removed = sorted(old.edges - new.edges)
    per: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for name, target in added:
        per[name][0].append(target)
    for name, target in removed:
        per[name][1].append(target)
    by_source = tuple(SourceDiff(n, tuple(a), tuple(r)) for n, (a, r) in sorted(per.items()))
    return MappingDiff(tuple(added), tuple(removed), by_source)


# Re-exported for callers that think of validation as part of the mapping API.
from app.domain.validation import Finding, ValidationReport, validate_mapping  # noqa: E402

__all__ = [
    "VOID",
    "Edge",
    "Finding",
    "MappingDiff",
    "OntologyMapping",
    "SourceDiff",
    "ValidationReport",
    "diff_mappings",
    "mapping_from_json",
    "validate_mapping",
]
