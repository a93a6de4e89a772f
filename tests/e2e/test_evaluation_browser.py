"""Evaluation in the browser, end to end: Evaluate… on a model page opens the job form pre-filled,
a real worker evaluates the tiny teacher, the job page's evaluation panel shows mIoU, per-class IoU
and the confusion heat-map; a second model evaluated on the same data is compared side by side;
the model page shows its evaluations and a readable provenance card.

Reuses the app + worker server of ``test_jobs_browser`` (synthetic demo dataset, approved mapping).
With ``UNILABEL_SCREENSHOTS=1`` the screenshots go to ``docs/screenshots/evaluation-*.png``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.config import get_settings
from app.db.session import unit_of_work
from tests.e2e.test_jobs_browser import live_server, out_dir  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]
REPR = re.compile(r"\{'|\[\{|\bNone\b|\bTrue\b|\bFalse\b")


def _shot(page: Any, out: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(out / name), full_page=full)


def _register_second_teacher(live: Any) -> None:
    """A second tiny random teacher (another seed) over the same classes, registered as ``teacher-b``."""
    from app.schemas.models import ModelCreate
    from app.services import models as model_service
    from app.services import taxonomies as taxonomy_service
    from worker.demo import TARGET, make_teacher

    roots = Path(os.environ["UNILABEL_ALLOWED_DATA_ROOTS"])
    folder = make_teacher(roots / "teacher-b", seed=1)
    with unit_of_work(live.session_factory) as s:
        target = taxonomy_service.get_taxonomy_by_name(s, TARGET.name)
        body = ModelCreate(name="teacher-b", source="folder", spec=str(folder), taxonomy_id=target.id)
        model_service.register_model(s, body=body, settings=get_settings())


def _evaluate_from_model_page(page: Any, model: str) -> str:
    """Model page -> Evaluate… -> the pre-filled form -> submit; waits for the panel's result."""
    page.goto("/models")
    page.locator("a[href^='/models/']", has_text=model).first.click()
    page.get_by_role("link", name="Evaluate…").click()
    page.wait_for_url("**/jobs/new?*kind=evaluate*")
    assert page.locator("input[name=kind][value=evaluate]").is_checked()
    assert page.get_by_label("Teacher model").locator("option:checked").inner_text().startswith(model)
    with page.expect_response("**/jobs/new/mapping-versions*"):  # the compatible versions are reloaded
        page.get_by_label("Dataset").select_option(label="demo-streets")
    page.get_by_label("Mapping version").select_option(index=1)
    page.get_by_label("Test-time augmentation (flip + scales)").uncheck()
    page.get_by_label("Job title (optional)").fill(f"Evaluate {model}")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_load_state()
    assert re.search(r"/jobs/\d+$", page.url), page.locator("main").inner_text()  # not refused
    terminal = ", ".join(
        f"section.job-status[data-status='{s}']" for s in ("succeeded", "failed", "cancelled")
    )
    page.wait_for_selector(terminal, timeout=240_000)
    status = page.locator("section.job-status").get_attribute("data-status")
    assert status == "succeeded", page.locator("main").inner_text()
    page.wait_for_selector("section.evaluation-panel[data-status='succeeded'] .iou-table", timeout=20_000)
    return str(page.url.rsplit("/", 1)[1])


def test_evaluate_compare_and_read_provenance(new_page, live_server, out_dir: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _register_second_teacher(live_server)
    page = new_page("erin")
    first = _evaluate_from_model_page(page, "demo-teacher")
    panel = page.locator("section.evaluation-panel")
    assert panel.get_attribute("hx-trigger") is None  # polling stopped
    assert panel.locator(".iou-table tbody tr").count() == 4
    assert panel.locator(".confusion-table tbody tr").count() == 4
    assert panel.locator(".confusion-table thead th").count() == 6  # corner + 4 classes + void
    assert panel.locator(".split-table tbody tr").count() == 2  # train and val
    assert re.fullmatch(r"0\.\d{3}|1\.000", panel.locator(".stat-value").first.inner_text())
    result = page.locator(".job-result").inner_text()
    assert "per_class" not in result and "mIoU" in result
    assert not REPR.search(panel.inner_text())
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot: the sticky header stays on top
    _shot(page, out_dir, "evaluation-job.png")

    second = _evaluate_from_model_page(page, "teacher-b")
    page.get_by_role("link", name="compare with this one").click()
    page.wait_for_url(f"**/evaluations/compare?job_id={second}&job_id={first}")
    table = page.locator("table.compare-table")
    assert table.locator("tbody tr").count() == 4
    assert "teacher-b #" in table.inner_text().lower() and "demo-teacher #" in table.inner_text().lower()
    assert page.locator(".compare-runs tbody tr").count() == 2
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith(f"id,name,iou teacher-b (#{second}),iou demo-teacher (#{first})")
    _shot(page, out_dir, "evaluation-compare.png")

    page.goto("/jobs")
    page.get_by_role("link", name="Evaluations").click()
    group = page.locator(".evaluation-group")
    assert group.count() == 1 and group.locator("tbody tr").count() == 2
    group.get_by_label(f"Compare demo-teacher (job {first})").check()
    group.get_by_label(f"Compare teacher-b (job {second})").check()
    _shot(page, out_dir, "evaluation-list.png", full=False)
    group.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(f"**/evaluations/compare?job_id={second}&job_id={first}")

    page.goto("/models")
    page.locator("a[href^='/models/']", has_text="demo-teacher").first.click()
    card = page.locator("#model-provenance")
    assert "registered checkpoint, not trained here" in card.inner_text()
    assert re.search(r"unilabel \S+ · torch \S+ · transformers \S+", card.inner_text())
    evaluations = page.locator("#model-evaluations")
    assert evaluations.locator("tbody tr").count() == 1
    assert "with 1 other model" in evaluations.inner_text()
    assert not REPR.search(page.locator("main").inner_text())
    _shot(page, out_dir, "evaluation-model-provenance.png")
    viewer = new_page("vera")
    viewer.goto(page.url.replace(live_server.url, ""))
    assert viewer.get_by_role("link", name="Evaluate…").count() == 0  # viewers do not submit jobs
