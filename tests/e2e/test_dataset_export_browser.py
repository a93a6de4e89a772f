"""Ground-truth export in the browser (issue 14): the dataset page's *Export ground truth* card
(loaded by HTMX) lists the approved mapping version; Export queues an export job of the dataset
and opens its page; once the export task body has run, the page offers the archive and the
browser downloads it. Screenshot ``dataset-export.png`` goes to ``docs/screenshots/`` with
``UNILABEL_SCREENSHOTS=1``, otherwise to a temporary folder."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.db.models_registry import Job
from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
REPO_ROOT = Path(__file__).resolve().parents[2]


class _Recorder:
    attempt = 1

    def __call__(self, progress: Any) -> None:
        pass


def _seed(server: LiveServer) -> tuple[int, int]:
    """The demo dataset (source taxonomy) and an approved demo mapping to the target taxonomy."""
    from app.schemas.datasets import DatasetCreate
    from app.services import datasets as dataset_service
    from app.services import mappings as mapping_service
    from app.services import reviews
    from app.services import taxonomies as taxonomy_service
    from app.services import users as user_service
    from worker.demo import EDGES, IMAGE_PATTERN, LABEL_TEMPLATE, SOURCE, TARGET, make_dataset

    factory = server.session_factory
    db = Path(str(factory.kw["bind"].url.database))
    settings = load_settings(
        database_url=f"sqlite:///{db}", data_dir=db.parent / "data", broker_url="memory://"
    )
    root = make_dataset(settings.data_dir / "gt-streets", count=3, height=24, width=32)
    with factory() as s:
        source = taxonomy_service.create_taxonomy(s, taxonomy=SOURCE)
        target = taxonomy_service.create_taxonomy(s, taxonomy=TARGET)
        body = DatasetCreate(name="gt streets", taxonomy_id=source.id, root=str(root),
                             image_pattern=IMAGE_PATTERN, label_template=LABEL_TEMPLATE,
                             splits=["train", "val"])  # fmt: skip
        dataset = dataset_service.register_dataset(s, body=body, settings=settings)
        mapping = mapping_service.create_mapping(
            s, name="streets to demo", source_taxonomy_id=source.id, target_taxonomy_id=target.id,
            edges=EDGES,
        )  # fmt: skip
        version = mapping_service.current_version(s, mapping.id)
        reviews.submit_for_review(s, version_id=version.id, author=None)
        reviews.approve(s, version_id=version.id, reviewer=user_service.get_user_by_name(s, "rita"),
                        four_eyes="off")  # fmt: skip
        s.commit()
        return dataset.id, version.id


def test_export_a_datasets_ground_truth_from_its_page(
    new_page: Any, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import context, export_job

    dataset_id, version_id = _seed(live_server)
    shots = REPO_ROOT / "docs" / "screenshots" if os.environ.get("UNILABEL_SCREENSHOTS") == "1" else tmp_path
    page = new_page("erin", width=1280, height=900)
    page.goto(f"/datasets/{dataset_id}")
    card = page.locator("section#dataset-export")
    card.wait_for()
    card.get_by_label("Mapping version").select_option(str(version_id))
    card.get_by_label("Format").select_option("fiftyone")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(shots / "dataset-export.png"))
    card.get_by_role("button", name="Export").click()
    page.wait_for_url("**/jobs/*")
    export_id = int(page.url.rstrip("/").split("/")[-1])
    page.get_by_text(f"Exporting the ground truth as fiftyone: job {export_id}.").wait_for()
    monkeypatch.setattr(context, "session_factory", lambda: live_server.session_factory)
    with live_server.session_factory() as s:
        job = s.get(Job, export_id)
        assert job is not None and job.kind == "export" and job.dataset_id == dataset_id
        result = export_job.run_export(job, _Recorder())  # type: ignore[arg-type]
        job.status, job.result_json, job.message = "succeeded", json.dumps(result), "succeeded"
        s.commit()
    page.reload()
    page.get_by_text("ground-truth image(s) of").first.wait_for()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download export.zip").click()
    with zipfile.ZipFile(info.value.path()) as zf:
        assert "mask_targets.json" in zf.namelist()
        assert "the ground truth of dataset 'gt streets'" in zf.read("README.md").decode()
