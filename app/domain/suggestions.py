"""Mapping suggestions from evidence: label names and other approved mappings (pure domain layer).

A :class:`Suggestion` is one edge (source label -> target class or void) with a score in 0..1 and
the :class:`Evidence` behind it, each in words and numbers. Two kinds of evidence exist today:

* ``mapping``: approved mappings from *other* source taxonomies to the same target in which a label
  named like this one (same normalised name, same hierarchical leaf, a synonym, or shared words)
  is mapped to the target: "mapped to `rider` in 3 of 3 other approved mappings". Strength
  ``agreeing share x (1 - 0.4 ** agreeing weight)``: one agreeing mapping 0.6, three 0.94.
* ``name``: the label's name against the target class names (:mod:`app.domain.names`): same name
  0.5, synonym 0.4, broader term 0.3, shared words at most 0.25. Names are a weak signal, so a name
  alone always scores below one agreeing mapping.

Pieces of evidence for one edge combine as a noisy-or (``1 - prod(1 - strength)``), so further
kinds (the teacher's pixel statistics of a data survey, issue 15) are added by producing more
:class:`Evidence` per edge: :func:`combine_evidence` needs no change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.mapping import VOID, OntologyMapping
from app.domain.names import SynonymTable, compact_key, leaf_name, name_tokens

MAPPING_BASE = 0.4  # strength = share * (1 - MAPPING_BASE ** agreeing weight)
NAME_SAME, NAME_SYNONYM, NAME_BROADER, NAME_WORDS = 0.5, 0.4, 0.3, 0.25
MIN_MATCH = 0.2  # weakest label-to-label name match that lets another mapping vote


class EvidenceKind(StrEnum):
    NAME = "name"
    MAPPING = "mapping"
    DATA = "data"  # a teacher's predictions on the label's pixels (app.domain.survey), via ``extra``


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason for an edge: ``strength`` 0..1 on its own, ``facts`` the numbers in ``message``."""

    kind: EvidenceKind
    message: str
    strength: float
    facts: tuple[tuple[str, float], ...] = ()
    refs: tuple[str, ...] = ()  # where it comes from: "<mapping>: <label>"


@dataclass(frozen=True, slots=True)
class Suggestion:
    source_name: str
    target: int  # a class id or VOID
    target_name: str
    score: float
    evidence: tuple[Evidence, ...]

    @property
    def key(self) -> str:
        """Stable identifier of the edge: ``<target id>:<source name>``."""
        return f"{self.target}:{self.source_name}"


@dataclass(frozen=True, slots=True)
class ApprovedMapping:
    """Another approved mapping to the same target: its name, source label names and edges."""

    name: str
    source_names: tuple[str, ...]
    mapping: OntologyMapping

    def targets_of(self, name: str) -> tuple[int, ...]:
        """A label's targets; a label in no edge maps to void."""
        return self.mapping.targets_of(name) or (VOID,)

    @property
    def all_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.source_names, *self.mapping.source_names)))


@dataclass(frozen=True, slots=True)
class _Keys:
    compact: str
    leaf: str
    concept: str | None
    tokens: frozenset[str]


def _keys(name: str, table: SynonymTable, vocabulary: frozenset[str] = frozenset()) -> _Keys:
    return _Keys(
        compact_key(name),
        compact_key(leaf_name(name)),
        table.concept(name),
        table.content_tokens(name, vocabulary),
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _match_strength(a: _Keys, b: _Keys) -> tuple[float, str]:
    """How strongly two label names denote the same thing (0..1) and how, in words."""
    if a.compact and a.compact == b.compact:
        return 1.0, "same name"
    if a.leaf and a.leaf == b.leaf:
        return 0.9, "same last part"
    if a.concept is not None and a.concept == b.concept:
        return 0.8, "synonym"
    if a.concept is not None and b.concept is not None:
        return 0.0, ""  # known to be different things: shared words are a coincidence
    share = _jaccard(a.tokens, b.tokens)
    return (0.5 * share, "shared words") if 0.5 * share >= MIN_MATCH else (0.0, "")


@dataclass(frozen=True, slots=True)
class SuggestionContext:
    """Everything a suggestion needs besides the label: target classes, other mappings, synonyms."""

    targets: tuple[tuple[int, str], ...]  # (class id, name), void excluded
    others: tuple[ApprovedMapping, ...]
    table: SynonymTable
    void_name: str = "void"
    kinds: frozenset[EvidenceKind] = frozenset(EvidenceKind)  # the evidence kinds to use
    vocabulary: frozenset[str] = field(init=False)  # words of the target names: splits run-together names
    target_keys: tuple[tuple[int, str, _Keys], ...] = field(init=False)  # the targets' keys, void last
    other_keys: tuple[tuple[ApprovedMapping, tuple[tuple[str, _Keys], ...]], ...] = field(init=False)

    def __post_init__(self) -> None:
        words = frozenset(
            t for _, n in self.targets for t in name_tokens(n.replace("--", " ")) if len(t) >= 3
        )
        object.__setattr__(self, "vocabulary", words)
        keys = tuple((t, n, _keys(n, self.table, words)) for t, n in (*self.targets, (VOID, self.void_name)))
        object.__setattr__(self, "target_keys", keys)
        others = tuple((m, tuple((n, _keys(n, self.table, words)) for n in m.all_names)) for m in self.others)
        object.__setattr__(self, "other_keys", others)

    def target_name(self, target: int) -> str:
        return self.void_name if target == VOID else dict(self.targets).get(target, str(target))


def mapping_evidence(name: str, ctx: SuggestionContext) -> dict[int, Evidence]:
    """Evidence per target from the other approved mappings' labels named like ``name``."""
    me = _keys(name, ctx.table, ctx.vocabulary)
    votes: dict[int, list[tuple[float, str]]] = {}
    total, voters = 0.0, 0
    for other, names in ctx.other_keys:
        scored = [(_match_strength(me, k), n) for n, k in names]
        best = max((s for (s, _), _ in scored), default=0.0)
        if best < MIN_MATCH:
            continue
        matched = [n for (s, _), n in scored if s == best]
        how = next(h for (s, h), _ in scored if s == best)
        total += best
        voters += 1
        targets = sorted({t for n in matched for t in other.targets_of(n)})
        labels = ", ".join(f"`{n}`" for n in matched)
        for t in targets:
            votes.setdefault(t, []).append((best, f"{other.name}: {labels} ({how})"))
    out = {}
    for target, agreeing in votes.items():
        weight = sum(s for s, _ in agreeing)
        share = weight / total
        strength = share * (1.0 - MAPPING_BASE**weight)
        out[target] = Evidence(
            EvidenceKind.MAPPING,
            f"mapped to `{ctx.target_name(target)}` in {len(agreeing)} of {voters} other approved "
            f"mapping{'s' if voters != 1 else ''} with a label named like it",
            round(strength, 4),
            (("agreeing", len(agreeing)), ("mappings", voters), ("share", round(share, 4))),
            tuple(ref for _, ref in agreeing),
        )
    return out


def _broader(concept: str, table: SynonymTable, depth: int = 2) -> set[str]:
    found: set[str] = set()
    frontier = {concept}
    for _ in range(depth):
        frontier = {b for c in frontier for b in table.broader.get(c, ())} - found
        found |= frontier
    return found


def name_evidence(name: str, ctx: SuggestionContext) -> dict[int, Evidence]:
    """Evidence per target from the names alone (the target class names and the synonym table)."""
    me = _keys(name, ctx.table, ctx.vocabulary)
    wider = _broader(me.concept, ctx.table) if me.concept else set()
    out: dict[int, Evidence] = {}
    for target, target_name, it in ctx.target_keys:
        if me.compact == it.compact or (me.leaf and me.leaf == it.leaf):
            strength, words = NAME_SAME, "the same name as"
        elif me.concept is not None and me.concept == it.concept:
            strength, words = NAME_SYNONYM, "a synonym of"
        elif it.concept is not None and it.concept in wider:
            strength, words = NAME_BROADER, "a kind of"
        elif (me.concept is None or it.concept is None) and (share := _jaccard(me.tokens, it.tokens)) > 0:
            strength, words = NAME_WORDS * share, f"sharing {share:.0%} of its words with"
        else:
            continue
        out[target] = Evidence(
            EvidenceKind.NAME,
            f"name: `{name}` is {words} `{target_name}` (names are weak evidence)",
            round(strength, 4),
            (("strength", round(strength, 4)),),
        )
    return out


def combine_evidence(evidence: Iterable[Evidence]) -> float:
    """Noisy-or of the evidence strengths: independent reasons add up, never past 1."""
    miss = 1.0
    for e in evidence:
        miss *= 1.0 - min(max(e.strength, 0.0), 1.0)
    return round(1.0 - miss, 4)


def suggest_for_label(
    name: str,
    ctx: SuggestionContext,
    *,
    limit: int = 3,
    extra: Mapping[int, Sequence[Evidence]] | None = None,
) -> tuple[Suggestion, ...]:
    """The best ``limit`` edges for one source label, best first (ties by target id).

    ``extra``: further evidence per target (another kind, e.g. from data), combined with the rest.
    """
    by_target: dict[int, list[Evidence]] = {}
    produced: list[dict[int, Evidence]] = []
    if EvidenceKind.MAPPING in ctx.kinds:
        produced.append(mapping_evidence(name, ctx))
    if EvidenceKind.NAME in ctx.kinds:
        produced.append(name_evidence(name, ctx))
    for found in produced:
        for target, evidence in found.items():
            by_target.setdefault(target, []).append(evidence)
    for target, more in (extra or {}).items():
        by_target.setdefault(target, []).extend(more)
    ranked = sorted(
        (
            Suggestion(name, t, ctx.target_name(t), combine_evidence(ev), tuple(ev))
            for t, ev in by_target.items()
        ),
        key=lambda s: (-s.score, s.target),
    )
    return tuple(s for s in ranked if s.score > 0)[:limit]


def suggest_mapping(
    source_names: Iterable[str],
    ctx: SuggestionContext,
    *,
    limit: int = 3,
    extra: Mapping[str, Mapping[int, Sequence[Evidence]]] | None = None,
) -> dict[str, tuple[Suggestion, ...]]:
    """Suggestions for every source label (labels with no evidence get an empty tuple).

    ``extra``: further evidence per label and target (e.g. a data survey's), see :func:`suggest_for_label`.
    """
    more = extra or {}
    return {n: suggest_for_label(n, ctx, limit=limit, extra=more.get(n)) for n in dict.fromkeys(source_names)}


def draft_mapping(
    suggestions: Mapping[str, Sequence[Suggestion]], *, min_score: float = 0.3
) -> OntologyMapping:
    """A complete first version: each label's best suggestion when it scores ``min_score`` or more,
    else an explicit void edge (so every label is listed, as in the authors' files)."""
    edges = set()
    for name, ranked in suggestions.items():
        best = ranked[0].target if ranked and ranked[0].score >= min_score else VOID
        edges.add((name, best))
    return OntologyMapping(frozenset(edges))
