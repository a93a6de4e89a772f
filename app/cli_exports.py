"""``unilabel job export`` and ``unilabel job import-cvat`` (outer layer, issue 14), over the REST API.

``export`` submits an export job of a run (or, with ``--dataset`` and ``--mapping-version``, of
a dataset's ground truth), follows it, and downloads the archive (streamed to
``--out``); ``import-cvat`` uploads a CVAT "Segmentation mask 1.1" zip of corrected masks and prints
the new label-set version (a ``label_import`` job id, usable as a ``pseudo_labels`` training set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from app.cli_jobs import TokenOpt, UrlOpt, _check, _client, _watch

FORMATS = ("cvat", "cityscapes", "hf_imagefolder", "fiftyone")


def _source(
    job_id: int | None, dataset: int | None, mapping_version: int | None
) -> tuple[dict[str, int], str]:
    """The export's source params (a run, or a dataset's ground truth) and how to name it."""
    if job_id is not None:
        if dataset is not None or mapping_version is not None:
            raise typer.BadParameter(
                "give a run's JOB_ID, or --dataset with --mapping-version, not both", param_hint="JOB_ID"
            )
        return {"job_id": job_id}, f"run {job_id}"
    if dataset is None or mapping_version is None:
        raise typer.BadParameter(
            "give a run's JOB_ID, or --dataset and --mapping-version (a ground-truth export)",
            param_hint="--dataset",
        )
    source = {"dataset_id": dataset, "mapping_version_id": mapping_version}
    return source, f"the ground truth of dataset {dataset} (mapping version {mapping_version})"


def job_export(
    job_id: Annotated[
        int | None, typer.Argument(help="the run: a succeeded pseudo_label (or label_import) job")
    ] = None,
    dataset: Annotated[
        int | None, typer.Option("--dataset", help="export this dataset's ground truth instead of a run")
    ] = None,
    mapping_version: Annotated[
        int | None,
        typer.Option("--mapping-version", help="with --dataset: the approved mapping version id to map by"),
    ] = None,
    format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "cvat",
    out: Annotated[Path | None, typer.Option("--out", help="where to save the zip")] = None,
    queue: Annotated[str, typer.Option(help="default | gpu | cpu")] = "default",
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Export a run's labels, or a dataset's ground truth, by the target taxonomy as a zip; waits
    and downloads it."""
    if format not in FORMATS:
        raise typer.BadParameter(f"{format!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    source, what = _source(job_id, dataset, mapping_version)
    params = {"kind": "export", **source, "format": format, "queue": queue}
    with _client(url, token) as client:
        job = _check(client.post("/jobs", json={"params": params}))
        typer.echo(f"submitted export job {job['id']} of {what} ({format})")
        if _watch(client, int(job["id"])) != 0:
            raise typer.Exit(1)
        target = out or Path(f"job-{job['id']}-{format}.zip")
        with client.stream("GET", f"/jobs/{job['id']}/export.zip") as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            with target.open("wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
    typer.echo(f"saved {target}")


def job_import_cvat(
    job_id: Annotated[int, typer.Argument(help="the run the masks were exported from")],
    archive: Annotated[Path, typer.Argument(help="CVAT 'Segmentation mask 1.1' export (zip)")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Import corrected masks as a new label-set version of the run."""
    if not archive.is_file():
        raise typer.BadParameter(f"{archive} is not a file", param_hint="ARCHIVE")
    with _client(url, token) as client, archive.open("rb") as fh:
        client.timeout = httpx.Timeout(600)
        files = {"file": (archive.name, fh, "application/zip")}
        job = _check(client.post(f"/jobs/{job_id}/cvat-import", files=files))
    result = job.get("result") or {}
    typer.echo(
        f"label-set version {result.get('version')} of run {result.get('run_job_id')}: job {job['id']}, "
        f"{result.get('corrected_by_hand')} image(s) corrected by hand; outputs: {job['output_dir']}"
    )
    typer.echo(f'train on it with {{"kind": "pseudo_labels", "job_id": {job["id"]}}}')


def register(job_app: typer.Typer) -> None:
    """Add ``export`` and ``import-cvat`` to the ``job`` command group."""
    job_app.command("export")(job_export)
    job_app.command("import-cvat")(job_import_cvat)
