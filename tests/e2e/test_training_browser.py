"""Training in the browser, end to end: the form (inline error, then a valid submission), a real
worker trains the tiny model, the job page's training panel polls until the job ends and shows the
charts, the per-class IoU table, the confusion heatmap and the registered model.

Reuses the app + worker server of ``test_jobs_browser`` (synthetic demo dataset, approved mapping).
With ``UNILABEL_SCREENSHOTS=1`` the screenshots go to ``docs/screenshots/training-*.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_jobs_browser import live_server, out_dir  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]


def _shot(page, out: Path, name: str, *, full: bool = True) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(out / name), full_page=full)


def test_train_from_the_form_and_watch_the_panel(new_page, out_dir: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = new_page("erin")
    page.goto("/training/new")
    for set_label in ("Training set 1", "Validation set 1"):
        select = page.get_by_label(set_label, exact=True)
        select.select_option(label=select.locator("option", has_text="ground truth").first.inner_text())
    page.get_by_label("Split of set 1").fill("train")
    page.get_by_label("Split of validation set 1").fill("val")
    recipe = {"Iterations": "40", "Batch per device": "2", "Crop height": "48", "Crop width": "48",
              "Validate every": "8", "Learning rate": "0.0005"}  # fmt: skip
    for label, value in recipe.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Name of the trained model").fill("demo-student")
    page.get_by_label("Job title").fill("Demo student")
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, out_dir, "training-new.png")
    page.get_by_label("Crop height").fill("8")
    page.get_by_role("button", name="Queue training job").click()
    assert "at least 16 × 16" in page.locator("#f-crop_h-desc").inner_text()
    _shot(page, out_dir, "training-new-error.png")
    page.get_by_label("Crop height").fill("48")
    page.get_by_role("button", name="Queue training job").click()
    page.wait_for_url("**/jobs/*")
    panel = page.locator("section.training-panel")
    page.wait_for_selector(
        "section.training-panel[data-status='running'] .train-chart svg polyline,"
        " section.training-panel[data-status='succeeded']",
        timeout=180_000,
    )
    if panel.get_attribute("data-status") == "running":  # best effort: a fast machine may finish first
        assert panel.get_attribute("hx-trigger") == "every 3s"
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, out_dir, "training-job-running.png")
    page.wait_for_selector("section.training-panel[data-status='succeeded']", timeout=300_000)
    assert panel.get_attribute("hx-trigger") is None  # polling stopped
    assert panel.locator(".iou-table tbody tr").count() == 4
    assert panel.locator(".confusion-table tbody tr").count() == 4
    panel.get_by_role("link", name="demo-student").wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, out_dir, "training-job.png")
    panel.get_by_role("link", name="demo-student").click()
    page.wait_for_url("**/models/*")
