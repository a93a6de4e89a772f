"""Job submission refusals over the API: they name taxonomies, models and datasets (never bare ids),
several problems come back together (one per field, in ``details.errors``), and the output-name
rule is said in words; the CLI prints each problem on its own line."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from tests.jobs.conftest import approve_version
from tests.jobs.test_api import job_body
from worker.demo import SOURCE

Headers = dict[str, str]


def _other_model(world: dict[str, Any]) -> dict[str, Any]:
    """A model with the folder's classes, registered against a taxonomy of another name."""
    classes = ("drivable", "vehicle", "vegetation", "sky")
    labels = [{"value": i, "name": n} for i, n in enumerate(classes)]
    other = world["post"]("/api/v1/taxonomies", {"name": "other-4", "labels": labels})
    model = {
        "name": "tiny-other",
        "source": "folder",
        "spec": str(world["teacher"]),
        "taxonomy_id": other["id"],
    }
    return world["post"]("/api/v1/models", model)


def test_taxonomy_mismatch_names_the_taxonomies(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    body = job_body(world, world["mapping"]["current_version"]["id"])
    body["params"]["model_id"] = _other_model(world)["id"]
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "model_id"
    assert error["message"] == (
        "mapping 'm' targets taxonomy 'demo-4', but model 'tiny-other' predicts taxonomy 'other-4'"
    )
    assert sent == []


def test_several_problems_are_reported_together(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    """Unapproved version, a model of another taxonomy and an unknown split: all three at once."""
    body = job_body(world, world["mapping"]["current_version"]["id"], split="test")
    body["params"]["model_id"] = _other_model(world)["id"]
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    listed = {e["field"]: e["message"] for e in error["details"]["errors"]}
    assert set(listed) == {"model_id", "split", "mapping_version_id"}
    assert listed["split"] == "dataset 'streets' has no split 'test' (it has 'train', 'val')"
    assert (
        "'other-4'" in listed["model_id"]
        and "version 1 of mapping 'm' is draft" in listed["mapping_version_id"]
    )
    assert error["message"].startswith("3 problems: ")
    assert sent == []


def test_output_name_rule_is_said_in_words(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    body = job_body(world, world["mapping"]["current_version"]["id"], output_name="../escape")
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422
    text = r.text
    assert "letters, digits, dots, underscores or hyphens, starting with a letter or a digit" in text
    assert "[A-Za-z0-9]" not in text


def test_training_set_mismatch_names_the_taxonomies(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    labels = [{"value": lb.value, "name": lb.name} for lb in SOURCE.labels]
    other = world["post"]("/api/v1/taxonomies", {"name": "other-src", "labels": labels})
    dataset = world["post"](
        "/api/v1/datasets",
        {
            "name": "other-ds",
            "taxonomy_id": other["id"],
            "root": str(world["root"]),
            "image_pattern": "images/{split}/{stem}.png",
            "label_template": "labels/{split}/{stem}.png",
        },
    )
    version_id = world["mapping"]["current_version"]["id"]
    train_set = {"kind": "ground_truth", "dataset_id": dataset["id"], "mapping_version_id": version_id}
    body = {"params": {"kind": "train", "train_sets": [train_set]}}
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == (
        "train_sets.0: dataset 'other-ds' is labelled in taxonomy 'other-src', but mapping 'm' maps "
        "from taxonomy 'demo-streets'"
    )
    assert sent == []


def test_cli_prints_each_problem_on_its_own_line(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    sent: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def make(url: str, token: str | None) -> contextlib.nullcontext[TestClient]:
        client.base_url = client.base_url.join("/api/v1/")  # type: ignore[assignment]
        client.headers.update({"Authorization": f"Bearer {token}"})
        return contextlib.nullcontext(client)  # the running TestClient, not a second lifespan

    monkeypatch.setattr("app.cli_jobs._client", make)
    token = editor["Authorization"].split()[1]
    version = world["mapping"]["current_version"]["id"]  # a draft: not approved
    args = ["job", "submit", "--model", str(world["model"]["id"]), "--dataset", str(world["dataset"]["id"]),
            "--mapping-version", str(version), "--split", "test", "--no-watch", "--token", token]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "error 422: 2 problems:\n" in result.output
    assert "  split: dataset 'streets' has no split 'test' (it has 'train', 'val')\n" in result.output
    assert "  mapping_version_id: version 1 of mapping 'm' is draft, not approved" in result.output
    assert sent == []
