"""``unilabel experiment results`` and ``unilabel experiment compare`` over the REST API (issue 12;
the HTTP client is the app's TestClient, as in test_cli_jobs)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from tests.jobs.conftest import approve_version
from tests.jobs.experiment_results_world import STUDENT_VAL, run_to_scores

runner = CliRunner()


@pytest.fixture
def api(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
        client.base_url = client.base_url.join("/api/v1/")
        client.headers.update({"Authorization": f"Bearer {token}"})
        return contextlib.nullcontext(client)  # the running TestClient, not a second lifespan

    monkeypatch.setattr("app.cli_experiments._client", make)
    return client


def test_results_and_compare_print_tables(
    api: TestClient,
    editor: dict[str, str],
    reviewer: dict[str, str],
    viewer: dict[str, str],
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    approve_version(api, editor, reviewer, world["mapping"])
    a = run_to_scores(api, editor, session_factory, settings, world, "exp-a")
    b = run_to_scores(
        api, editor, session_factory, settings, world, "exp-b", {"eval:student:r1:0": STUDENT_VAL}
    )
    token = ["--token", viewer["Authorization"].split()[1]]  # readers may read results

    md = runner.invoke(cli, ["experiment", "results", str(a), *token])
    assert md.exit_code == 0, md.output
    assert md.output.splitlines()[0] == "| Evaluation set | Teacher mIoU | Student mIoU | \u0394 | Round |"
    assert "| streets-val | 57.1 | 89.4 | +32.3 | 1 |" in md.output.splitlines()

    tex = runner.invoke(
        cli, ["experiment", "results", str(a), "--run", "1", "-f", "latex", "--per-class", *token]
    )
    assert tex.exit_code == 0 and tex.output.count(r"\begin{tabular}") == 2

    out = runner.invoke(cli, ["experiment", "results", str(a), "--format", "csv", *token])
    rows = list(csv.reader(io.StringIO(out.output)))
    assert rows[1] == ["streets-val", "57.12", "89.42", "32.30", "1"]

    body = json.loads(runner.invoke(cli, ["experiment", "results", str(b), "-f", "json", *token]).output)
    assert body["experiment"] == "exp-b" and body["rows"][0]["a"] is None  # b's teacher is not scored yet

    cmp = runner.invoke(cli, ["experiment", "compare", str(a), str(b), *token])
    assert cmp.exit_code == 0, cmp.output
    assert "| Evaluation set | exp-a | exp-b | \u0394 |" in cmp.output
    assert "| streets-val | 89.4 | 89.4 | 0.0 |" in cmp.output  # the same student scores
    teachers = runner.invoke(
        cli, ["experiment", "compare", str(a), str(b), "--teachers", "-f", "json", *token]
    )
    assert json.loads(teachers.output)["side"] == "teacher"

    missing = runner.invoke(cli, ["experiment", "results", "999", *token])
    assert missing.exit_code == 1 and "error 404: experiment 999 does not exist" in missing.output
    no_run = runner.invoke(cli, ["experiment", "results", str(a), "--run", "5", *token])
    assert no_run.exit_code == 1 and "(field run)" in no_run.output
    bad = runner.invoke(cli, ["experiment", "results", str(a), "--format", "pdf", *token])
    assert bad.exit_code == 2 and "choose md, csv, tex or json" in bad.output
