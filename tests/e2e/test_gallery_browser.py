"""The pseudo-label gallery in the browser: filters and sort kept in the URL, server-side pages, and the
large view with per-layer toggles, opacity and keyboard navigation across pages.

The job is real: the demo dataset (30 synthetic images) labelled by the tiny random teacher, run
in-process through the Celery task functions before the server starts. With
``UNILABEL_SCREENSHOTS=1`` the screenshots go to ``docs/screenshots/`` (jobs-gallery-*), otherwise
to a temporary folder.
"""

from __future__ import annotations

import os
import re
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
from app.schemas.jobs import PseudoLabelParams
from app.services import jobs as job_service
from app.services import users as user_service
from tests.e2e.conftest import PASSWORD, LiveServer, _free_port
from tests.jobs.test_summary_errors import InProcessQueue

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = 30
JOB: dict[str, int] = {}


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _seed_and_run(factory: Any, settings: Any, tmp: Path, mp: pytest.MonkeyPatch) -> int:
    """Users, the demo dataset and teacher, and one finished pseudo-label job over it; its id."""
    from worker.demo import make_dataset, make_teacher, register_demo

    root = make_dataset(tmp / "roots" / "streets", count=IMAGES, height=48, width=72)
    teacher = make_teacher(tmp / "roots" / "teacher")
    with unit_of_work(factory) as s:
        for name, role in (("erin", "editor"), ("vera", "viewer")):
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
        ids = register_demo(s, settings, dataset_root=root, teacher_dir=teacher)
    queue = InProcessQueue(mp, factory)
    params = PseudoLabelParams(
        kind="pseudo_label",
        model_id=ids.model_id,
        dataset_id=ids.dataset_id,
        mapping_version_id=ids.mapping_version_id,
        tta=False,
    )
    with unit_of_work(factory) as s:
        job_id = job_service.submit_job(s, params=params, settings=settings).id
    queue.drain()
    return job_id


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Overrides the conftest server: the app over a database holding one finished job."""
    import uvicorn

    from app.web.main import create_app

    tmp = tmp_path_factory.mktemp("e2e-gallery")
    (tmp / "roots").mkdir()
    db_url = f"sqlite:///{tmp / 'e2e.db'}"
    env_vars = {
        "UNILABEL_DATABASE_URL": db_url,
        "UNILABEL_BROKER_URL": "memory://",
        "UNILABEL_DATA_DIR": str(tmp / "data"),
        "UNILABEL_ALLOWED_DATA_ROOTS": str(tmp / "roots"),
        "UNILABEL_SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "UNILABEL_PUBLIC_READ": "false",
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
    try:
        JOB["id"] = _seed_and_run(factory, settings, tmp, mp)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield LiveServer(f"http://127.0.0.1:{port}", factory)
        server.should_exit = True
        thread.join(timeout=10)
    finally:
        engine.dispose()
        mp.undo()
        get_settings.cache_clear()
        get_celery.cache_clear()


def _review(page: Any, query: str = "") -> None:
    page.goto(f"/jobs/{JOB['id']}/review{query}")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.review-item .overlay-layer')].slice(0, 8)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def _option_count(page: Any, select: str, name: str) -> int:
    text = page.locator(f"{select} option[value='{name}']").inner_text()
    match = re.search(r"\((\d+)\)", text)
    assert match, text
    return int(match.group(1))


def test_filters_and_sort_live_in_the_url(new_page: Any, out_dir: Path) -> None:
    page = new_page("vera")
    _review(page)
    assert page.locator(".review-item").count() == 12 and "Page 1 of 3" in page.locator(".pager").inner_text()
    vegetation = _option_count(page, "#gf-target", "vegetation")
    page.get_by_label("Target class", exact=True).select_option("vegetation")
    page.wait_for_url(re.compile(r"/review\?target=vegetation$"))
    page.wait_for_function(
        f"() => /of {vegetation} /.test(document.querySelector('.gallery-summary').textContent)"
    )
    page.get_by_label("Sort by", exact=True).select_option("name")
    page.wait_for_url(re.compile(r"\?target=vegetation&sort=name$"))
    page.get_by_label("Order", exact=True).select_option("asc")
    page.wait_for_url(re.compile(r"\?target=vegetation&sort=name&order=asc$"))
    names = page.locator(".review-item .review-open code").all_inner_texts()
    assert names == sorted(names) and len(names) == min(12, vegetation)
    shared = page.url
    page.evaluate("window.scrollTo(0, document.getElementById('review-gallery').offsetTop - 70)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.review-item .overlay-layer')].slice(0, 6)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    _shot(page, out_dir, "jobs-gallery-filtered.png", full=False)
    # the link is the state: a fresh visitor sees the same selection
    other = new_page("erin")
    other.goto(shared)
    assert other.get_by_label("Target class", exact=True).input_value() == "vegetation"
    assert other.get_by_label("Sort by", exact=True).input_value() == "name"
    assert other.locator(".review-item .review-open code").all_inner_texts() == names
    # an edited link with an unknown label: a message, the page still works
    other.goto(f"/jobs/{JOB['id']}/review?source=rodd")
    assert (
        "no source label 'rodd' in taxonomy 'demo-streets'" in other.locator("#gallery-errors").inner_text()
    )
    other.get_by_label("Source label", exact=True).select_option("road")
    other.wait_for_url(re.compile(r"\?source=road$"))
    assert other.locator("#gallery-errors").count() == 0 and other.locator(".review-item").count() > 0
    other.wait_for_function("() => !document.getElementById('gf-source').hasAttribute('aria-invalid')")


def _viewer_state(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
        const d = document.getElementById('gallery-viewer');
        const vis = l => getComputedStyle(d.querySelector(`img[data-layer=${l}]`)).visibility === 'visible';
        return {
          open: d.open, name: d.querySelector('[data-viewer-name]').textContent,
          pos: d.querySelector('[data-viewer-pos]').textContent,
          focus: document.activeElement && document.activeElement.textContent.trim(),
          image: vis('image'), gt: vis('gt'), teacher: vis('teacher'), pseudo: vis('pseudo'),
          opacity: d.querySelector('[data-viewer-stack]').style.getPropertyValue('--viewer-opacity'),
          src: d.querySelector('img[data-layer=pseudo]').getAttribute('src'),
        };
      }"""
        )
    )


def _pressed(page: Any, layer: str) -> str:
    return str(page.locator(f"[data-toggle-layer='{layer}']").get_attribute("aria-pressed"))


def test_large_view_layers_opacity_and_keyboard_navigation(new_page: Any, out_dir: Path) -> None:
    page = new_page("vera", width=1280, height=900)
    _review(page, "?sort=name&order=asc")
    names = page.locator(".review-item .review-open code").all_inner_texts()
    page.locator(".review-item").nth(1).locator(".overlay-figure").nth(
        3
    ).click()  # a click on a layer opens it
    dialog = page.locator("#gallery-viewer")
    dialog.wait_for(state="visible")
    state = _viewer_state(page)
    assert state["open"] and state["name"] == names[1] and state["pos"] == f"Image 2 of {IMAGES}"
    assert state["focus"].startswith("Close")  # focus moved into the dialog
    assert (state["image"], state["gt"], state["teacher"], state["pseudo"]) == (True, False, False, True)
    assert state["src"].endswith(names[1].replace("images/", "labels/"))
    page.keyboard.press("2")
    page.keyboard.press("3")
    page.keyboard.press("4")
    state = _viewer_state(page)
    assert (state["gt"], state["teacher"], state["pseudo"]) == (True, True, False)
    assert (_pressed(page, "gt"), _pressed(page, "pseudo")) == ("true", "false")
    page.keyboard.press("o")
    assert (
        _viewer_state(page)["opacity"] == "0.85"
        and "85 %" in dialog.locator("[data-viewer-opacity]").inner_text()
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery-viewer img')]"
        ".filter(i => i.style.visibility === 'visible').every(i => i.complete && i.naturalWidth > 0)"
    )
    _shot(page, out_dir, "jobs-gallery-viewer.png", full=False)
    # buttons do what the keys do
    dialog.get_by_role("button", name="1 Image").click()
    assert _viewer_state(page)["image"] is False and _pressed(page, "image") == "false"
    dialog.get_by_role("button", name="1 Image").click()
    page.keyboard.press("ArrowLeft")
    assert _viewer_state(page)["name"] == names[0]
    assert dialog.get_by_role("button", name="← Previous").is_disabled()  # first image of the first page
    dialog.get_by_role("button", name="Next →").click()
    assert _viewer_state(page)["name"] == names[1]
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert _viewer_state(page)["name"] == names[11]
    # past the page's last image: the next page is loaded and the URL follows
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"\?sort=name&order=asc&page=2$"))
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-pos]').textContent.startsWith('Image 13 ')"
    )
    second = page.locator(".review-item .review-open code").all_inner_texts()
    state = _viewer_state(page)
    assert state["open"] and state["name"] == second[0] and second[0] not in names
    assert (state["gt"], state["teacher"], state["pseudo"]) == (True, True, False)  # layer choice kept
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(r"\?sort=name&order=asc$"))
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-pos]').textContent.startsWith('Image 12 ')"
    )
    assert _viewer_state(page)["name"] == names[11]
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    focused = page.evaluate("() => document.activeElement.closest('.review-item').getAttribute('aria-label')")
    assert focused == names[11]  # the focus is back on the card of the image last viewed
    # the keyboard alone opens it again: Enter on the focused card button
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    assert _viewer_state(page)["name"] == names[11]
    dialog.get_by_role("button", name=re.compile("^Close")).click()
    dialog.wait_for(state="hidden")


def test_large_view_fits_a_phone_screen(new_page: Any, out_dir: Path) -> None:
    page = new_page("vera", width=390, height=740, scale=2)
    page.goto(f"/jobs/{JOB['id']}/review")
    # the cards lie far below on a phone (counts, filters): scroll so that their lazy images load
    page.locator("[data-viewer-open]").first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.review-item')].slice(0, 2)"
        ".flatMap(c => [...c.querySelectorAll('img')]).every(i => i.complete && i.naturalWidth > 0)"
    )
    page.locator("[data-viewer-open]").first.click()
    dialog = page.locator("#gallery-viewer")
    dialog.wait_for(state="visible")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    for name in ("← Previous", "Next →", "4 Pseudo-label", re.compile("^Close")):
        button = dialog.get_by_role("button", name=name)
        b = button.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= 390, name
    dialog.get_by_role("button", name="Next →").click()
    assert _viewer_state(page)["pos"].startswith("Image 2 ")
    _shot(page, out_dir, "jobs-gallery-viewer-phone.png", full=False)


def _shot(page: Any, out_dir: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(out_dir / name), full_page=full)
