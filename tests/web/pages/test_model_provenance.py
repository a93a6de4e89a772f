"""Provenance people can read: the model page's provenance card (teacher, datasets, mapping version
and hash, recipe, code version) and the job page's result card never show a Python repr."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import MappingVersion
from app.db.models_registry import Job, Model
from app.schemas.models import ModelCreate
from app.services import models as model_service
from tests.web.pages.conftest import Registry, fake_model_folder, unescape
from tests.web.pages.test_evaluation import NAMES, REPR


def _text(page: str) -> str:
    """The visible text of a page (tags, scripts and the raw JSON of "All parameters" removed)."""
    page = re.sub(r"<(script|pre)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page)))


def _card(page: str) -> str:
    return unescape(page.split('id="model-provenance"', 1)[1].split("</section>", 1)[0])


def test_registered_teacher_card_says_what_is_known_in_words(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    page = login("viewer").get(f"/models/{registry.model_id}").text
    card = _card(page)
    assert "registered checkpoint, not trained here" in card
    assert "checked against the taxonomy at registration" in card and "classes_checked" not in card
    assert "Code version" in card and "not recorded" in card  # the fake folder has no metadata
    assert not REPR.search(_text(page)), REPR.search(_text(page))


def _student(
    factory: sessionmaker[Session], settings: Settings, reg: Registry, *, best: dict[str, object] | None
) -> tuple[int, int, str]:
    """A student registered the way ``worker.train_job`` does it, with its checkpoint's metadata."""
    folder = fake_model_folder(settings.data_dir / "student", NAMES)
    meta = json.loads((folder / "unilabel.json").read_text())
    meta["provenance"] = {
        "saved_at": "2026-12-02T10:00:00+00:00", "unilabel_version": "0.1.0", "torch_version": "2.13.0",
        "transformers_version": "4.57.0", "step": 32,
    }  # fmt: skip
    (folder / "unilabel.json").write_text(json.dumps(meta))
    with factory() as s:
        version = s.get(MappingVersion, reg.approved_version_id)
        assert version is not None
        content_hash = version.content_hash
        train = Job(kind="train", status="succeeded", name="student run", params_json="{}", queue="default")
        train.result_json = json.dumps(
            {"stop_reason": "max_iterations", "best_metrics": best, "model_id": None}
        )
        train.finished_at = datetime.now(UTC)
        s.add(train)
        s.flush()
        target_id = s.get(Model, reg.model_id).taxonomy_id  # type: ignore[union-attr]
        body = ModelCreate(
            name="student-1", role="student", source="folder", spec=str(folder), taxonomy_id=target_id
        )
        row = model_service.register_model(s, body=body, settings=settings)
        gt = {
            "kind": "ground_truth", "dataset_id": reg.dataset_id, "dataset": "streets", "split": "train",
            "mapping_version_id": reg.approved_version_id, "mapping_hash": content_hash, "images": 3,
        }  # fmt: skip
        provenance = {
            "train_job_id": train.id, "start_model_id": reg.model_id, "architecture": None,
            "training_sets": [{"name": "set 1", "weight": 1.0, **gt}],
            "validation_sets": [{"name": "val 1", **gt, "split": "val"}],
            "recipe": {
                "preset": "quick", "max_iterations": 40, "batch_size": 2, "lr": 0.0005, "crop_size": [48, 48],
            },
            "preset": "quick", "overrides": ["lr", "max_iterations"], "nonfinite_steps": 0,
            "best_step": 32 if best else None, "best_metrics": best, "stop_reason": "max_iterations",
        }  # fmt: skip
        row.provenance_json = json.dumps({**json.loads(row.provenance_json), **provenance})
        s.commit()
        return row.id, train.id, content_hash


def test_student_card_names_teacher_data_mapping_recipe_and_code(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    best = {"miou": 0.4123, "pixel_accuracy": 0.8, "per_set": {"val 1": {"miou": 0.4123}}}
    model_id, train_id, content_hash = _student(session_factory, settings, registry, best=best)
    page = login("viewer").get(f"/models/{model_id}").text
    card = _card(page)
    assert f'<a href="/jobs/{train_id}">job #{train_id}</a>' in card
    assert f'fine-tuned from <a href="/models/{registry.model_id}">tiny</a>' in card
    assert (
        f'<a href="/datasets/{registry.dataset_id}">streets</a> · split train · ground truth · 3 images'
        in card
    )
    assert "validation set val 1" in card
    assert f'>demo map v1</a> <code title="{content_hash}">{content_hash[:12]}</code>' in card
    assert (
        "preset quick (changed: lr, max_iterations)" in card
        and "iterations 40" in card
        and "crop 48×48" in card
    )
    assert "best checkpoint at iteration 32 · mIoU 0.412" in card and "stopped: max iterations" in card
    assert "unilabel 0.1.0 · torch 2.13.0 · transformers 4.57.0 · written 2026-12-02 10:00:00 UTC" in card
    assert not REPR.search(_text(page)), REPR.search(_text(page))


def test_job_result_and_model_without_best_metrics_show_no_repr(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    model_id, train_id, _ = _student(session_factory, settings, registry, best=None)
    for url in (f"/models/{model_id}", f"/jobs/{train_id}"):
        page = login("viewer").get(url).text
        assert not REPR.search(_text(page)), (url, REPR.search(_text(page)))
    result = unescape(login("viewer").get(f"/jobs/{train_id}").text).split(f'id="job-{train_id}-result"', 1)[
        1
    ]
    assert "Stop reason" in result and "max_iterations" in result and "Best metrics" in result
