"""The ``unilabel`` command line (outer layer): serve, worker, db, users, demo; the command groups.

Commands call the services inside one unit of work each (commit on success, rollback on error).
Plugins: every entry point in the group ``unilabel.cli`` is loaded at import; it may be a
``typer.Typer`` (added as a sub-command named after the entry point) or a callable
``register(app: typer.Typer) -> None``. ``worker/cli.py`` adds the ML commands that way, so
``app`` never imports ``worker``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated

import typer

from app.cli_audit import register as register_audit
from app.cli_common import _settings, _unit_of_work
from app.cli_datasets import dataset_app
from app.cli_experiments import experiment_app
from app.cli_exports import register as register_exports
from app.cli_jobs import job_app
from app.cli_suggestions import register as register_suggestions
from app.cli_taxonomies import default_taxonomy_name, mapping_app, taxonomy_app
from app.config import Settings
from app.db.migrate import downgrade_database, upgrade_database
from app.domain.errors import NotFound
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
from app.services import users as user_service

__all__ = ["app", "default_taxonomy_name", "main"]

app = typer.Typer(name="unilabel", help="Unify segmentation label taxonomies.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
demo_app = typer.Typer(help="Built-in demo content.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(mapping_app, name="mapping")
app.add_typer(demo_app, name="demo")
app.add_typer(job_app, name="job")
app.add_typer(experiment_app, name="experiment")
app.add_typer(dataset_app, name="dataset")
register_suggestions(mapping_app)  # mapping suggest
register_audit(mapping_app)  # mapping audit
register_exports(job_app)  # job export, job import-cvat


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
