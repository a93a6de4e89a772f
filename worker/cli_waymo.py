"""``unilabel unpack-waymo``: a Waymo Open Dataset v2 release into files the ``waymo`` preset registers.

See :mod:`worker.waymo_unpack`; the printed next steps are the two commands that register the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.domain.errors import DomainError


def unpack_waymo_command(
    root: Annotated[Path, typer.Option(help="The v2 release: <split>/camera_segmentation/*.parquet, ...")],
    out: Annotated[Path, typer.Option(help="Where images, label-id PNGs and labels.csv are written")],
    split: Annotated[
        list[str] | None, typer.Option(help="training | validation | testing (repeat; default: all found)")
    ] = None,
) -> None:
    """Unpack the labelled camera images of a Waymo v2 release (JPEGs as stored, class-id PNGs)."""
    from worker.waymo_unpack import unpack

    try:
        report = unpack(root, out, splits=split)
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        raise typer.Exit(1) from None
    per_split = ", ".join(f"{s} {n}" for s, n in report.splits.items()) or "none"
    typer.echo(
        f"unpacked {report.segments} run segments into {out}: {report.written} written, "
        f"{report.kept} already there, {report.failed} failed (pairs per split: {per_split})"
    )
    for p in report.problems:
        typer.echo(f"  {p['file']}: {p['problem']}")
    typer.echo("next:")
    typer.echo(f"  unilabel taxonomy import {out / 'labels.csv'} --name waymo")
    typer.echo(f"  unilabel dataset add --preset waymo --root {out} --taxonomy waymo")
    if report.failed:
        raise typer.Exit(1)
