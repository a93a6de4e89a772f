"""``unilabel dataset presets|add``: register dataset folders from the command line (outer layer).

``unilabel dataset add --preset cityscapes --root /data/cityscapes`` registers a dataset as published
(see ``docs/datasets.md``), scans it in the process and prints what the scan found per split and
what does not fit the preset. Like ``unilabel taxonomy import`` it works on the database directly
(``UNILABEL_DATABASE_URL``), one transaction per command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from app.config import Settings, SettingsError, load_settings
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.domain.errors import DomainError
from app.schemas.datasets import DatasetCreate, ScanReport
from app.schemas.jobs import ConvertLabelsParams
from app.services import dataset_presets as preset_service
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import taxonomies as taxonomy_service
from app.services.limits import use_limits

dataset_app = typer.Typer(help="Dataset folders: presets, registration and scans.", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[tuple[Session, Settings]]:
    """One transaction; a DomainError becomes a one-line message and exit code 1."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from None
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        use_limits(factory, settings.limits)
        with unit_of_work(factory) as session:
            yield session, settings
    except DomainError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@dataset_app.command("presets")
def dataset_presets(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List the dataset presets: layout variants, encoding, the labels.csv each needs."""
    presets = preset_service.list_presets()
    if as_json:
        typer.echo(json.dumps([p.model_dump() for p in presets], indent=2))
        return
    for p in presets:
        flags = "" if p.layout_verified else "  [layout unverified]"
        typer.echo(f"{p.key:24} {p.title}{flags}")
        typer.echo(f"{'':24} labels.csv: {p.labels_csv or '(none: give --taxonomy)'}")
        for v in p.variants:
            how = v.encoding if v.converter is None else preset_service.converter_text(v.converter)
            typer.echo(f"{'':24} {v.key}: {v.image_pattern} -> {v.label_template} [{how}]")
        if not p.variants:
            typer.echo(f"{'':24} (no known layout: give --image-pattern and --label-template)")


def _taxonomy_id(session: Session, ref: str | None) -> int | None:
    if ref is None:
        return None
    row = taxonomy_service.get_taxonomy(session, int(ref)) if ref.isdigit() else None
    return int((row or taxonomy_service.get_taxonomy_by_name(session, ref)).id)


def _print_scan(report: ScanReport) -> None:
    typer.echo(f"  {report.pairs} pairs, {report.problem_count} problems")
    preset = report.preset
    if preset is not None:
        counts = ", ".join(f"{v.variant} {v.pairs}/{v.images}" for v in preset.variants)
        typer.echo(f"  variant {preset.variant} (pairs/images per variant: {counts})")
        for s in preset.splits:
            typer.echo(f"  split {s.split or '(none)'}: {s.images} images, {s.pairs} with labels")
        if preset.missing_splits:
            typer.echo(f"  missing splits: {', '.join(preset.missing_splits)}")
        if preset.other_splits:
            typer.echo(f"  folders not in the preset's splits: {', '.join(preset.other_splits)}")
        for folder, count in preset.unmatched.items():
            typer.echo(f"  not part of the preset: {folder}/ ({count} files)")
        for note in preset.notes:
            typer.echo(f"  note: {note}")
    for p in report.problems[:10]:
        typer.echo(f"  problem: {p.image or p.label}: {p.message}")
    if report.unknown_values:
        typer.echo(f"  label values not in the taxonomy: {report.unknown_values}")
    if report.unknown_colors:
        typer.echo(
            f"  {report.unknown_color_pixels} pixels of colours not in the palette: {report.unknown_colors}"
        )


@dataset_app.command("add")
def dataset_add(
    root: Annotated[Path, typer.Option(help="The dataset folder (inside UNILABEL_ALLOWED_DATA_ROOTS)")],
    preset: Annotated[str | None, typer.Option(help="A preset key (see `unilabel dataset presets`)")] = None,
    name: Annotated[str | None, typer.Option(help="Default: the preset key")] = None,
    taxonomy: Annotated[
        str | None, typer.Option(help="Source taxonomy id or name (default: the preset's)")
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="The preset's layout variant (default: detected)")
    ] = None,
    image_pattern: Annotated[str | None, typer.Option(help="Override: image pattern")] = None,
    label_template: Annotated[str | None, typer.Option(help="Override: label template")] = None,
    encoding: Annotated[str | None, typer.Option(help="Override: ids8 | ids16 | panoptic16 | rgb")] = None,
    split: Annotated[list[str] | None, typer.Option(help="Override: split names (repeat)")] = None,
    any_class: Annotated[
        list[int] | None,
        typer.Option(help="A pixel value allowed any target class, e.g. an ego-vehicle mask (repeat)"),
    ] = None,
    scan: Annotated[bool, typer.Option("--scan/--no-scan", help="Scan the files now")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the dataset as JSON")] = False,
) -> None:
    """Register a dataset folder, from a preset or an explicit pairing rule, and scan it."""
    with _session() as (session, settings):
        try:
            body = DatasetCreate.model_validate(
                {
                    "name": name,
                    "taxonomy_id": _taxonomy_id(session, taxonomy),
                    "root": str(root.absolute()),
                    "preset": preset,
                    "variant": variant,
                    "image_pattern": image_pattern,
                    "label_template": label_template,
                    "label_encoding": encoding,
                    "splits": split,
                    "any_class_values": any_class,
                    "scan": scan,
                }
            )
        except ValueError as exc:
            typer.secho(f"error: {exc}", err=True, fg="red")
            raise typer.Exit(1) from None
        row = dataset_service.register_dataset(session, body=body, settings=settings)
        conversion_id = None
        if row.label_converter:  # native labels: converted (then scanned) by a job
            params = ConvertLabelsParams(dataset_id=row.id)
            conversion_id = job_service.submit_job(session, params=params, settings=settings).id
            scan = False
        report = dataset_service.scan_dataset(session, row.id) if scan else None
        if as_json:
            typer.echo(json.dumps(dataset_service.dataset_payload(row), default=str, indent=2))
            return
        how = f" (preset {row.preset}, variant {row.preset_variant or 'custom'})" if row.preset else ""
        typer.echo(f"registered dataset {row.id} {row.name!r}{how}: {row.root}")
        typer.echo(f"  {row.image_pattern or row.list_file} -> {row.label_template} [{row.label_encoding}]")
        if row.any_class_values_json:
            values = ", ".join(map(str, dataset_service.any_class_values(row)))
            typer.echo(f"  any class allowed on pixel values: {values}")
        if conversion_id is not None:
            typer.echo(
                f"  {row.label_converter} labels: conversion to label-id PNGs queued as job {conversion_id} "
                "(a worker runs it, then scans the dataset)"
            )
        if report is not None:
            _print_scan(report)
