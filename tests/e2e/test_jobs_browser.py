"""Jobs in the browser, end to end: a real Celery worker process runs a sharded pseudo-label job
submitted through the form; the progress bar reaches 100 %; the review gallery opens; after a
reviewer approves a mapping change, the job page's *Update* button re-labels the affected images.

The app (uvicorn, background thread) and the worker (``celery worker`` subprocess) share a SQLite
database and the serverless SQLite broker. With ``UNILABEL_SCREENSHOTS=1`` the screenshots go to
``docs/screenshots/`` (datasets-*, models-*, jobs-*), otherwise to a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import get_settings, load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.queue import get_celery
from app.services import users as user_service
from tests.e2e.conftest import PASSWORD, LiveServer, _free_port
from tests.worker_process import REPO_ROOT, start_worker, stop_worker, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

IMAGES = 48


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _seed(factory: Any, settings: Any, tmp: Path) -> None:
    """Users, the synthetic demo dataset, the tiny random teacher and an approved mapping."""
    from worker.demo import make_dataset, make_teacher, register_demo

    root = make_dataset(tmp / "roots" / "streets", count=IMAGES, height=64, width=96)
    teacher = make_teacher(tmp / "roots" / "teacher")
    with unit_of_work(factory) as s:
        for name, role in (("erin", "editor"), ("rita", "reviewer"), ("vera", "viewer")):
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
        register_demo(s, settings, dataset_root=root, teacher_dir=teacher)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Overrides the conftest server: the app with a real broker, plus one worker process."""
    import uvicorn

    from app.web.main import create_app

    tmp = tmp_path_factory.mktemp("e2e-jobs")
    (tmp / "roots").mkdir()
    db_url = f"sqlite:///{tmp / 'e2e.db'}"
    env_vars = {
        "UNILABEL_DATABASE_URL": db_url,
        "UNILABEL_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        "UNILABEL_DATA_DIR": str(tmp / "data"),
        "UNILABEL_ALLOWED_DATA_ROOTS": str(tmp / "roots"),
        "UNILABEL_SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "UNILABEL_PUBLIC_READ": "false",
        "UNILABEL_JOB_PROGRESS_S": "0.2",
    }
    mp = pytest.MonkeyPatch()
    for key, value in env_vars.items():
        mp.setenv(key, value)
    get_settings.cache_clear()
    get_celery.cache_clear()
    upgrade_database(db_url)
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    _seed(factory, settings, tmp)
    worker = start_worker(
        tmp / "worker.log",
        dict(os.environ) | env_vars | {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"},
        hostname="e2e@%h",
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_ready(tmp / "worker.log", worker, timeout=120)
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield LiveServer(f"http://127.0.0.1:{port}", factory)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stop_worker(worker)
        engine.dispose()
        mp.undo()
        get_settings.cache_clear()
        get_celery.cache_clear()
        shutil.rmtree(tmp / "data" / "outputs", ignore_errors=True)


def _shot(page: Any, out_dir: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(out_dir / name), full_page=full)


def test_registry_pages(new_page, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = new_page("erin")
    page.get_by_role("link", name="Datasets").click()
    page.locator("a[href^='/datasets/']", has_text="demo-streets").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.overlay-layer')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".overlay-layer").count() == 6
    page.locator("input[data-overlay-opacity]").fill("80")
    assert page.locator("#samples").evaluate("e => e.style.getPropertyValue('--overlay-opacity')") == "0.8"
    _shot(page, out_dir, "datasets-detail.png")
    page.goto("/datasets")
    _shot(page, out_dir, "datasets-list.png", full=False)
    page.goto("/datasets/new")
    page.get_by_label("Name", exact=True).fill("outside")
    page.get_by_label("Root folder (absolute path)").fill("/etc")
    page.locator(".rule-choice .segmented label", has_text="Pattern").click()  # the form opens on Preset
    page.get_by_label("Source taxonomy (of the label files)").select_option(index=1)  # 0: "the preset's"
    page.get_by_label("Image pattern").fill("images/{split}/{stem}.png")
    page.get_by_role("button", name="Register and scan").click()
    assert "outside the allowed data roots" in page.locator("#f-root-desc").inner_text()
    _shot(page, out_dir, "datasets-register-error.png")
    page.goto("/models")
    _shot(page, out_dir, "models-list.png", full=False)
    page.locator("a[href^='/models/']", has_text="demo-teacher").first.click()
    page.get_by_text("match the taxonomy").wait_for()
    _shot(page, out_dir, "models-detail.png")


def test_submit_watch_progress_and_review(  # type: ignore[no-untyped-def]
    new_page, out_dir: Path, live_server: LiveServer
) -> None:
    page = new_page("erin")
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Teacher model").select_option(label="demo-teacher (teacher)")
    page.get_by_label("Dataset").select_option(label="demo-streets")
    page.get_by_label("Test-time augmentation (flip + scales)").uncheck()
    page.get_by_label("Confidence threshold (optional)").fill("2")
    page.get_by_role("button", name="Submit job").click()
    # inline errors: no mapping version chosen, threshold out of range; nothing was queued
    assert "choose a value" in page.locator("#f-mapping_version_id-desc").inner_text()
    assert "between 0 and 1" in page.locator("#f-threshold-desc").inner_text()
    _shot(page, out_dir, "jobs-new-error.png")
    page.get_by_label("Mapping version").select_option(index=1)
    page.get_by_label("Confidence threshold (optional)").fill("")
    page.get_by_label("Images per shard").fill("6")
    page.get_by_label("Output name (optional)").fill("browser-run")
    page.get_by_label("Job title (optional)").fill("Demo pseudo-labels")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url("**/jobs/*")
    job_id = int(page.url.rsplit("/", 1)[1])
    # the job may finish between two polls on a fast machine: the running screenshot is best effort
    page.wait_for_selector(
        "section.job-status[data-status='running'], section.job-status[data-status='succeeded']",
        timeout=120_000,
    )
    if page.locator("section.job-status").get_attribute("data-status") == "running":
        assert page.locator("section.job-status").get_attribute("hx-trigger") == "every 2s"
        _shot(page, out_dir, "jobs-detail-running.png")
    page.wait_for_selector("section.job-status[data-status='succeeded']", timeout=240_000)
    bar = page.locator("section.job-status [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "100.0"
    assert page.locator("section.job-status").get_attribute("hx-trigger") is None  # polling stopped
    assert page.locator(".job-shards tbody tr").count() == IMAGES // 6
    page.wait_for_selector(".job-result .stat-value")
    _shot(page, out_dir, "jobs-detail-succeeded.png")
    page.locator(".job-status").get_by_role("link", name="Review results").click()
    page.wait_for_url("**/review")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.review-item .overlay-layer')].slice(0, 6)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".review-item").count() == 12  # first page; the rest behind the pager
    assert page.locator(".histogram-table tbody tr").count() >= 5
    _shot(page, out_dir, "jobs-review.png", full=False)
    page.locator("input[data-overlay-opacity]").fill("45")
    gallery = page.locator("#review-gallery")
    assert gallery.evaluate("e => e.style.getPropertyValue('--overlay-opacity')") == "0.45"
    page.locator(".review-item").first.scroll_into_view_if_needed()
    page.evaluate("document.querySelector('.review-item').scrollIntoView()")
    _shot(page, out_dir, "jobs-review-gallery.png", full=False)
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**/review?page=2")
    assert page.locator(".review-item").count() == 12
    assert page.locator(".pager [aria-current=page]").inner_text() == "2"
    page.goto("/jobs")
    _shot(page, out_dir, "jobs-list.png", full=False)
    _update_with_the_button(page, live_server, job_id)


def _approve_truck_as_vegetation(server: LiveServer) -> None:
    """erin lets ``truck`` also become vegetation in the demo mapping; rita approves (services)."""
    from app.demo import ML_DEMO_MAPPING
    from app.services import mapping_edits, mappings, reviews

    with unit_of_work(server.session_factory) as s:
        erin, rita = user_service.get_user_by_name(s, "erin"), user_service.get_user_by_name(s, "rita")
        mapping = mappings.get_mapping_by_name(s, ML_DEMO_MAPPING)
        head = mappings.current_version(s, mapping.id)
        version = mapping_edits.toggle_edge(
            s, mapping_id=mapping.id, source_name="truck", target_id=2, on=True, author=erin,
            base_version_id=head.id,
        )  # fmt: skip
        reviews.submit_for_review(s, version_id=version.id, author=erin)
        reviews.approve(s, version_id=version.id, reviewer=rita, message="trucks under trees")


def _update_with_the_button(page: Any, server: LiveServer, job_id: int) -> None:
    """The stale run's page offers Update; the new job re-labels only the images with a truck."""
    _approve_truck_as_vegetation(server)
    page.goto(f"/jobs/{job_id}")
    stale = page.locator(f"#job-{job_id}-staleness", has_text="allowed set changed (truck)")
    stale.wait_for()
    affected = int(re.findall(rf"stale: (\d+) of {IMAGES} images", stale.inner_text())[0])
    page.get_by_role("button", name=re.compile(r"^Update to v\d+$")).click()
    page.wait_for_url(re.compile(rf"/jobs/(?!{job_id}$)\d+$"))
    page.wait_for_selector("section.job-status[data-status='succeeded']", timeout=240_000)
    page.reload()  # the Inputs card shows the counts once the job has ended
    update_of = page.locator(".props dd", has_text=f"job {job_id}").filter(
        has_text=re.compile(r"\d+ re-labelled, \d+ carried over")
    )
    update_of.wait_for()
    relabelled, carried = map(int, re.findall(r"\d+(?= re-labelled| carried)", update_of.inner_text()))
    assert (relabelled, carried) == (affected, IMAGES - affected), update_of.inner_text()
