"""Experiments in the browser (issue 12): the form pre-filled with the demo experiment, a set row added
and removed with HTMX, an inline error, creation, the run panel's stages polling, cancel (behind a
confirm) and resume, the spec download.

The server is the conftest's (no worker: the broker is in memory, so the stages stay queued and the
run's states are the ones the test makes), seeded with the demo experiment's objects as
``unilabel demo ml`` registers them. With ``UNILABEL_SCREENSHOTS=1`` the screenshots go to
``docs/screenshots/experiment-*.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_jobs_browser import out_dir  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def demo_objects(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The demo experiment's taxonomies, approved mappings and datasets, registered as ``demo ml`` does."""
    from app.config import load_settings
    from app.db.session import unit_of_work
    from worker.demo_experiment import make_scene_sets, register_experiment

    tmp = tmp_path_factory.mktemp("experiment-demo")
    engine = live_server.session_factory.kw["bind"]
    settings = load_settings(
        database_url=str(engine.url), data_dir=tmp / "data", allowed_data_roots=[tmp], broker_url="memory://"
    )
    roots = make_scene_sets(tmp / "scenes")
    with unit_of_work(live_server.session_factory) as s:
        register_experiment(s, settings, roots=roots)


def _shot(page: Any, out: Path, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / name), full_page=True)


def test_create_the_demo_experiment_then_cancel_and_resume(  # type: ignore[no-untyped-def]
    new_page,
    demo_objects: None,
    out_dir: Path,  # noqa: F811
) -> None:
    page = new_page("erin")
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.wait_for_url("**/experiments")
    page.get_by_role("link", name="New experiment").first.click()
    page.wait_for_url("**/experiments/new")
    assert page.get_by_label("Name", exact=True).input_value() == "demo-scenes"
    assert page.get_by_label("Extra 2: dataset").input_value() == "demo-scenes-extra-b"
    assert page.get_by_label("Evaluation set 2: split").input_value() == "val"
    _shot(page, out_dir, "experiment-new.png")
    # HTMX: add an extra row (number 3), then remove it again.
    page.get_by_role("button", name="Add an extra").click()
    page.get_by_label("Extra 3: dataset").wait_for()
    page.get_by_role("button", name="Remove extra 3").click()
    page.get_by_label("Extra 3: dataset").wait_for(state="detached")
    # An inline error next to its field: a weight below 0.
    page.get_by_label("Extra 1: weight").fill("-1")
    page.get_by_role("button", name="Create and start run 1").click()
    error = page.locator("#f-extras-0-weight-desc")
    assert "greater than or equal to 0" in error.inner_text()
    assert page.get_by_label("Extra 2: dataset").input_value() == "demo-scenes-extra-b"  # values kept
    _shot(page, out_dir, "experiment-new-error.png")
    page.get_by_label("Extra 1: weight").fill("1")
    page.get_by_role("button", name="Create and start run 1").click()
    page.wait_for_url("**/experiments/*")
    panel = page.locator("#run-panel")
    assert panel.get_attribute("data-status") == "running"
    assert panel.get_attribute("hx-trigger") == "every 2s"
    stages = panel.locator("tbody tr")
    assert stages.count() == 8  # teacher, 2 pseudo-labels, student, 2 x 2 evaluations
    first = panel.locator("tr[data-stage='teacher']")
    assert "Train the teacher on the sources" in first.inner_text()
    assert first.get_by_role("link", name="job").count() == 1
    assert panel.locator("tr[data-status='waiting']").count() == 7
    _shot(page, out_dir, "experiment-running.png")
    # Cancel behind a confirm; the panel stops polling and offers Resume.
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel run 1").click()
    page.locator("#run-panel[data-status='cancelled']").wait_for()
    assert page.locator("#run-panel").get_attribute("hx-trigger") is None
    page.locator("#toasts").get_by_text("Run 1 cancelled").wait_for()
    _shot(page, out_dir, "experiment-cancelled.png")
    page.get_by_role("button", name="Resume run 1").click()
    page.locator("#run-panel[data-status='running']").wait_for()
    assert page.locator("#run-panel").get_attribute("hx-trigger") == "every 2s"
    assert page.locator("tr[data-stage='teacher']").get_attribute("data-status") == "queued"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download spec (YAML)").click()
    spec = yaml.safe_load(Path(download.value.path()).read_text())
    assert spec["name"] == "demo-scenes" and len(spec["extras"]) == 2
    page.goto("/experiments")
    row = page.locator("tr[data-experiment='demo-scenes']")
    assert "running" in row.inner_text() and "0 / 8" in row.inner_text()
    _shot(page, out_dir, "experiment-list.png")
    page.goto("/experiments/new")  # the demo's name is taken now: the next free one is offered
    assert page.get_by_label("Name", exact=True).input_value() == "demo-scenes-2"
    _approve_a_new_coarse_mapping(new_page, page)
    page.goto("/experiments")
    page.get_by_role("link", name="demo-scenes", exact=True).click()
    stale = page.locator("li[data-extra='demo-scenes-extra-a-train']")
    assert "stale: mapping v2 is approved (this run pins v1)" in stale.inner_text()
    assert "Update when run 1 has ended" in page.locator("#stale-title + ul + p").inner_text()
    _shot(page, out_dir, "experiment-stale.png")


def _api(page: Any, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    r = page.request.fetch(url, method=method, data=body or {}, headers={"X-CSRF-Token": token})
    assert r.ok, r.text()
    return r.json()


def _approve_a_new_coarse_mapping(new_page: Any, editor_page: Any) -> None:
    """Version 2 of demo-scenes-coarse-to-fine (one edge less), submitted by erin, approved by rita."""
    from worker.demo_experiment import COARSE_EDGES, COARSE_MAPPING

    listed = _api(editor_page, "GET", f"/api/v1/mappings?q={COARSE_MAPPING}")["items"]
    mapping_id = next(m["id"] for m in listed if m["name"] == COARSE_MAPPING)
    edges = [[s, t] for s, t in COARSE_EDGES][:-1]
    url = f"/api/v1/mappings/{mapping_id}"
    _api(editor_page, "PUT", f"{url}/edges", {"edges": edges, "base_version": 1})
    _api(editor_page, "POST", f"{url}/versions/2/submit")
    reviewer = new_page("rita")
    _api(reviewer, "POST", f"{url}/versions/2/approve")
