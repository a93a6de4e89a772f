"""``unilabel experiment ...``: run an experiment spec headless, follow it, read its results.

Like ``unilabel job``, these commands speak the REST API (``--url``/``$UNILABEL_URL``, a Bearer
token in ``--token``/``$UNILABEL_TOKEN``), so the same spec file gives the same runs whether it is
sent from here, from a notebook or from the browser form. The spec format: ``docs/experiments.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from app.cli_jobs import TERMINAL, TokenOpt, UrlOpt, _check, _client

experiment_app = typer.Typer(help="Experiments: one spec, the paper's whole workflow.", no_args_is_help=True)
RUN_TERMINAL = ("succeeded", "failed", "cancelled")
FORMATS = {"csv": "csv", "md": "md", "markdown": "md", "tex": "tex", "latex": "tex", "json": "json"}


def read_spec(path: Path) -> dict[str, Any]:
    """A spec file as data: YAML (``.yaml``/``.yml``) or JSON; a clear error for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: a spec is a mapping (name, teacher, sources, extras, ...)")
    return data


def _line(run: dict[str, Any]) -> str:
    states = ", ".join(f"{s['key']}={s['status']}" for s in run["stages"] if s["status"] != "waiting")
    return f"run {run['number']}: {run['status']} ({run['done']}/{run['total']} stages) {states}"


def _follow(client: httpx.Client, experiment_id: int, number: int, interval: float) -> int:
    """Print each change of the run's stages until it ends; 0 when it succeeded."""
    last = ""
    while True:
        run = _check(client.get(f"/experiments/{experiment_id}/runs/{number}"))
        line = _line(run)
        if line != last:
            typer.echo(line)
            last = line
        if run["status"] in RUN_TERMINAL and all(
            s["status"] in (*TERMINAL, "waiting", "missing") for s in run["stages"]
        ):
            if run["message"]:
                typer.echo(run["message"])
            return 0 if run["status"] == "succeeded" else 1
        time.sleep(interval)


@experiment_app.command("run")
def run(
    spec: Annotated[Path, typer.Argument(help="The experiment spec (YAML or JSON)")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run until it ends")] = True,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls")] = 2.0,
) -> None:
    """Create the experiment from SPEC and start its first run (headless: no browser needed)."""
    body = {"spec": read_spec(spec), "start": True}
    with _client(url, token) as client:
        experiment = _check(client.post("/experiments", json=body))
        typer.echo(f"experiment {experiment['id']} {experiment['name']!r}: run 1 started")
        if wait:
            raise typer.Exit(_follow(client, experiment["id"], 1, interval))


@experiment_app.command("list")
def list_(url: UrlOpt = "http://127.0.0.1:8000", token: TokenOpt = None) -> None:
    """Experiments with their latest run's status."""
    with _client(url, token) as client:
        page = _check(client.get("/experiments", params={"limit": 500}))
    for item in page["items"]:
        latest = item["runs"][-1] if item["runs"] else None
        state = f"run {latest['number']} {latest['status']}" if latest else "not started"
        typer.echo(f"{item['id']:>5}  {item['name']}  {state}")


@experiment_app.command("show")
def show(experiment_id: int, url: UrlOpt = "http://127.0.0.1:8000", token: TokenOpt = None) -> None:
    """Runs, stages and staleness of an experiment."""
    with _client(url, token) as client:
        item = _check(client.get(f"/experiments/{experiment_id}"))
    typer.echo(f"experiment {item['id']} {item['name']!r} (spec sha256 {item['spec_hash'][:12]})")
    for run_ in item["runs"]:
        typer.echo(_line(run_) + (f" [{run_['reason']}]" if run_["reason"] else ""))
    for entry in item["staleness"]:
        typer.echo(f"{entry['extra']}: {entry['summary']}")


def _run_action(
    action: str, experiment_id: int, number: int, url: str, token: str | None, wait: bool
) -> None:
    with _client(url, token) as client:
        run_ = _check(client.post(f"/experiments/{experiment_id}/runs/{number}/{action}"))
        typer.echo(_line(run_))
        if wait and run_["status"] == "running":
            raise typer.Exit(_follow(client, experiment_id, number, 2.0))


@experiment_app.command("resume")
def resume(
    experiment_id: int,
    number: Annotated[int, typer.Argument(help="Run number")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = False,
) -> None:
    """Resume a failed or cancelled run (finished stages are kept)."""
    _run_action("resume", experiment_id, number, url, token, wait)


@experiment_app.command("cancel")
def cancel(
    experiment_id: int,
    number: Annotated[int, typer.Argument(help="Run number")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Cancel a run and every stage job that has not ended."""
    _run_action("cancel", experiment_id, number, url, token, False)


@experiment_app.command("update")
def update(
    experiment_id: int,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = False,
) -> None:
    """Start a run with the newest approved mappings; only affected images are re-labelled."""
    with _client(url, token) as client:
        run_ = _check(client.post(f"/experiments/{experiment_id}/update"))
        typer.echo(f"{_line(run_)} [{run_['reason']}]")
        if wait:
            raise typer.Exit(_follow(client, experiment_id, run_["number"], 2.0))


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="md (default), csv, tex or json")]


def _format(value: str) -> str:
    fmt = FORMATS.get(value.lower())
    if fmt is None:
        raise typer.BadParameter(f"{value!r}: choose md, csv, tex or json", param_hint="--format")
    return fmt


def _print_table(response: httpx.Response, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(_check(response), indent=2))
        return
    if response.status_code >= 400:
        _check(response)  # prints the API's error and exits 1
    typer.echo(response.text, nl=False)


@experiment_app.command("results")
def results(
    experiment_id: int,
    run_number: Annotated[
        int | None, typer.Option("--run", min=1, help="Run number (default: latest)")
    ] = None,
    format: FormatOpt = "md",
    per_class: Annotated[bool, typer.Option("--per-class", help="Add the IoU of every class")] = False,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Teacher vs student mIoU per evaluation set (Markdown, CSV, LaTeX or JSON on stdout)."""
    fmt = _format(format)
    params: dict[str, Any] = {"format": fmt, "per_class": per_class}
    if run_number is not None:
        params["run"] = run_number
    with _client(url, token) as client:
        _print_table(client.get(f"/experiments/{experiment_id}/results", params=params), fmt)


@experiment_app.command("compare")
def compare(
    a: Annotated[int, typer.Argument(help="Experiment id (the baseline)")],
    b: Annotated[int, typer.Argument(help="Experiment id (differences are b - a)")],
    format: FormatOpt = "md",
    per_class: Annotated[bool, typer.Option("--per-class", help="Add the IoU of every class")] = False,
    teachers: Annotated[
        bool, typer.Option("--teachers", help="Compare the teachers, not the students")
    ] = False,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """The latest runs of two experiments side by side, per evaluation set."""
    fmt = _format(format)
    params: dict[str, Any] = {
        "a": a,
        "b": b,
        "format": fmt,
        "per_class": per_class,
        "side": "teacher" if teachers else "student",
    }
    with _client(url, token) as client:
        _print_table(client.get("/experiments/compare", params=params), fmt)
