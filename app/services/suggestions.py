"""Mapping suggestions (services layer): evidence from names and from other approved mappings.

API (session first, keyword-only arguments; reads only):
    suggest_for_mapping(session, mapping_id, *, limit=3, min_score=0.0, label=None, synonyms=None,
                        include_rejected=False, survey_job_id=None, data_min_share=DATA_MIN_SHARE)
        -> SuggestionReport   for the mapping's source labels, with its current edges; with a survey,
        data evidence from targets that get ``data_min_share`` or more of a label's pixels
    suggest_for_taxonomies(session, *, source_taxonomy_id, target_taxonomy_id, limit=3,
                           min_score=0.0, label=None, synonyms=None) -> SuggestionReport
        the same for a pair with no mapping yet (the CLI's draft)
    reject_suggestion(session, mapping_id, *, key, author=None) -> (SuggestionRejection, created)
        remember that the edge ``key`` (``<target id>:<source name>``) is not wanted in this
        mapping: it is left out of later suggestions (``include_rejected`` shows it, flagged)
    unreject_suggestion(session, mapping_id, *, key) -> None   (NotFound when it was not rejected)

Evidence mappings: for each mapping to the same target taxonomy from *another* source taxonomy,
its newest approved version (drafts, versions in review and rejected ones are never evidence).
The pure scoring is :mod:`app.domain.suggestions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db import repositories_suggestions as suggestion_repo
from app.db.models import SuggestionRejection, User
from app.domain.errors import InvalidInput, NotFound
from app.domain.mapping import VOID, Edge, OntologyMapping
from app.domain.names import SynonymTable, default_synonyms
from app.domain.suggestions import (
    ApprovedMapping,
    Evidence,
    Suggestion,
    SuggestionContext,
    draft_mapping,
    suggest_mapping,
)
from app.domain.survey import DATA_MIN_SHARE
from app.domain.taxonomy import Taxonomy
from app.services import surveys as survey_service
from app.services import taxonomies as taxonomy_service
from app.services._mapping_core import current_version, get_mapping, version_edges
from app.services.teacher_quality import survey_teacher

MAX_LIMIT = 20


@dataclass(frozen=True, slots=True)
class EvidenceSource:
    """One approved mapping version used as evidence."""

    mapping_id: int
    mapping_name: str
    version_number: int
    source_taxonomy_id: int
    source_taxonomy_name: str


@dataclass(frozen=True, slots=True)
class SuggestionReport:
    """Suggestions per source label (in source-taxonomy order) and where their evidence came from.

    ``current``: the mapping's current edges (``None`` for a taxonomy pair without a mapping);
    ``version_number``: the current version those edges belong to.
    """

    source: Taxonomy
    source_taxonomy_id: int
    target: Taxonomy
    target_taxonomy_id: int
    evidence: tuple[EvidenceSource, ...]
    labels: dict[str, tuple[Suggestion, ...]]
    current: OntologyMapping | None = None
    version_number: int | None = None
    rejected: frozenset[Edge] = frozenset()  # rejected edges still listed (``include_rejected``)

    def draft(self, *, min_score: float = 0.3) -> OntologyMapping:
        """A complete first version: each label's best suggestion (void when none is good enough)."""
        return draft_mapping(self.labels, min_score=min_score)


@lru_cache(maxsize=1)
def _default_table() -> SynonymTable:
    return default_synonyms()


def _check_params(limit: int, min_score: float) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}, got {limit}", field="limit")
    if not 0.0 <= min_score <= 1.0:
        raise InvalidInput(f"min_score must be 0..1, got {min_score}", field="min_score")


def _check_data_min_share(data_min_share: float) -> None:
    """InvalidInput naming ``data_min_share`` unless it is a share 0..1."""
    if not 0.0 <= data_min_share <= 1.0:
        raise InvalidInput(f"data_min_share must be 0..1, got {data_min_share}", field="data_min_share")


def _evidence(
    session: Session, *, source_taxonomy_id: int, target_taxonomy_id: int
) -> list[tuple[EvidenceSource, ApprovedMapping]]:
    out = []
    rows = suggestion_repo.latest_approved_versions(
        session, target_taxonomy_id=target_taxonomy_id, exclude_source_taxonomy_id=source_taxonomy_id
    )
    for mapping, version in rows:
        source = taxonomy_service.get_taxonomy(session, mapping.source_taxonomy_id)
        names = tuple(lb.name for lb in repo.list_labels(session, source.id))
        label = f"{mapping.name} v{version.number}"
        out.append(
            (
                EvidenceSource(mapping.id, mapping.name, version.number, source.id, source.name),
                ApprovedMapping(label, names, version_edges(version)),
            )
        )
    return out


def suggest_for_taxonomies(
    session: Session,
    *,
    source_taxonomy_id: int,
    target_taxonomy_id: int,
    limit: int = 3,
    min_score: float = 0.0,
    label: str | None = None,
    synonyms: SynonymTable | None = None,
    skip: frozenset[Edge] = frozenset(),
    extra: Mapping[str, Mapping[int, Sequence[Evidence]]] | None = None,
) -> SuggestionReport:
    """Suggestions for every label of a source taxonomy (or only ``label``) toward a target class list.

    ``skip``: edges never to suggest (still ``limit`` per label when there are enough others).
    """
    _check_params(limit, min_score)
    source = taxonomy_service.load_taxonomy(session, source_taxonomy_id)
    target = taxonomy_service.load_taxonomy(session, target_taxonomy_id)
    if not target.is_class_list():
        raise InvalidInput(
            f"target taxonomy {target.name!r} must have class ids 0..N-1", field="target_taxonomy_id"
        )
    names = tuple(dict.fromkeys(source.names))
    if label is not None:
        if label not in names:
            raise InvalidInput(f"source taxonomy {source.name!r} has no label {label!r}", field="label")
        names = (label,)
    found = _evidence(session, source_taxonomy_id=source_taxonomy_id, target_taxonomy_id=target_taxonomy_id)
    ctx = SuggestionContext(target.class_list(), tuple(a for _, a in found), synonyms or _default_table())
    skipped_per_label = max((sum(1 for n, _ in skip if n == name) for name in names), default=0)
    ranked = suggest_mapping(names, ctx, limit=limit + skipped_per_label, extra=extra)
    labels = {
        n: tuple(s for s in r if s.score >= min_score and (n, s.target) not in skip)[:limit]
        for n, r in ranked.items()
    }
    return SuggestionReport(
        source, source_taxonomy_id, target, target_taxonomy_id, tuple(e for e, _ in found), labels
    )


def suggest_for_mapping(
    session: Session,
    mapping_id: int,
    *,
    limit: int = 3,
    min_score: float = 0.0,
    label: str | None = None,
    synonyms: SynonymTable | None = None,
    include_rejected: bool = False,
    survey_job_id: int | None = None,
    data_min_share: float = DATA_MIN_SHARE,
) -> SuggestionReport:
    """Suggestions for a mapping's source labels, with its current edges to compare against.

    Suggestions rejected for this mapping are left out, or listed (and named in ``rejected``) with
    ``include_rejected``. ``survey_job_id``: a succeeded survey of a dataset of the mapping's source
    taxonomy by a teacher of its target adds data evidence (:mod:`app.services.surveys`) for each
    target that gets ``data_min_share`` (0..1) or more of a label's pixels.
    """
    _check_data_min_share(data_min_share)
    mapping = get_mapping(session, mapping_id)
    extra = None
    if survey_job_id is not None:
        survey = survey_service.survey_for_mapping(session, mapping_id, survey_job_id)
        teacher = survey_teacher(session, survey).quality
        extra = survey_service.data_extra(
            survey, tuple(survey.stats.labels), min_share=data_min_share, teacher=teacher
        )
    head = current_version(session, mapping_id)
    rejected = frozenset(suggestion_repo.rejected_edges(session, mapping_id))
    report = suggest_for_taxonomies(
        session,
        source_taxonomy_id=mapping.source_taxonomy_id,
        target_taxonomy_id=mapping.target_taxonomy_id,
        limit=limit,
        min_score=min_score,
        label=label,
        synonyms=synonyms,
        skip=frozenset() if include_rejected else rejected,
        extra=extra,
    )
    return SuggestionReport(
        report.source,
        report.source_taxonomy_id,
        report.target,
        report.target_taxonomy_id,
        report.evidence,
        report.labels,
        version_edges(head),
        head.number,
        rejected if include_rejected else frozenset(),
    )


def parse_key(key: str) -> Edge:
    """``'<target id>:<source name>'`` -> (source name, target id); InvalidInput naming ``key``."""
    target, sep, name = key.partition(":")
    if not sep or not name or not target.isdigit() or not 0 <= int(target) <= VOID:
        raise InvalidInput(
            f"a suggestion key is '<target id 0..255>:<source label name>', got {key!r}", field="key"
        )
    return name, int(target)


def _checked_edge(session: Session, mapping_id: int, key: str) -> Edge:
    mapping = get_mapping(session, mapping_id)
    name, target = parse_key(key)
    if target != VOID and target not in repo.label_values(session, mapping.target_taxonomy_id):
        raise InvalidInput(f"the target taxonomy has no class {target}", field="key")
    if not repo.has_label_name(session, mapping.source_taxonomy_id, name):
        raise InvalidInput(f"the source taxonomy has no label {name!r}", field="key")
    return name, target


def reject_suggestion(
    session: Session, mapping_id: int, *, key: str, author: User | None = None
) -> tuple[SuggestionRejection, bool]:
    """Remember a rejected suggestion for this mapping; ``created`` is False when it already was."""
    name, target = _checked_edge(session, mapping_id, key)
    return suggestion_repo.add_rejection(session, mapping_id, name, target, author.id if author else None)


def unreject_suggestion(session: Session, mapping_id: int, *, key: str) -> None:
    """Forget a rejection: the edge may be suggested again."""
    get_mapping(session, mapping_id)
    name, target = parse_key(key)
    if not suggestion_repo.delete_rejection(session, mapping_id, name, target):
        raise NotFound(f"suggestion {key!r} is not rejected for mapping {mapping_id}", field="key")
