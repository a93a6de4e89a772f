"""``unilabel mapping audit``: a mapping version checked against a data survey (outer layer).

Prints the surveying teacher's evaluation (``app.services.teacher_quality``; a warning when it is
weak or missing), then each finding (an edge the data contradicts, an unused edge, a void-only label
the teacher predicts confidently as one class) with its proposed change, evidence and caveats
(classes the teacher is weak on: :mod:`app.domain.teacher_trust`), or ``--json``. Exit code 1 when
there are findings, so a script can gate on a clean audit. The thresholds are those of
:class:`app.domain.audit.AuditThresholds`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.domain.audit import MAX_CONTRAST, AuditThresholds
from app.domain.mapping import VOID
from app.domain.teacher_trust import caveats
from app.services import surveys as survey_service
from app.services.surveys import MappingAudit
from app.services.teacher_quality import SurveyTeacher, survey_teacher

DEFAULTS = AuditThresholds()


def _names(targets: tuple[int, ...], names: dict[int, str]) -> str:
    return ", ".join("void" if t == VOID else names.get(t, str(t)) for t in targets) or "-"


def format_audit(result: MappingAudit, teacher: SurveyTeacher) -> str:
    survey = result.survey
    lines = [
        f"mapping {result.mapping_id} v{result.version_number} against survey job {survey.job_id}: "
        f"{survey.stats.images} images, {len(result.report.checked)} labels checked, "
        f"{len(result.report.unseen)} with too few pixels",
        ("" if teacher.level == "ok" else "warning: ") + teacher.summary,
    ]
    for f in result.report.findings:
        lines.append(
            f"- {f.kind} `{f.source_name}`: {_names(f.current, result.target_names)} -> "
            f"{_names(f.proposed, result.target_names)}"
        )
        lines.append(f"    {f.message}")
        lines.extend(f"    caveat: {c}" for c in caveats(teacher.quality, f, result.target_names))
    if not result.report.findings:
        lines.append("no findings")
    return "\n".join(lines)


def mapping_audit(
    mapping: Annotated[str, typer.Argument(help="id or name")],
    survey: Annotated[int, typer.Option("--survey", min=1, help="id of a succeeded survey job")],
    version: Annotated[int | None, typer.Option(help="Version number (default: current)")] = None,
    min_pixels: Annotated[
        int, typer.Option(min=0, help="fewer surveyed pixels: no verdict")
    ] = DEFAULTS.min_pixels,
    contradicted_max: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULTS.contradicted_max,
    dominant_min: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULTS.dominant_min,
    propose_min: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULTS.propose_min,
    unused_max: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULTS.unused_max,
    void_confident_min: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULTS.void_confident_min,
    unused_contrast: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_CONTRAST,
            help="a thin allowed target predicted this many times as often here as on the other labels "
            "(and on at least the suggestions' data floor) is not unused; 0: off",
        ),
    ] = DEFAULTS.unused_contrast,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON")] = False,
) -> None:
    """Audit a mapping against a data survey; exit code 1 when there are findings."""
    from app.cli_common import _mapping, _settings, _unit_of_work

    thresholds = AuditThresholds(
        min_pixels,
        contradicted_max,
        dominant_min,
        propose_min,
        unused_max,
        void_confident_min,
        unused_contrast,
    )
    with _unit_of_work(_settings()) as session:
        row = _mapping(session, mapping)
        result = survey_service.audit(
            session, row.id, survey_job_id=survey, version=version, thresholds=thresholds
        )
        teacher = survey_teacher(session, result.survey, result.target_names)
    if as_json:
        findings = [
            {
                "kind": str(f.kind),
                "source_name": f.source_name,
                "current": list(f.current),
                "proposed": list(f.proposed),
                "message": f.message,
                "facts": dict(f.facts),
                "caveats": list(caveats(teacher.quality, f, result.target_names)),
            }
            for f in result.report.findings
        ]
        body = {
            "version": result.version_number,
            "teacher": teacher.read(result.target_names),  # the API's fields
            "findings": findings,
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        typer.echo(format_audit(result, teacher))
    if result.report.findings:
        raise typer.Exit(1)


def register(mapping_app: typer.Typer) -> None:
    """Add ``audit`` to the ``mapping`` command group."""
    mapping_app.command("audit")(mapping_audit)
