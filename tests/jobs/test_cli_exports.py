"""``unilabel job export`` and ``unilabel job import-cvat`` over the REST API (the HTTP client is
the app's TestClient; the export task body runs when its message is sent)."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from app.db.models_registry import Job
from app.queue import TASK_EXPORT
from tests.jobs.test_exports import _finished_run, _Recorder

runner = CliRunner()


@pytest.fixture
def api(client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
        client.base_url = client.base_url.join("/api/v1/")  # type: ignore[assignment]
        client.headers.update({"Authorization": f"Bearer {token}"})
        return contextlib.nullcontext(client)

    monkeypatch.setattr("app.cli_jobs._client", make)
    monkeypatch.setattr("app.cli_exports._client", make)
    return client


@pytest.fixture
def worker_inline(session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """An export message runs the export task body at once (no broker, no worker process)."""
    from worker import context, export_job

    monkeypatch.setattr(context, "session_factory", lambda: session_factory)

    def send(name: str, queue: str | None = None, **kwargs: Any) -> None:
        if name != TASK_EXPORT:
            return
        job_id = kwargs["job_id"]
        with session_factory() as s, s.begin():
            job = s.get(Job, job_id)
            assert job is not None
            result = export_job.run_export(job, _Recorder())  # type: ignore[arg-type]
            job.status, job.result_json, job.message = "succeeded", json.dumps(result), "succeeded"

    monkeypatch.setattr("app.queue.send_task", send)


def test_cli_exports_then_imports_corrections(
    api: TestClient, editor: dict[str, str], reviewer: dict[str, str], world: dict[str, Any],
    worker_inline: None, session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    run_id, labels = _finished_run(api, editor, reviewer, world, session_factory)
    token = editor["Authorization"].split()[1]
    target = tmp_path / "cvat.zip"
    args = ["job", "export", str(run_id), "--format", "cvat", "--out", str(target), "--token", token]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"saved {target}" in result.output
    with zipfile.ZipFile(target) as zf:
        items = zf.read("ImageSets/Segmentation/default.txt").split()
        assert "labelmap.txt" in zf.namelist() and len(items) == len(labels) == 4
    result = runner.invoke(cli, ["job", "import-cvat", str(run_id), str(target), "--token", token])
    assert result.exit_code == 0, result.output
    assert f"label-set version 1 of run {run_id}" in result.output and "0 image(s) corrected" in result.output
    result = runner.invoke(cli, ["job", "export", str(run_id), "--format", "voc", "--token", token])
    assert result.exit_code != 0 and "is not one of" in result.output
    missing = str(tmp_path / "none.zip")
    result = runner.invoke(cli, ["job", "import-cvat", str(run_id), missing, "--token", token])
    assert result.exit_code == 2, result.output  # a usage error: the archive is not a file
