"""View model of the mapping editor (web layer): rows, matrix cells and findings of one version.

Built from services only; templates read these plain dataclasses and never touch ORM rows' lazy
attributes. One source row per label of the source taxonomy, and only those: a name the taxonomy
lacks (a typo in an imported CSV, or an edge stored before edits were checked) is never a row. It
is an ``unknown_source_name`` finding of the validation panel, with its suggestion applied in one
click (``app.web.pages.mapping_fixes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.domain.errors import DomainError
from app.domain.mapping import VOID, OntologyMapping
from app.domain.suggestions import Suggestion
from app.domain.survey import DATA_MIN_SHARE
from app.domain.taxonomy import Taxonomy
from app.domain.validation import ValidationReport, validate_mapping
from app.services import audit_edits
from app.services import mappings as mapping_service
from app.services import suggestions as suggestion_service
from app.web.pages import _taxonomy_cache

FILTERS: tuple[tuple[str, str], ...] = (
    ("all", "All"),
    ("unmapped", "Unmapped"),
    ("void_only", "Void only"),
    ("ambiguous", "Ambiguous"),
    ("issues", "With findings"),
)
VIEWS: tuple[str, ...] = ("rows", "matrix")
SUGGESTIONS_PER_ROW = 3
# Defaults of the rows view's bulk suggestion actions (the suggestion bar's inputs; docs/ui.md).
# Scores of app.domain.suggestions: an identical name alone is 0.5 (NAME_SAME), a synonym 0.4, a
# broader term 0.3, one agreeing other mapping 0.6. "Accept all" takes an identical name or better,
# not a synonym alone; a draft takes a label's best suggestion from a broader-term match up, else void
# (the default of `unilabel mapping suggest --min-score` and of draft_mapping).
DEFAULT_ACCEPT_MIN = 0.5
DEFAULT_DRAFT_MIN = 0.3


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source label as the editor shows it."""

    key: str  # stable DOM key: the label's position in the source taxonomy
    name: str
    value: int
    color: str | None
    targets: tuple[int, ...]
    state: str  # mapped | unmapped | void_only | ambiguous
    finding_count: int
    # (unknown name, finding key, its targets) of each name that the suggestion of an
    # ``unknown_source_name`` finding says means this label: the row offers the panel's one-click fix
    typos: tuple[tuple[str, str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class TargetClass:
    id: int
    name: str
    color: str | None


@dataclass(slots=True)
class EditorModel:
    mapping: MappingRow
    head: VersionRow
    source: Taxonomy
    target: Taxonomy
    edges: OntologyMapping
    report: ValidationReport
    rows: list[SourceRow]
    targets: list[TargetClass]  # target classes in order, void last
    can_edit: bool
    view: str = "rows"
    # suggested edges per source label, best first, rejected ones left out (rows view only)
    suggestions: dict[str, tuple[Suggestion, ...]] = field(default_factory=dict)
    # the survey of the ghost chips' data evidence (chosen, or the latest compatible one); every edit
    # carries it back (``#editor-state``) so its answer's chips come from the same survey
    survey_job_id: int | None = None
    # the survey's data evidence floor (a target's share of a label's pixels), carried with it
    data_min_share: float = DATA_MIN_SHARE

    accept_min: float = DEFAULT_ACCEPT_MIN  # the suggestion bar's defaults
    draft_min: float = DEFAULT_DRAFT_MIN

    def ghosts(self, row: SourceRow) -> tuple[Suggestion, ...]:
        """The row's suggested edges it does not have yet: its ghost chips."""
        return tuple(s for s in self.suggestions.get(row.name, ()) if s.target not in row.targets)

    def all_ghosts(self, min_score: float = 0.0) -> list[Suggestion]:
        """Every ghost chip scoring ``min_score`` or more, in row order."""
        return [s for row in self.rows for s in self.ghosts(row) if s.score >= min_score]

    @property
    def data_min_share_changed(self) -> bool:
        """Whether the data evidence floor differs from the default (then the page carries it)."""
        return self.data_min_share != DATA_MIN_SHARE

    @property
    def target_names(self) -> dict[int, str]:
        return {t.id: t.name for t in self.targets}

    @property
    def target_colors(self) -> dict[int, str | None]:
        return {t.id: t.color for t in self.targets}

    @property
    def row_keys(self) -> dict[str, str]:
        return {r.name: r.key for r in self.rows}

    def row_by_name(self, name: str) -> SourceRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def targets_json(self) -> list[dict[str, Any]]:
        return [
            {"id": t.id, "name": t.name, "color": t.color, "order": i} for i, t in enumerate(self.targets)
        ]

    @property
    def counts(self) -> dict[str, int]:
        out = {key: 0 for key, _ in FILTERS}
        for row in self.rows:
            out["all"] += 1
            if row.state in out:
                out[row.state] += 1
            if row.finding_count:
                out["issues"] += 1
        return out


def row_state(targets: tuple[int, ...]) -> str:
    if not targets:
        return "unmapped"
    if targets == (VOID,):
        return "void_only"
    if len(targets) > 1:
        return "ambiguous"
    return "mapped"


def build_rows(edges: OntologyMapping, source: Taxonomy, report: ValidationReport) -> list[SourceRow]:
    """One row per source label, in taxonomy order (names the taxonomy lacks are findings only)."""
    per_source: dict[str, int] = {}
    for f in report.findings:
        if f.source_name is not None and f.severity != "info":
            per_source[f.source_name] = per_source.get(f.source_name, 0) + 1
    typos: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {}
    for f in report.by_code("unknown_source_name"):
        given = tuple(sorted(set(f.targets) | set(edges.targets_of(f.source_name or ""))))
        for name in f.fix:
            typos.setdefault(name, []).append((f.source_name or "", f.key, given))
    rows = [
        SourceRow(
            key=str(i),
            name=lb.name,
            value=lb.value,
            color=lb.color,
            targets=edges.targets_of(lb.name),
            state=row_state(edges.targets_of(lb.name)),
            finding_count=per_source.get(lb.name, 0),
            typos=tuple(typos.get(lb.name, ())),
        )
        for i, lb in enumerate(source.labels)
    ]
    return rows


def build_targets(target: Taxonomy) -> list[TargetClass]:
    classes = [TargetClass(lb.value, lb.name, lb.color) for lb in target.labels]
    return classes + [TargetClass(VOID, "void", "#596273")]


def filter_rows(rows: list[SourceRow], *, filter_key: str = "all", query: str = "") -> list[SourceRow]:
    """Rows matching a filter (see FILTERS) and a case-insensitive search on the name."""
    q = query.strip().casefold()
    out = []
    for row in rows:
        if filter_key == "issues":
            if not row.finding_count:
                continue
        elif filter_key != "all" and row.state != filter_key:
            continue
        if q and q not in row.name.casefold() and q != str(row.value):
            continue
        out.append(row)
    return out


def default_survey(session: Session, mapping_id: int) -> int | None:
    """The latest compatible succeeded survey (the Audit section's default), or None."""
    latest = audit_edits.compatible_surveys(session, mapping_id)[:1]
    return latest[0].job_id if latest else None


def load_suggestions(
    session: Session,
    mapping_id: int,
    survey_job_id: int | None = None,
    data_min_share: float = DATA_MIN_SHARE,
) -> dict[str, tuple[Suggestion, ...]]:
    """The mapping's suggestions per label (none when they cannot be made, e.g. a target that is
    not a class list 0..N-1: the editor works without them). Data evidence comes from survey
    ``survey_job_id`` (None: names and other mappings only), from targets with ``data_min_share`` or
    more of a label's pixels; a survey that does not fit leaves the names and other mappings as
    evidence."""
    for survey in dict.fromkeys((survey_job_id, None)):
        try:
            return suggestion_service.suggest_for_mapping(
                session,
                mapping_id,
                limit=SUGGESTIONS_PER_ROW,
                survey_job_id=survey,
                data_min_share=data_min_share,
            ).labels
        except DomainError:
            continue
    return {}


def load_editor(
    session: Session,
    mapping_id: int,
    *,
    can_edit: bool,
    view: str = "rows",
    version: VersionRow | None = None,
    survey_job_id: int | None = None,
    data_min_share: float = DATA_MIN_SHARE,
) -> EditorModel:
    """Everything the editor shows for the head (or a given version) of one mapping; the rows view
    also gets the suggested edges (ghost chips), with data evidence from ``survey_job_id`` (default:
    the latest compatible survey) at the floor ``data_min_share``."""
    mapping = mapping_service.get_mapping(session, mapping_id)
    head = version or mapping_service.current_version(session, mapping_id)
    source = _taxonomy_cache.load_taxonomy(session, mapping.source_taxonomy_id)
    target = _taxonomy_cache.load_taxonomy(session, mapping.target_taxonomy_id)
    edges = mapping_service.version_edges(head)
    rows_view = view != "matrix"
    if survey_job_id is None and rows_view:
        survey_job_id = default_survey(session, mapping_id)
    # same findings as mapping_service.validation_report, without loading the taxonomies twice
    report = validate_mapping(edges, source, target, extra_findings=mapping_service.import_findings(head))
    return EditorModel(
        mapping=mapping,
        head=head,
        source=source,
        target=target,
        edges=edges,
        report=report,
        rows=build_rows(edges, source, report),
        targets=build_targets(target),
        can_edit=can_edit,
        view=view if view in VIEWS else "rows",
        suggestions=load_suggestions(session, mapping_id, survey_job_id, data_min_share) if rows_view else {},
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
