"""``unilabel job submit/watch/list`` over the REST API (the HTTP client is the app's TestClient)."""

from __future__ import annotations

import contextlib
import re
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from app.db.models_registry import Job
from app.domain.jobs import JobKind
from app.schemas.jobs import JobParams
from tests.jobs.conftest import approve_version

runner = CliRunner()


@pytest.fixture
def api(client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
        client.base_url = client.base_url.join("/api/v1/")  # type: ignore[assignment]
        client.headers.update({"Authorization": f"Bearer {token}"})
        # The CLI says `with _client(...) as c`; entering the running TestClient again would start a
        # second app lifespan whose exit replaces the first's, leaking the first one's outbox relay.
        return contextlib.nullcontext(client)

    monkeypatch.setattr("app.cli_jobs._client", make)
    return client


def test_job_submit_list_and_watch(
    api: TestClient,
    editor: dict[str, str],
    reviewer: dict[str, str],
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:
    approve_version(api, editor, reviewer, world["mapping"])
    token = editor["Authorization"].split()[1]
    version = world["mapping"]["current_version"]["id"]
    args = [
        "job",
        "submit",
        "--model",
        str(world["model"]["id"]),
        "--dataset",
        str(world["dataset"]["id"]),
        "--mapping-version",
        str(version),
        "--no-tta",
        "--output-name",
        "cli",
        "--no-watch",
        "--token",
        token,
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "submitted job 1 (pseudo_label)" in result.output and sent
    listed = runner.invoke(cli, ["job", "list", "--token", token])
    assert "pseudo_label" in listed.output and "queued" in listed.output
    with session_factory() as s:
        job = s.get(Job, 1)
        assert job is not None
        job.status, job.progress_current, job.progress_total, job.message = (
            "succeeded",
            4,
            4,
            "4/4 images labelled",
        )
        s.commit()
    watched = runner.invoke(cli, ["job", "watch", "1", "--token", token])
    assert watched.exit_code == 0 and "job 1 succeeded: 4/4 images labelled" in watched.output
    refused = runner.invoke(
        cli, [*args[:-5], "--output-name", "cli2", "--no-watch", "--dataset", "999", "--token", token]
    )
    assert refused.exit_code == 1 and "error 404" in refused.output


def test_job_submit_help_lists_every_kind_the_api_accepts() -> None:
    accepted = {model.model_fields["kind"].default for model in get_args(get_args(JobParams)[0])}
    result = runner.invoke(cli, ["job", "submit", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "--kind" in line)
    listed = set(re.findall(r"\b[a-z]+(?:_[a-z]+)*\b(?= \||\s+\[default)", line))
    assert listed == accepted and accepted <= set(JobKind), line
