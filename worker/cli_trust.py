"""``unilabel model trust ID --by ADMIN``: an admin trusts a registered paper .pth (worker CLI layer).

The same recorded decision as ``POST /api/v1/models/{id}/trust``: who (an admin account), when and
the file's sha256; the conversion task is queued after the commit. Needs no torch.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.domain.errors import DomainError
from worker.cli_inputs import fail


def model_trust_command(
    model_id: Annotated[int, typer.Argument(min=1, help="registered model id (a paper .pth)")],
    by: Annotated[str, typer.Option("--by", help="the admin account the decision is recorded under")],
    note: Annotated[str, typer.Option("--note", help="why the file is trusted (recorded)")] = "",
) -> None:
    """Trust a registered paper .pth as it is now (admin, sha256 recorded); a worker converts it once."""
    from app.config import SettingsError, load_settings
    from app.db.session import make_engine, make_sessionmaker, unit_of_work
    from app.services import model_trust
    from app.services import users as user_service

    try:
        url = load_settings().database_url
    except SettingsError as exc:
        raise fail(str(exc)) from exc
    engine = make_engine(url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            user = user_service.get_user_by_name(session, by)
            row = model_trust.trust_model(session, model_id=model_id, user=user, note=note)
            name, digest = row.name, row.trusted_sha256
    except DomainError as exc:
        raise fail(str(exc)) from exc
    finally:
        engine.dispose()
    typer.echo(f"model {model_id} ({name}) trusted by {by}: sha256 {digest}; a worker converts it once")
