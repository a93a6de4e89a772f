"""The mapping audit in the browser (web layer): the editor's "Audit" section and the review page's.

``GET /mappings/{id}/audit-panel`` renders ``mappings/_audit.html`` (root ``section#mapping-audit``):
a select of the compatible succeeded surveys (the latest by default), each finding with its
evidence in words and numbers and its proposed change. Both pages load it after the page
(``hx-trigger="load"``) so a survey file is read only when the section is shown. Without a survey the
section says how to make one; a survey that does not fit (or does not exist) is said in the
section, never a 500.

``POST /mappings/{id}/audit/apply`` (editors, editor context) applies one proposed change as an
ordinary edit (message "audit: …") and answers like a chip edit, with the section refreshed.

Both take the audit's thresholds as query parameters with the API's names, ranges and defaults
(``GET /api/v1/mappings/{id}/audit``; :class:`app.domain.audit.AuditThresholds`): the section's
**Thresholds** form re-runs the audit with them, and its Apply buttons post them back so a finding is
applied as it was shown. A value out of range is a 422 naming the field.

In the editor the survey form also sets the ghost chips' data evidence floor (``data_min_share``, the
suggestions API's option): it reloads the editor with both, and Apply carries it from
``#editor-state`` like every edit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.domain.audit import AuditThresholds
from app.domain.errors import DomainError
from app.domain.mapping import VOID
from app.domain.survey import DATA_MIN_SHARE
from app.domain.teacher_trust import caveats
from app.services import audit_edits
from app.services import mappings as mapping_service
from app.services import surveys as survey_service
from app.services.audit_edits import KIND_WORDS, SurveyChoice, finding_key
from app.services.mappings import StaleVersion
from app.services.teacher_quality import SurveyTeacher, survey_teacher
from app.web.audit_query import DEFAULTS, Thresholds
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep
from app.web.pages._access import can_edit
from app.web.pages._editor_model import load_editor
from app.web.pages._render import Fragments, Toast, fragment, render_text, toast_response
from app.web.pages.mapping_editor import (
    DataShareForm,
    DataShareQuery,
    _changed_parts,
    _common_parts,
    _undo_action,
)

router = APIRouter(include_in_schema=False)
Context = Literal["editor", "review"]
Unit = Literal["share", "pixels", "ratio"]
# (name, words, unit) of each threshold, in the order of the form (app.domain.audit explains each rule)
THRESHOLD_WORDS: tuple[tuple[str, str, Unit], ...] = (
    ("min_pixels", "Fewest surveyed pixels for a verdict", "pixels"),
    ("contradicted_max", "Contradicted: the allowed targets get less than", "share"),
    ("dominant_min", "… and other classes together at least", "share"),
    ("propose_min", "… counting (and proposing) classes with at least", "share"),
    ("unused_max", "Unused: an allowed target gets less than", "share"),
    ("unused_contrast", "… unless predicted this many times as often here as on the other labels", "ratio"),
    ("void_confident_min", "Void-only, predicted confidently: one class with at least", "share"),
)


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    name: str
    words: str
    value: float
    default: float
    unit: Unit


@dataclass(frozen=True, slots=True)
class AuditItem:
    key: str
    kind: str
    kind_words: str
    source_name: str
    message: str
    current: str
    proposed: str
    label_pixels: int
    dominant_share: float | None
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditView:
    mapping_id: int
    context: str
    surveys: list[SurveyChoice]
    chosen: int | None
    version_number: int | None
    can_apply: bool
    error: str = ""
    items: tuple[AuditItem, ...] = ()
    checked: int = 0
    unseen: tuple[str, ...] = ()
    images: int = 0
    thresholds: AuditThresholds = DEFAULTS
    data_min_share: float = DATA_MIN_SHARE  # the editor's ghost chips' data evidence floor
    teacher: SurveyTeacher | None = None

    @property
    def data_min_share_default(self) -> float:
        return DATA_MIN_SHARE

    @property
    def query(self) -> str:
        """The thresholds that differ from the defaults as a query string ('' at the defaults)."""
        t, d = self.thresholds, DEFAULTS
        changed = {f.name: getattr(t, f.name) for f in fields(t) if getattr(t, f.name) != getattr(d, f.name)}
        return urlencode(changed)

    @property
    def threshold_rows(self) -> list[ThresholdRow]:
        return [
            ThresholdRow(n, w, getattr(self.thresholds, n), getattr(DEFAULTS, n), unit)
            for n, w, unit in THRESHOLD_WORDS
        ]


def _names(targets: tuple[int, ...], names: dict[int, str]) -> str:
    return " + ".join(names.get(t, str(t)) for t in targets) or "nothing"


def build_audit_view(
    session: Session,
    mapping_id: int,
    *,
    context: str,
    survey_job_id: int | None,
    version: int | None,
    editor: bool,
    thresholds: AuditThresholds = DEFAULTS,
    data_min_share: float = DATA_MIN_SHARE,
) -> AuditView:
    surveys = audit_edits.compatible_surveys(session, mapping_id)
    head = mapping_service.current_version(session, mapping_id)
    chosen = survey_job_id if survey_job_id is not None else (surveys[0].job_id if surveys else None)
    number = version or head.number
    base = AuditView(
        mapping_id,
        context,
        surveys,
        chosen,
        number,
        False,
        thresholds=thresholds,
        data_min_share=data_min_share,
    )
    if chosen is None:
        return base
    try:
        result = survey_service.audit(
            session, mapping_id, survey_job_id=chosen, version=version, thresholds=thresholds
        )
    except DomainError as exc:
        return AuditView(
            mapping_id,
            context,
            surveys,
            chosen,
            base.version_number,
            False,
            error=exc.message,
            thresholds=thresholds,
            data_min_share=data_min_share,
        )
    names = result.target_names | {VOID: "void"}
    teacher = survey_teacher(session, result.survey, result.target_names)
    items = tuple(
        AuditItem(
            key=finding_key(f),
            kind=str(f.kind),
            kind_words=KIND_WORDS[str(f.kind)],
            source_name=f.source_name,
            message=f.message,
            current=_names(f.current, names),
            proposed=_names(f.proposed, names),
            label_pixels=int(dict(f.facts).get("label_pixels", 0)),
            dominant_share=dict(f.facts).get("dominant_share"),
            caveats=caveats(teacher.quality, f, names),
        )
        for f in result.report.findings
    )
    return AuditView(
        mapping_id,
        context,
        surveys,
        chosen,
        result.version_number,
        editor and context == "editor" and result.version_number == head.number,
        items=items,
        checked=len(result.report.checked),
        unseen=result.report.unseen,
        images=result.survey.stats.images,
        thresholds=thresholds,
        data_min_share=data_min_share,
        teacher=teacher,
    )


def _fresh(
    session: Session, mapping_id: int, survey_job_id: int, thresholds: AuditThresholds, data_min_share: float
) -> AuditView:
    """The editor's section after an Apply (same survey, thresholds and data floor, the new head)."""
    return build_audit_view(
        session,
        mapping_id,
        context="editor",
        survey_job_id=survey_job_id,
        version=None,
        editor=True,
        thresholds=thresholds,
        data_min_share=data_min_share,
    )


def _section(request: Request, view: AuditView, *, oob: bool = False) -> str:
    return render_text(request, "mappings/_audit.html", a=view, oob=oob)


@router.get("/mappings/{mapping_id}/audit-panel", response_class=HTMLResponse)
def audit_panel_fragment(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    mapping_id: int,
    thresholds: Thresholds,
    context: Annotated[Context, Query()] = "editor",
    survey_job_id: Annotated[int | None, Query(ge=1)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    data_min_share: DataShareQuery = DATA_MIN_SHARE,
) -> Response:
    """The audit section for a survey (default: the latest compatible one), a version, thresholds
    (and, in the editor, the ghost chips' data evidence floor, shown with the survey)."""
    view = build_audit_view(
        session,
        mapping_id,
        context=context,
        survey_job_id=survey_job_id,
        version=version,
        editor=can_edit(user),
        thresholds=thresholds,
        data_min_share=data_min_share,
    )
    return fragment(request, _section(request, view))


@router.post("/mappings/{mapping_id}/audit/apply", response_class=HTMLResponse)
def audit_apply_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    finding: Annotated[str, Form(max_length=1_000)],
    survey_job_id: Annotated[int, Form(ge=1)],
    base_version: Annotated[int, Form()],
    thresholds: Thresholds,
    view: Annotated[Literal["rows", "matrix"], Form()] = "rows",
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Apply one proposed change of the audit (found with ``thresholds``): an ordinary edit, swapped
    in like a chip edit."""
    try:
        new = audit_edits.apply_finding(
            session,
            mapping_id,
            survey_job_id=survey_job_id,
            key=finding,
            base_version_id=base_version,
            author=user,
            thresholds=thresholds,
        )
        diff = mapping_service.diff_versions(session, old_version_id=base_version, new_version_id=new.id)
    except StaleVersion:
        session.rollback()
        msg = "Not applied: the mapping was saved in the meantime. Reload the page and try again."
        return toast_response(request, Toast(msg, "warning"), status_code=409)
    except DomainError as exc:
        session.rollback()
        fresh = _fresh(session, mapping_id, survey_job_id, thresholds, data_min_share)
        parts = Fragments()
        parts.parts.append(_section(request, fresh, oob=True))
        parts.toast(request, Toast(exc.message, "error"))
        return fragment(request, parts, status_code=exc.status_code)
    m = load_editor(
        session,
        mapping_id,
        can_edit=True,
        view=view,
        version=new,
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    parts = Fragments()
    _changed_parts(request, m, list(diff.added + diff.removed), parts, fresh=None)
    _common_parts(request, session, m, parts, clear_conflict=True)
    parts.parts.append(
        _section(request, _fresh(session, mapping_id, survey_job_id, thresholds, data_min_share), oob=True)
    )
    toast = Toast(f"{new.message} · saved as version {new.number}", "success", _undo_action(mapping_id))
    return fragment(request, parts.toast(request, toast))
