"""Training pages: the form (defaults shown, inline errors, nothing stored on refusal, redirect on
success) and the training panel (charts, IoU table, heatmap; polls while running, stops when terminal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.jobs.test_train_api import _write_run
from tests.web.pages.conftest import Registry, unescape

POLL = 'hx-trigger="every 3s"'


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _form(reg: Registry, **overrides: object) -> dict[str, object]:
    gt = f"gt:{reg.dataset_id}:{reg.approved_version_id}"
    return {
        "train_source_0": gt, "train_split_0": "train", "train_weight_0": "1",
        "val_source_0": gt, "val_split_0": "val", "max_iterations": "20", "epochs": "50",
        "batch_size": "4", "lr": "0.0001", "encoder_lr": "1e-05", "weight_decay": "0.05",
        "crop_h": "64", "crop_w": "64", "scale_min": "0.5", "scale_max": "2.0", "fitness": "miou",
        "schedule": "step", "seed": "0", "queue": "default", "device": "auto",
    } | overrides  # fmt: skip


def _jobs(factory: sessionmaker[Session]) -> list[Job]:
    with factory() as s:
        return list(s.query(Job).all())


def test_form_preselects_quick_and_shows_what_each_preset_sets(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    page = unescape(login("editor").get("/training/new").text)
    assert f'value="gt:{registry.dataset_id}:{registry.approved_version_id}"' in page
    # editors see approved versions only
    assert f'value="gt:{registry.dataset_id}:{registry.draft_version_id}"' not in page
    assert '<option value="quick" selected' in page  # not a recipe that takes hours on the demo
    for name in ("lr", "epochs", "crop_h", "max_iterations"):
        assert f'name="{name}" type="number" value=""' in page, name  # empty = the preset's value
    assert "750×1536" in page and "96×128" in page  # the paper's and quick's crops in the table
    assert "by size" in page and "by weight" in page  # which mixture applies, next to the weights
    assert "×0.1 at 90 % and 95 %" in page and "Fresh tiny model" in page


def test_form_defaults_submit_the_quick_preset(login, registry: Registry, session_factory, sent) -> None:  # type: ignore[no-untyped-def]
    gt = f"gt:{registry.dataset_id}:{registry.approved_version_id}"
    form = {"train_source_0": gt, "train_split_0": "train", "train_weight_0": "1", "val_source_0": gt,
            "val_split_0": "val", "preset": "quick", "queue": "default", "device": "auto"}  # fmt: skip
    r = login("editor").post("/training/new", form)
    assert r.status_code == 303, r.text
    (job,) = _jobs(session_factory)
    recipe = json.loads(job.params_json)["recipe"]
    assert recipe["preset"] == "quick" and recipe["overrides"] == []
    assert recipe["max_iterations"] == 300 and recipe["crop_size"] == [96, 128]
    assert recipe["mixture"] == "by_size"


def test_submit_queues_a_train_job_and_redirects(login, registry: Registry, session_factory, sent) -> None:  # type: ignore[no-untyped-def]
    browser = login("editor")
    r = browser.post("/training/new", _form(registry, train_weight_0="2"))
    assert r.status_code == 303, r.text
    (job,) = _jobs(session_factory)
    assert r.headers["location"] == f"/jobs/{job.id}" and job.kind == "train"
    params = json.loads(job.params_json)
    assert params["train_sets"][0]["weight"] == 2.0 and params["train_sets"][0]["split"] == "train"
    assert params["recipe"]["crop_size"] == [64, 64] and params["recipe"]["max_iterations"] == 20
    assert params["recipe"]["preset"] == "quick" and "crop_size" in params["recipe"]["overrides"]
    assert params["val_sets"][0]["split"] == "val" and params["start_model_id"] is None
    assert sent == [("unilabel.train", {"job_id": job.id})]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"train_source_0": ""}, "train_source_0", "choose at least one training set"),
        ({"train_split_0": "test"}, "train_source_0", "has no split 'test'"),
        ({"train_weight_0": "0"}, "train_source_0", "weight above 0"),
        ({"train_weight_0": "-1"}, "train_source_0", "greater than or equal to 0"),
        ({"batch_size": "x"}, "batch_size", "'x' is not a number"),
        ({"crop_h": "8"}, "crop_h", "at least 16 × 16"),
        ({"start_model_id": "999"}, "start_model_id", "model 999 does not exist"),
        ({"model_name": "tiny"}, "model_name", "already exists"),
    ],
)
def test_refused_form_shows_errors_inline_and_stores_nothing(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent, overrides, field, message
) -> None:
    r = login("editor").post("/training/new", _form(registry, **overrides))
    assert r.status_code == 422, r.text
    page = unescape(r.text)
    assert f'id="f-{field}-desc">' in page and message in page.split(f'id="f-{field}-desc">', 1)[1][:300]
    assert 'aria-invalid="true"' in page
    assert _jobs(session_factory) == [] and sent == []
    for key, value in overrides.items():  # the typed values come back
        selects = ("train_source_0", "start_model_id")
        assert f'value="{value}"' in page or not value or key in selects


def _train_job(browser: Any, registry: Registry, factory: sessionmaker[Session]) -> Job:
    assert browser.post("/training/new", _form(registry)).status_code == 303
    return _jobs(factory)[0]


def _set(factory: sessionmaker[Session], job_id: int, **values: object) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        for k, v in values.items():
            setattr(job, k, v)
        s.commit()


def test_panel_polls_while_running_and_stops_when_terminal(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    browser = login("editor")
    job = _train_job(browser, registry, session_factory)
    queued = browser.get(f"/jobs/{job.id}/training").text
    assert POLL in queued and "No training step logged yet." in queued
    _write_run(Path(str(job.output_dir)))
    _set(session_factory, job.id, status="running", progress_current=2, progress_total=20)
    running = unescape(browser.get(f"/jobs/{job.id}/training").text)
    assert POLL in running and f'hx-get="/jobs/{job.id}/training"' in running
    assert "<polyline" in running and "Training loss" in running and "Validation mIoU" in running
    assert "iteration <strong>2</strong> / 20" in running
    assert "Per-class IoU" in running and "confusion-table" in running
    assert "vegetation" in running and "75%" in running  # vehicle row: 3 of 4 pixels right
    _set(session_factory, job.id, status="succeeded", result_json=json.dumps({"model_id": registry.model_id}))
    done = browser.get(f"/jobs/{job.id}/training").text
    assert "hx-trigger" not in done and "hx-get" not in done
    assert f'href="/models/{registry.model_id}"' in done


def test_panel_is_404_for_other_kinds(login, registry: Registry, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        job = Job(kind="scan_dataset", status="queued", dataset_id=registry.dataset_id)
        s.add(job)
        s.commit()
        job_id = job.id
    assert login("editor").get(f"/jobs/{job_id}/training").status_code == 404
