"""``unilabel taxonomy`` and ``unilabel mapping`` commands (outer layer): import, export, validate, list.

The authors' files import as they are (``labels.csv``, ``master_labels_*.csv``); target taxonomies
are reused or created explicitly, never silently renamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli_common import _mapping, _read_file, _settings, _taxonomy, _unit_of_work, _write
from app.domain.class_lists import TargetClassesDiffer
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services import taxonomy_files
from app.services.mapping_files import target_name_from_filename, target_outcome

taxonomy_app = typer.Typer(help="Taxonomies (label sets).", no_args_is_help=True)
mapping_app = typer.Typer(help="Ontology mappings.", no_args_is_help=True)


# --- taxonomies -----------------------------------------------------------------------------------


@taxonomy_app.command("import")
def taxonomy_import(
    path: Path,
    name: Annotated[
        str | None, typer.Option(help="Default: the dataset folder (DATASET/[lists/]labels.csv) or the stem")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    format: Annotated[str | None, typer.Option(help="labels_csv or json (default: by extension)")] = None,
) -> None:
    """Import a labels.csv or JSON taxonomy file."""
    settings = _settings()
    text = _read_file(path, settings)
    fmt = format or ("json" if path.suffix.lower() == ".json" else "labels_csv")
    default = default_taxonomy_name(path)
    with _unit_of_work(settings) as session:
        row, findings = taxonomy_files.import_taxonomy_report(
            session, text=text, fmt=fmt, name=name or (default if fmt == "labels_csv" else None),
            description=description,
        )  # fmt: skip
        typer.echo(f"imported taxonomy {row.id} {row.name!r} ({row.label_count} labels)")
        for f in findings:
            typer.echo(f"  {f.severity:7} {f.code:20} {f.message}")


def default_taxonomy_name(path: Path) -> str:
    """``.../DATASET/lists/labels.csv`` and ``.../DATASET/labels.csv`` -> ``DATASET``; else the stem.

    The authors keep each dataset's files in ``DATASET/lists/``; ``labels_old.csv`` -> ``DATASET_old``.
    """
    folder = path.resolve().parent
    if folder.name == "lists" and folder.parent.name:
        folder = folder.parent
    if path.stem == "labels":
        return folder.name or path.stem
    if path.stem.startswith("labels_") and folder.name:
        return f"{folder.name}_{path.stem.removeprefix('labels_')}"
    return path.stem


@taxonomy_app.command("export")
def taxonomy_export(
    taxonomy: Annotated[str, typer.Argument(help="id or name")],
    format: Annotated[str, typer.Option(help="labels_csv or json")] = "labels_csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Export a taxonomy as labels.csv or JSON."""
    with _unit_of_work(_settings()) as session:
        text = taxonomy_files.export_taxonomy(session, _taxonomy(session, taxonomy).id, fmt=format)
    _write(text, output)


@taxonomy_app.command("list")
def taxonomy_list() -> None:
    """List taxonomies."""
    with _unit_of_work(_settings()) as session:
        rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
        for r in rows:
            typer.echo(f"{r.id}\t{r.name}\t{r.label_count} labels")


# --- mappings -------------------------------------------------------------------------------------


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    counts = report.to_dict()["counts"]
    typer.echo(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)")
    for f in report.findings:
        hint = f" ({f.suggestion})" if f.suggestion else ""
        typer.echo(f"  {f.severity:7} {f.code:20} {f.message}{hint}")


@mapping_app.command("import")
def mapping_import(
    path: Path,
    source: Annotated[str | None, typer.Option(help="Source taxonomy id or name (new mapping)")] = None,
    into: Annotated[str | None, typer.Option(help="Existing mapping id or name (new version)")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new mapping")] = None,
    target_name: Annotated[
        str | None,
        typer.Option(help="Target taxonomy name (default: from master_labels_NAME.csv); refused if taken"),
    ] = None,
    message: Annotated[str | None, typer.Option()] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Use this existing target taxonomy (id or name); its class names replace the file's"
        ),
    ] = None,
    new_target: Annotated[
        bool, typer.Option("--new-target", help="Create a new target taxonomy even if a stored one is close")
    ] = False,
) -> None:
    """Import a master_labels CSV as a new mapping (--source) or a new version (--into)."""
    settings = _settings()
    if (source is None) == (into is None):
        typer.secho("error: give exactly one of --source or --into", err=True, fg="red")
        raise typer.Exit(2)
    text = _read_file(path, settings)
    with _unit_of_work(settings) as session, _target_choice_hint():
        result = mapping_service.import_master_labels(
            session,
            text=text,
            source_taxonomy_id=_taxonomy(session, source).id if source else None,
            mapping_id=_mapping(session, into).id if into else None,
            name=name,
            target_name=target_name or target_name_from_filename(path.name),
            message=message,
            target_name_exact=target_name is not None,
            target_taxonomy_id=_taxonomy(session, target).id if target else None,
            create_target=new_target,
        )
        made = "created" if result.mapping_created else "updated"
        typer.echo(
            f"{made} mapping {result.mapping.id} {result.mapping.name!r}, version {result.version.number} "
            f"(target {result.target_taxonomy.name!r}{', new' if result.target_created else ''})"
        )
        _print_target_outcome(result)
        _print_report(result.report, as_json=False)


@mapping_app.command("authors-pseudo-labels")
def mapping_authors_pseudo_labels(
    taxonomy: Annotated[str, typer.Argument(help="Target taxonomy id or name (class list 0..N-1)")],
) -> None:
    """Create the identity mapping to train on the authors' pseudo-labels (void stored as N)."""
    with _unit_of_work(_settings()) as session:
        row = _taxonomy(session, taxonomy)
        mapping, created = mapping_service.authors_pseudo_label_mapping(session, taxonomy_id=row.id)
        n = row.label_count
        typer.echo(f"{'created' if created else 'reused'} mapping {mapping.id} {mapping.name!r}")
        typer.echo(
            f"register the pseudo-label folder as a dataset labelled in {row.name!r} and train on it with "
            f"this mapping (kind ground_truth): pixel value {n} (the authors' void) and 255 read as ignore"
        )


@contextmanager
def _target_choice_hint() -> Iterator[None]:
    """A refused target typo names the options that answer it."""
    try:
        yield
    except TargetClassesDiffer as exc:
        closest = exc.details["closest_taxonomy"]["name"]
        exc.message += f"; choose with --target {closest!r} or --new-target"
        raise


def _print_target_outcome(result: Any) -> None:
    """Say whether the target taxonomy was reused or created, and under which name (never silently)."""
    outcome = target_outcome(result)
    if outcome is not None:
        typer.echo(outcome)


@mapping_app.command("export")
def mapping_export(
    mapping: Annotated[str, typer.Argument(help="id or name")],
    version: Annotated[int | None, typer.Option(help="Version number (default: current)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Export a mapping version as master_labels CSV."""
    with _unit_of_work(_settings()) as session:
        row = _mapping(session, mapping)
        target = (
            mapping_service.get_version_by_number(session, row.id, version)
            if version is not None
            else mapping_service.current_version(session, row.id)
        )
        text = mapping_service.export_master_labels(session, version_id=target.id)
    _write(text, output)


@mapping_app.command("validate")
def mapping_validate(
    mapping: Annotated[str, typer.Argument(help="id or name")],
    version: Annotated[int | None, typer.Option(help="Version number (default: current)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Print the validation report; exit code 1 when it has errors."""
    with _unit_of_work(_settings()) as session:
        row = _mapping(session, mapping)
        target = (
            mapping_service.get_version_by_number(session, row.id, version)
            if version is not None
            else mapping_service.current_version(session, row.id)
        )
        report = mapping_service.validation_report(session, target.id)
    _print_report(report, as_json)
    if report.errors:
        raise typer.Exit(1)


@mapping_app.command("list")
def mapping_list() -> None:
    """List mappings with their current version."""
    with _unit_of_work(_settings()) as session:
        rows, _ = mapping_service.list_mappings(session, limit=500)
        heads = mapping_service.heads_of(session, rows)
        for r in rows:
            head = heads.get(r.id)
            state = f"v{head.number} {head.status}" if head else "-"
            typer.echo(f"{r.id}\t{r.name}\t{state}")
