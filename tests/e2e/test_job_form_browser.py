"""The job form and job page in headless Chromium (issue 11, "Jobs"): choosing a model narrows the
mapping versions to those that fit (HTMX swap, with why others are hidden), a bad submission shows
every field's problem at once, and a running job's ETA counts down between batches while the header
and the status card agree on times and shard log lines link to the shard.

No worker is needed: the running job is written to the database directly. With
``UNILABEL_SCREENSHOTS=1`` the screenshots go to ``docs/screenshots/`` (jobs-new-filtered.png,
jobs-new-errors.png, jobs-detail-progress.png), otherwise to a temporary folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.db.base import utcnow
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.schemas.datasets import DatasetCreate
from app.schemas.models import ModelCreate
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import reviews as review_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from tests import factories
from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Seeded:
    job_id: int
    shard_id: int


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _approve(s: Any, admin: Any, mapping_id: int) -> None:
    version = mapping_service.current_version(s, mapping_id)
    review_service.submit_for_review(s, version_id=version.id, author=admin)
    reviewer = user_service.get_user_by_name(s, "rita")  # four eyes: not the author
    review_service.approve(s, version_id=version.id, reviewer=reviewer, message="ok")


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The demo dataset and a fake teacher; a mapping that fits, one to another class list, one not
    approved; a running sharded job with a shard log line."""
    from tests.web.pages.conftest import fake_model_folder
    from worker.demo import EDGES, IMAGE_PATTERN, LABEL_TEMPLATE, SOURCE, TARGET, make_dataset

    tmp = tmp_path_factory.mktemp("job-form")
    settings = load_settings(database_url="sqlite://", data_dir=tmp)  # registration checks only
    root = make_dataset(tmp / "streets", count=4, height=24, width=32)
    teacher = fake_model_folder(tmp / "teacher", TARGET.names)
    with unit_of_work(live_server.session_factory) as s:
        admin, _ = user_service.ensure_local_admin(s)
        source = taxonomy_service.create_taxonomy(s, taxonomy=SOURCE)
        target = taxonomy_service.create_taxonomy(s, taxonomy=TARGET)
        fits = mapping_service.create_mapping(
            s, name="streets → demo-4", source_taxonomy_id=source.id, target_taxonomy_id=target.id,
            edges=EDGES, author=admin,
        )  # fmt: skip
        _approve(s, admin, fits.id)
        other = factories.make_class_list(s, name="cityscapes-19")
        wrong = factories.make_mapping(s, source=source, target=other, edges=(), name="streets → cityscapes")
        _approve(s, admin, wrong.id)
        factories.make_mapping(s, source=source, target=target, edges=(), name="streets → demo-4 (draft)")
        body = DatasetCreate(
            name="demo-streets", taxonomy_id=source.id, root=str(root), image_pattern=IMAGE_PATTERN,
            label_template=LABEL_TEMPLATE, splits=["train", "val"],
        )  # fmt: skip
        dataset = dataset_service.register_dataset(s, body=body, settings=settings)
        model = model_service.register_model(
            s,
            body=ModelCreate(name="demo-teacher", source="folder", spec=str(teacher), taxonomy_id=target.id),
            settings=settings,
        )
        now = utcnow()
        job = Job(kind="pseudo_label", name="Demo pseudo-labels", status="running", shard_count=2,
                  dataset_id=dataset.id, model_id=model.id, progress_current=4, progress_total=24,
                  created_at=now - timedelta(minutes=3), queued_at=now - timedelta(minutes=3),
                  started_at=now - timedelta(seconds=150), message="pseudo-labelled 4/24")  # fmt: skip
        s.add(job)
        s.flush()
        shards = [
            Job(kind="pseudo_label", parent_id=job.id, shard_index=i, status="running", name=f"shard {i}",
                progress_current=2, progress_total=12, started_at=now - timedelta(seconds=140))
            for i in range(2)
        ]  # fmt: skip
        s.add_all(shards)
        s.flush()
        job_service.log(s, job.id, "planned 2 shards of 12 images")
        job_service.log(s, shards[1].id, "loaded the teacher on cpu")
        return Seeded(job.id, shards[1].id)


def _eta(page: Any) -> int | None:
    text = page.locator(".job-eta").inner_text()
    if "estimating" in text:
        return None
    m = re.search(r"ETA (?:(\d+) min )?(\d+) s", text)
    assert m, text
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def test_choosing_a_model_narrows_the_mappings_and_errors_come_at_once(  # type: ignore[no-untyped-def]
    new_page, seeded: Seeded, out_dir: Path
) -> None:
    page = new_page("erin")
    page.goto("/jobs/new")
    versions = page.get_by_label("Mapping version")
    assert versions.locator("option").count() == 3  # "— choose —" and both approved mappings
    page.get_by_label("Teacher model").select_option(label="demo-teacher (teacher)")
    page.wait_for_function("() => document.querySelectorAll('#f-mapping_version_id option').length === 2")
    assert "streets → demo-4 · v1 (approved)" in page.get_by_label("Mapping version").inner_text()
    summary = page.locator(".hidden-mappings summary")
    assert summary.inner_text() == (
        "2 mappings hidden: 1 targets another taxonomy than this model's, 1 has no approved version"
    )
    summary.click()
    assert "streets → cityscapes: targets 'cityscapes-19'; model 'demo-teacher' predicts 'demo-4'" in (
        page.locator(".hidden-mappings").inner_text()
    )
    page.get_by_label("Dataset").select_option(label="demo-streets")
    hint = page.locator("#job-mapping-versions .hint", has_text="from the dataset's taxonomy")
    hint.wait_for()  # swapped by HTMX once the dataset is chosen too
    assert (
        hint.inner_text() == "Mappings from the dataset's taxonomy 'demo-streets' to the model's, 'demo-4'."
    )
    page.locator(".hidden-mappings summary").click()
    _shot(page, out_dir, "jobs-new-filtered.png")
    # Every problem at once, each under its field, in words.
    page.get_by_label("Split (optional)").fill("test")
    page.get_by_label("Confidence threshold (optional)").fill("2")
    page.get_by_label("Output name (optional)").fill("../escape")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_selector("#f-threshold-desc.error")
    assert "choose a value" in page.locator("#f-mapping_version_id-desc").inner_text()
    assert "between 0 and 1" in page.locator("#f-threshold-desc").inner_text()
    assert page.locator("#f-split-desc").inner_text() == (
        "dataset 'demo-streets' has no split 'test' (it has 'train', 'val')"
    )
    assert "letters, digits, dots, underscores or hyphens" in page.locator("#f-output_name-desc").inner_text()
    assert "4 fields need attention" in page.locator(".alert-error").first.inner_text()
    _shot(page, out_dir, "jobs-new-errors.png")


def test_running_job_eta_counts_down_and_times_agree(  # type: ignore[no-untyped-def]
    new_page, seeded: Seeded, live_server: LiveServer, out_dir: Path
) -> None:
    page = new_page("vera")
    page.goto(f"/jobs/{seeded.job_id}")
    first = _eta(page)
    assert first is not None and 740 <= first <= 1000  # 20 left at 4 per 150+ s
    header = page.locator(f"#job-{seeded.job_id}-times")
    assert "submitted 3 min ago" in header.inner_text() and "started 2 min ago" in header.inner_text()
    card = page.locator(f"#job-{seeded.job_id}-status .props").inner_text()
    assert re.search(r"Submitted\s+3 min ago", card) and re.search(r"Started\s+2 min ago", card)
    # Two polls later, no batch has landed: the estimate fell (it used to grow).
    page.wait_for_function("() => document.querySelector('.job-status').hasAttribute('hx-vals')")
    page.wait_for_timeout(4500)
    later = _eta(page)
    assert later is not None and later < first, (first, later)
    # A batch lands: the rate moves towards the new measurement, the estimate stays in range.
    with unit_of_work(live_server.session_factory) as s:
        job = s.get(Job, seeded.job_id)
        assert job is not None
        job.progress_current, job.message = 8, "pseudo-labelled 8/24"
    page.wait_for_function(
        "() => document.querySelector('.job-progress-text').textContent.includes('8 / 24')"
    )
    after = _eta(page)
    assert after is not None and after < first
    log_link = page.locator("a.log-shard", has_text="shard 1")
    assert log_link.get_attribute("href") == f"/jobs/{seeded.shard_id}"
    _shot(page, out_dir, "jobs-detail-progress.png")
    log_link.click()
    page.wait_for_url(f"**/jobs/{seeded.shard_id}")
    assert f"#{seeded.job_id}" in page.locator(".breadcrumbs").inner_text()
    assert "shard 1 of job" in page.locator(".page-head .subtitle").first.inner_text()


def _shot(page: Any, out_dir: Path, name: str) -> None:
    page.screenshot(path=str(out_dir / name), full_page=True)


def test_a_survey_from_the_job_form(new_page, seeded: Seeded, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Choosing Survey hides the mapping version and the inference options and shows the sample size
    and seed; a bad sample size is refused under its field, a good one opens the job's page."""
    page = new_page("erin")
    page.goto("/jobs/new")
    assert page.get_by_label("Images to survey").is_hidden()
    page.locator("label:has(input[name=kind][value=survey])").click()
    assert page.get_by_label("Mapping version").is_hidden()
    assert page.get_by_label("Confidence threshold (optional)").is_hidden()
    assert page.get_by_label("Images to survey").input_value() == "200"
    page.get_by_label("Teacher model").select_option(label="demo-teacher (teacher)")
    page.get_by_label("Dataset").select_option(label="demo-streets")
    page.get_by_label("Images to survey").fill("0")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_selector("#f-sample_size-desc.error")
    assert "greater than or equal to 1" in page.locator("#f-sample_size-desc").inner_text()
    assert page.get_by_label("Mapping version").is_hidden()  # still a survey after the refusal
    _shot(page, out_dir, "jobs-new-survey.png")
    page.get_by_label("Images to survey").fill("3")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    assert "survey" in page.locator("main").inner_text().lower()
