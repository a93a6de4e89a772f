"""Exports in the browser (issue 14): a succeeded run's page offers the export form; Export queues an
export job and opens its page; once the export task body has run, the page offers the archive and
the browser downloads a CVAT zip. Screenshots go to ``docs/screenshots/`` with
``UNILABEL_SCREENSHOTS=1`` (jobs-export-*), otherwise to a temporary folder."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.config import load_settings
from app.db.models_registry import Job
from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        return REPO_ROOT / "docs" / "screenshots"
    return tmp_path


def _seed_run(server: LiveServer, tmp_path: Path) -> int:
    """The demo registry (fake teacher folder) and a succeeded pseudo-label run with label PNGs."""
    from app.schemas.datasets import DatasetCreate
    from app.schemas.models import ModelCreate
    from app.services import datasets as dataset_service
    from app.services import models as model_service
    from app.services import taxonomies as taxonomy_service
    from tests.web.pages.conftest import fake_model_folder
    from worker.demo import IMAGE_PATTERN, LABEL_TEMPLATE, SOURCE, TARGET, make_dataset

    factory = server.session_factory
    db = Path(str(factory.kw["bind"].url.database))
    settings = load_settings(
        database_url=f"sqlite:///{db}", data_dir=db.parent / "data", broker_url="memory://"
    )
    root = make_dataset(settings.data_dir / "export-streets", count=3, height=24, width=32)
    with factory() as s:
        source = taxonomy_service.create_taxonomy(s, taxonomy=SOURCE)
        target = taxonomy_service.create_taxonomy(s, taxonomy=TARGET)
        body = DatasetCreate(name="streets", taxonomy_id=source.id, root=str(root),
                             image_pattern=IMAGE_PATTERN, label_template=LABEL_TEMPLATE,
                             splits=["train", "val"])  # fmt: skip
        dataset = dataset_service.register_dataset(s, body=body, settings=settings)
        teacher = fake_model_folder(settings.data_dir / "export-teacher", TARGET.names)
        model = model_service.register_model(
            s, body=ModelCreate(name="tiny", source="folder", spec=str(teacher), taxonomy_id=target.id),
            settings=settings,
        )  # fmt: skip
        out = tmp_path / "run"
        job = Job(kind="pseudo_label", status="succeeded", name="streets run", queue="default",
                  params_json="{}", dataset_id=dataset.id, model_id=model.id, output_dir=str(out),
                  progress_current=3, progress_total=3, message="succeeded")  # fmt: skip
        s.add(job)
        s.commit()
        run_id = job.id
    records = []
    for i, image in enumerate(sorted((root / "images").rglob("*.png"))):
        rel = image.relative_to(root).as_posix()
        label = rel.replace("images/", "labels/")
        (out / "labels" / label).parent.mkdir(parents=True, exist_ok=True)
        ids = np.full((24, 32), i % 4, np.uint8)
        Image.fromarray(ids).save(out / "labels" / label)
        records.append(
            {"image": rel, "label": label, "output": label, "status": "ok", "split": image.parent.name}
        )
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_id


class _Recorder:
    attempt = 1

    def __call__(self, progress: Any) -> None:
        pass


def test_export_from_the_run_page_and_download(
    new_page: Any, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import context, export_job

    run_id = _seed_run(live_server, tmp_path)
    shots = _shots(tmp_path)
    page = new_page("erin", width=1280, height=900)
    page.goto(f"/jobs/{run_id}")
    form = page.locator("section.job-export")
    form.get_by_label("Format").select_option("cvat")
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "jobs-export-form.png"), full_page=True)
    form.get_by_role("button", name="Export").click()
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1] != str(run_id))
    export_id = int(page.url.rstrip("/").split("/")[-1])
    page.get_by_text(f"Export job {export_id} queued (cvat).").wait_for()
    monkeypatch.setattr(context, "session_factory", lambda: live_server.session_factory)
    with live_server.session_factory() as s:
        job = s.get(Job, export_id)
        assert job is not None and job.kind == "export"
        result = export_job.run_export(job, _Recorder())  # type: ignore[arg-type]
        job.status, job.result_json, job.message = "succeeded", json.dumps(result), "succeeded"
        s.commit()
    page.reload()
    link = page.get_by_role("link", name="Download export.zip")
    link.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "jobs-export-download.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    # The same zip back (nothing corrected): a version 1 of the run, reached from the run's page.
    page.goto(f"/jobs/{run_id}")
    page.locator("section.job-export input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Import as a new version").click()
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1] not in (str(run_id), str(export_id)))
    page.get_by_text(f"corrected labels v1 of run {run_id}").first.wait_for()
    page.get_by_text("0 image(s) corrected by hand, 3 unchanged").first.wait_for()
    with zipfile.ZipFile(path) as zf:
        assert (
            "labelmap.txt" in zf.namelist()
            and len(zf.read("ImageSets/Segmentation/default.txt").split()) == 3
        )
