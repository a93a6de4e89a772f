"""The ``unilabel`` command line (outer layer): serve, worker, db, users, taxonomies, mappings, demo.

Commands call the services inside one unit of work each (commit on success, rollback on error).
Plugins: every entry point in the group ``unilabel.cli`` is loaded at import; it may be a
``typer.Typer`` (added as a sub-command named after the entry point) or a callable
``register(app: typer.Typer) -> None``. ``worker/cli.py`` adds the ML commands that way, so
``app`` never imports ``worker``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from app.cli_audit import register as register_audit
from app.cli_datasets import dataset_app
from app.cli_exports import register as register_exports
from app.cli_jobs import job_app
from app.cli_suggestions import register as register_suggestions
from app.config import Settings, SettingsError, load_settings
from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.domain.class_lists import TargetClassesDiffer
from app.domain.errors import DomainError, NotFound
from app.serve import (
    LOOPBACK,
    base_url,
    login_url_at,
    public_base_url,
    record_served_url,
    run_server,
    worker_command,
    worker_env,
)
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from app.services.limits import use_limits
from app.services.mapping_files import target_name_from_filename, target_outcome
from app.services.uploads import decode_upload

app = typer.Typer(name="unilabel", help="Unify segmentation label taxonomies.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
taxonomy_app = typer.Typer(help="Taxonomies (label sets).", no_args_is_help=True)
mapping_app = typer.Typer(help="Ontology mappings.", no_args_is_help=True)
demo_app = typer.Typer(help="Built-in demo content.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(mapping_app, name="mapping")
app.add_typer(demo_app, name="demo")
app.add_typer(job_app, name="job")
app.add_typer(dataset_app, name="dataset")
register_suggestions(mapping_app)  # mapping suggest
register_audit(mapping_app)  # mapping audit
register_exports(job_app)  # job export, job import-cvat


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from None
    settings.ensure_dirs()
    return settings


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    """One transaction; a DomainError becomes a one-line message and exit code 1."""
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        use_limits(factory, settings.limits)
        with unit_of_work(factory) as session:
            yield session
    except DomainError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _read_file(path: Path, settings: Settings) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.secho(f"error: cannot read {path}: {exc.strerror}", err=True, fg="red")
        raise typer.Exit(1) from None
    try:
        return decode_upload(data, max_bytes=settings.max_upload_bytes)
    except DomainError as exc:
        typer.secho(f"error: {path}: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (default: to the newest)."""
    settings = _settings()
    upgrade_database(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Revert migrations down to REVISION."""
    settings = _settings()
    downgrade_database(settings.database_url, revision)
    typer.echo(f"database at {revision}")


# --- users ----------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, editor, reviewer or admin")] = "viewer",
    password: Annotated[bool, typer.Option("--password", help="Prompt for a password")] = False,
) -> None:
    """Create a user and print an API token (shown once)."""
    settings = _settings()
    secret = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    with _unit_of_work(settings) as session:
        user = user_service.create_user(session, name=name, role=role, password=secret)
        _, token = user_service.create_api_token(session, user=user, name="created by CLI")
    typer.echo(f"created {role} {name!r}; API token (shown once):")
    typer.echo(token)


@user_app.command("list")
def user_list() -> None:
    """List users and roles."""
    with _unit_of_work(_settings()) as session:
        users, _ = user_service.list_users(session, limit=500)
        for u in users:
            typer.echo(f"{u.id}\t{u.name}\t{u.role}\t{'active' if u.is_active else 'inactive'}")


@user_app.command("login-url")
def user_login_url(
    name: str,
    url: Annotated[
        str | None,
        typer.Option(help="Server address; default UNILABEL_PUBLIC_URL, else where `serve` last listened"),
    ] = None,
    host: Annotated[str | None, typer.Option(help="With --port: http://HOST:PORT (instead of --url)")] = None,
    port: Annotated[int | None, typer.Option(help="With --host: http://HOST:PORT (instead of --url)")] = None,
) -> None:
    """Print a one-time browser login URL for a user."""
    settings = _settings()
    if host is not None or port is not None:
        url = url or base_url(host or "127.0.0.1", port or 8000)
    with _unit_of_work(settings) as session:
        user = user_service.get_user_by_name(session, name)
        token = user_service.create_login_token(session, user=user, ttl_s=settings.login_token_ttl_s)
    typer.echo(login_url_at(url or public_base_url(settings), token))


# --- taxonomies -----------------------------------------------------------------------------------


def _taxonomy(session: Session, ref: str) -> Any:
    if ref.isdigit():
        return taxonomy_service.get_taxonomy(session, int(ref))
    return taxonomy_service.get_taxonomy_by_name(session, ref)


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
        row, findings = taxonomy_service.import_taxonomy_report(
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
        text = taxonomy_service.export_taxonomy(session, _taxonomy(session, taxonomy).id, fmt=format)
    _write(text, output)


@taxonomy_app.command("list")
def taxonomy_list() -> None:
    """List taxonomies."""
    with _unit_of_work(_settings()) as session:
        rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
        for r in rows:
            typer.echo(f"{r.id}\t{r.name}\t{r.label_count} labels")


# --- mappings -------------------------------------------------------------------------------------


def _mapping(session: Session, ref: str) -> Any:
    if ref.isdigit():
        return mapping_service.get_mapping(session, int(ref))
    return mapping_service.get_mapping_by_name(session, ref)


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


# --- demo, worker, serve --------------------------------------------------------------------------


@demo_app.command("load")
def demo_load() -> None:
    """Load the built-in demo taxonomies and mappings (idempotent)."""
    from app.demo import load_demo

    with _unit_of_work(_settings()) as session:
        summary = load_demo(session)
    typer.echo(
        f"demo: {summary.taxonomies_created} taxonomies and {summary.mappings_created} mappings created"
    )


@app.command()
def worker(
    loglevel: Annotated[str, typer.Option()] = "info",
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues (default: all)")] = None,
    hostname: Annotated[str, typer.Option(help="Celery node name")] = "unilabel@%h",
) -> None:
    """Run a Celery worker (the ML task runner) in the foreground."""
    settings = _settings()
    cmd = worker_command(settings, loglevel=loglevel, queues=queues, hostname=hostname)
    os.execve(cmd[0], cmd, worker_env(settings))


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Web processes (uvicorn workers); the embedded worker starts once")
    ] = 1,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not start the embedded worker")] = False,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving")] = True,
) -> None:
    """Serve the web app (and an embedded Celery worker); Ctrl-C or SIGTERM stops both."""
    settings = _settings()
    if migrate:
        upgrade_database(settings.database_url)
    record_served_url(settings, host, port)
    announce = _prepare_login(settings, host, port)
    run_server(
        settings,
        host=host,
        port=port,
        with_worker=not no_worker,
        workers=workers,
        echo=typer.echo,
        on_ready=announce,
    )


def _prepare_login(settings: Settings, host: str, port: int) -> Callable[[], None] | None:
    """Create the local admin on first run and a one-time login URL (always on loopback hosts).

    Returns the function that prints the URL; ``serve`` calls it once the server answers, so the
    URL is the last thing on the screen rather than lost above the start-up log.
    """
    with _unit_of_work(settings) as session:
        first_run = user_service.count_users(session) == 0
        if first_run:
            user_service.ensure_local_admin(session)
        try:
            admin = user_service.get_user_by_name(session, "admin")
        except NotFound:
            typer.echo("no local 'admin' account; get a login URL with: unilabel user login-url NAME")
            return None
        if not (first_run or host in LOOPBACK) or not admin.is_active:
            return None
        token = user_service.create_login_token(session, user=admin, ttl_s=settings.login_token_ttl_s)
    if first_run:
        typer.echo("created the local admin account 'admin'")

    def announce() -> None:
        typer.secho("Open this one-time login URL in your browser:", bold=True)
        url = login_url_at(settings.public_url or base_url(host, port), token)
        typer.secho(f"    {url}", fg="green", bold=True)
        sys.stdout.flush()

    return announce


def _load_plugins() -> None:
    for ep in entry_points(group="unilabel.cli"):
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not break the core CLI
            typer.secho(f"warning: CLI plugin {ep.name!r} failed to load: {exc}", err=True, fg="yellow")
            continue
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=ep.name)
        elif callable(plugin):
            plugin(app)


def main() -> None:
    """Console-script entry point (``unilabel``): the core commands plus the installed plugins.

    Plugins are loaded here, not at import, so that importing ``app.cli`` (as the web process and
    the architecture test do) never imports ``worker``.
    """
    _load_plugins()
    app()


if __name__ == "__main__":
    main()
