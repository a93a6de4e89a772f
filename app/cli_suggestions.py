"""``unilabel mapping suggest``: a draft mapping from evidence, with its evidence report (outer layer).

Evidence: the label names (normalised, with the curated synonym table), the other approved
mappings in the database to the same target and, with ``--survey JOB``, a succeeded survey job's
data (its dataset must be in ``--source``, its teacher predict ``--target``; ``--data-min-share``, default
0.05: a target is evidence when it gets at least that share of a label's pixels). The command writes
two files into ``--out-dir``: ``master_labels_<target>.csv`` (the draft, in the paper's format:
each label's best suggestion when it scores ``--min-score`` or more, else void; every label is listed) and
``master_labels_<target>.evidence.md`` (every label's suggestions with their evidence in words and
numbers). Existing files are kept unless ``--force``. Nothing is stored: import the
CSV with ``unilabel mapping import`` after reading the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.domain.errors import DomainError
from app.domain.mapping import VOID, OntologyMapping
from app.domain.names import SynonymTable, parse_synonyms
from app.domain.reference_csv import format_master_labels_csv
from app.domain.survey import DATA_MIN_SHARE
from app.services import suggestions as suggestion_service
from app.services import surveys as survey_service
from app.services.suggestions import SuggestionReport
from app.services.teacher_quality import survey_teacher


def _fmt_score(score: float) -> str:
    """Two decimals; a score under 0.01 (a thin target's data evidence) keeps its first digit."""
    return f"{score:.2f}" if score == 0 or score >= 0.0095 else f"{score:.1g}"


def format_evidence_report(report: SuggestionReport, draft: OntologyMapping, *, min_score: float) -> str:
    """The evidence report as Markdown: sources of evidence, then each label's suggestions."""
    lines = [
        f"# Suggested mapping: `{report.source.name}` -> `{report.target.name}`",
        "",
        f"Draft rule: each label's best suggestion when its score is at least {min_score:.2f}, "
        "otherwise void. Names are weak evidence; agreeing approved mappings count more.",
        "",
        f"## Evidence: {len(report.evidence)} approved mapping(s) to `{report.target.name}`",
        "",
    ]
    if not report.evidence:
        lines.append("- none: suggestions come from names only")
    lines += [
        f"- `{e.mapping_name}` v{e.version_number} (source taxonomy `{e.source_taxonomy_name}`)"
        for e in report.evidence
    ]
    mapped = sum(1 for n in report.labels if draft.targets_of(n) != (VOID,))
    lines += ["", f"## Labels: {mapped} of {len(report.labels)} mapped to a class in the draft", ""]
    target_names = dict(report.target.class_list())
    for name, ranked in report.labels.items():
        chosen = ", ".join(f"`{target_names[t]}`" if t != VOID else "void" for t in draft.targets_of(name))
        lines += [f"### `{name}` -> {chosen}", ""]
        if not ranked:
            lines += ["- no evidence", ""]
            continue
        for s in ranked:
            where = "void" if s.target == VOID else f"`{s.target_name}` ({s.target})"
            lines.append(f"- {where}: score {_fmt_score(s.score)}")
            for e in s.evidence:
                lines.append(f"  - {e.kind}, {_fmt_score(e.strength)}: {e.message}")
                lines += [f"    - {ref}" for ref in e.refs]
        lines.append("")
    return "\n".join(lines)


def _read_synonyms(path: Path | None) -> SynonymTable | None:
    if path is None:
        return None
    try:
        return parse_synonyms(path.read_text(encoding="utf-8"))
    except OSError as exc:
        typer.secho(f"error: cannot read {path}: {exc.strerror}", err=True, fg="red")
        raise typer.Exit(1) from None
    except DomainError as exc:
        typer.secho(f"error: {path}: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


def _safe_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._") or "target"


def mapping_suggest(
    target: Annotated[str, typer.Option("--target", help="target taxonomy (id or name)")],
    source: Annotated[str, typer.Option("--source", help="source taxonomy (id or name)")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="folder for the CSV and the report")] = Path(),
    min_score: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="weaker best suggestions leave the label void")
    ] = 0.3,
    limit: Annotated[
        int, typer.Option(min=1, max=suggestion_service.MAX_LIMIT, help="suggestions per label in the report")
    ] = 3,
    synonyms: Annotated[
        Path | None, typer.Option(help="synonym table (TOML) instead of the shipped one")
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite existing files")] = False,
    survey: Annotated[
        int | None,
        typer.Option("--survey", min=1, help="succeeded survey job: adds data evidence (its counts)"),
    ] = None,
    data_min_share: Annotated[
        float,
        typer.Option(
            "--data-min-share",
            min=0.0,
            max=1.0,
            help="with --survey: a target is evidence when it gets at least this share of a label's pixels",
        ),
    ] = DATA_MIN_SHARE,
) -> None:
    """Draft a mapping from names and other approved mappings (and a survey's data, with --survey);
    write it with an evidence report."""
    from app.cli_common import _settings, _taxonomy, _unit_of_work

    table = _read_synonyms(synonyms)
    with _unit_of_work(_settings()) as session:
        source_row = _taxonomy(session, source)
        target_row = _taxonomy(session, target)
        extra = None
        if survey is not None:
            surveyed = survey_service.load_survey(session, survey)
            if (surveyed.source_taxonomy_id, surveyed.target_taxonomy_id) != (source_row.id, target_row.id):
                typer.secho(
                    f"error: survey job {survey} surveyed taxonomy {surveyed.source_taxonomy_id} with a "
                    f"teacher of taxonomy {surveyed.target_taxonomy_id}; --source is {source_row.id}, "
                    f"--target {target_row.id}",
                    err=True,
                    fg="red",
                )
                raise typer.Exit(1)
            labels = tuple(surveyed.stats.labels)
            teacher = survey_teacher(session, surveyed).quality
            extra = survey_service.data_extra(surveyed, labels, min_share=data_min_share, teacher=teacher)
        report = suggestion_service.suggest_for_taxonomies(
            session,
            source_taxonomy_id=source_row.id,
            target_taxonomy_id=target_row.id,
            limit=limit,
            synonyms=table,
            extra=extra,
        )
    draft = report.draft(min_score=min_score)
    stem = f"master_labels_{_safe_stem(report.target.name)}"
    csv_path, report_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.evidence.md"
    existing = [str(p) for p in (csv_path, report_path) if p.exists()]
    if existing and not force:
        typer.secho(f"error: {', '.join(existing)} exist(s); pass --force to overwrite", err=True, fg="red")
        raise typer.Exit(1)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path.write_text(format_master_labels_csv(report.target, draft, report.source), encoding="utf-8")
        report_path.write_text(format_evidence_report(report, draft, min_score=min_score), encoding="utf-8")
    except OSError as exc:
        typer.secho(f"error: cannot write to {out_dir}: {exc.strerror}", err=True, fg="red")
        raise typer.Exit(1) from None
    mapped = sum(1 for n in report.labels if draft.targets_of(n) != (VOID,))
    typer.echo(
        f"{mapped} of {len(report.labels)} labels mapped from {len(report.evidence)} approved mapping(s) "
        f"and names; wrote {csv_path} and {report_path}"
    )


def register(mapping_app: typer.Typer) -> None:
    """Add ``suggest`` to the ``mapping`` command group."""
    mapping_app.command("suggest")(mapping_suggest)
