"""Ground-truth export from the browser and the CLI (issue 14): the dataset page's export card
(editors) lists the approved versions of mappings from the dataset's taxonomy and submits an export
job; refusals are said on the dataset's page; ``unilabel job export --dataset --mapping-version``
submits, follows and downloads the archive."""

from __future__ import annotations

import html
import json
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from app.db.models_registry import Job
from app.queue import TASK_EXPORT
from tests.jobs.conftest import approve_version
from tests.jobs.test_cli_exports import api, worker_inline  # noqa: F401 (fixtures)

Headers = dict[str, str]
HX = {"HX-Request": "true"}
runner = CliRunner()


def test_the_card_lists_approved_versions_and_submits_a_ground_truth_export(
    client: TestClient,
    viewer: Headers,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    sent: list[Any],
) -> None:
    dataset_id, mapping = world["dataset"]["id"], world["mapping"]
    version_id = mapping["current_version"]["id"]
    page = client.get(f"/datasets/{dataset_id}", headers=editor).text
    assert f'hx-get="/datasets/{dataset_id}/export-form"' in page
    assert "export-form" not in client.get(f"/datasets/{dataset_id}", headers=viewer).text
    assert client.get(f"/datasets/{dataset_id}/export-form", headers=viewer | HX).status_code == 403
    form = html.unescape(client.get(f"/datasets/{dataset_id}/export-form", headers=editor | HX).text)
    assert "No approved version" in form and 'action="/datasets/' not in form  # only a draft so far
    url = f"/datasets/{dataset_id}/export"
    # a draft version is refused before a job exists, on the dataset's page
    r = client.post(url, data={"mapping_version_id": str(version_id)}, headers=editor, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/datasets/{dataset_id}"
    assert "exported only through an approved version" in html.unescape(
        client.get(r.headers["location"], headers=editor).text
    )
    approve_version(client, editor, reviewer, mapping)
    form = html.unescape(client.get(f"/datasets/{dataset_id}/export-form", headers=editor | HX).text)
    assert (
        f'<option value="{version_id}">{mapping["name"]} · v{mapping["current_version"]["number"]}</option>'
        in form
    )
    assert f'action="/datasets/{dataset_id}/export"' in form and '<option value="fiftyone">' in form
    body = {"mapping_version_id": str(version_id), "format": "voc"}
    r = client.post(url, data=body, headers=editor, follow_redirects=False)
    assert r.status_code == 303 and "'voc' is not an export format" in html.unescape(
        client.get(r.headers["location"], headers=editor).text
    )
    body["format"] = "cityscapes"
    assert client.post(url, data=body, headers=viewer, follow_redirects=False).status_code == 403
    assert client.post(url, data={"mapping_version_id": "x"}, headers=editor).status_code == 422
    assert sent == []
    r = client.post(url, data=body, headers=editor, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    with session_factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.kind == "export" and job.dataset_id == dataset_id
        params = json.loads(job.params_json)
        assert (params["dataset_id"], params["mapping_version_id"], params["format"]) == (
            dataset_id,
            version_id,
            "cityscapes",
        )
        assert params.get("job_id") is None
    assert [name for name, _ in sent] == [TASK_EXPORT]
    page = html.unescape(client.get(r.headers["location"], headers=editor).text)
    assert f"Exporting the ground truth as cityscapes: job {job_id}." in page


def test_cli_exports_a_datasets_ground_truth(
    api: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any],  # noqa: F811
    worker_inline: None, tmp_path: Path,  # noqa: F811
) -> None:  # fmt: skip
    approve_version(api, editor, reviewer, world["mapping"])
    token = editor["Authorization"].split()[1]
    dataset_id, version_id = world["dataset"]["id"], world["mapping"]["current_version"]["id"]
    target = tmp_path / "gt.zip"
    args = ["job", "export", "--dataset", str(dataset_id), "--mapping-version", str(version_id)]
    result = runner.invoke(cli, [*args, "--format", "fiftyone", "--out", str(target), "--token", token])
    assert result.exit_code == 0, result.output
    assert f"of the ground truth of dataset {dataset_id} (mapping version {version_id})" in result.output
    assert f"saved {target}" in result.output
    with zipfile.ZipFile(target) as zf:
        assert (
            "mask_targets.json" in zf.namelist()
            and "the ground truth of dataset" in zf.read("README.md").decode()
        )
    result = runner.invoke(cli, ["job", "export", "--dataset", str(dataset_id), "--token", token])
    assert result.exit_code == 2 and "--mapping-version" in result.output, result.output
    result = runner.invoke(cli, ["job", "export", "1", *args[2:], "--token", token])
    assert result.exit_code == 2 and "not both" in result.output, result.output
    result = runner.invoke(cli, ["job", "export", "--token", token])
    assert result.exit_code == 2 and "JOB_ID" in result.output
