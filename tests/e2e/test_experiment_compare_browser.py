"""Comparing two experiments in the browser (issue 12): a viewer picks two experiments on
``/experiments/compare`` and reads their students side by side, per set and per class, then
switches to the teachers and downloads the Markdown table.

The experiments are made over the REST API of the live server (the ``world`` of tests/jobs: demo
taxonomies, an approved mapping, two synthetic datasets, the tiny teacher); their stage jobs are
finished by writing their rows as a worker would (no worker runs here).
With ``UNILABEL_SCREENSHOTS=1`` the screenshot goes to ``docs/screenshots/experiments-compare.png``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings, load_settings
from tests import factories
from tests.e2e.conftest import LiveServer
from tests.jobs.conftest import approve_version, taxonomy_json
from tests.jobs.experiment_results_world import TEACHER_VAL, run_to_scores

# fence-fix's student: better than paper-default's on both sets (confusions as in experiment_results_world)
FIX_VAL = [[97, 3, 0, 0, 0], [4, 36, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 50, 0]]
FIX_LANES = [[50, 0, 0, 0, 0], [0, 42, 8, 0, 0], [0, 0, 20, 0, 0], [0, 0, 0, 30, 0]]
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _headers(live: LiveServer, role: str, name: str) -> dict[str, str]:
    with live.session_factory() as s:
        _, token = factories.make_user(s, role=role, name=name)
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def _settings(live: LiveServer) -> Settings:
    """The live server's settings (same database and data folder; see tests/e2e/conftest.py)."""
    db = Path(str(live.session_factory.kw["bind"].url.database))
    return load_settings(
        database_url=f"sqlite:///{db}",
        broker_url="memory://",
        data_dir=db.parent / "data",
        secret_key="e2e-secret-key-0123456789abcdef",
        public_read=False,
    )


def _world(client: httpx.Client, editor: dict[str, str], settings: Settings) -> dict[str, Any]:
    """What tests/jobs' ``world`` fixture registers, over the live server's API."""
    from worker.demo import EDGES, SOURCE, TARGET, make_dataset, make_teacher

    def post(url: str, body: dict[str, Any], headers: dict[str, str] = editor) -> dict[str, Any]:
        r = client.post(url, json=body, headers=headers)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    source = post("/api/v1/taxonomies", taxonomy_json(SOURCE))
    target = post("/api/v1/taxonomies", taxonomy_json(TARGET))
    body = {"name": "m", "source_taxonomy_id": source["id"], "target_taxonomy_id": target["id"]}
    mapping = post("/api/v1/mappings", body | {"edges": [[s, t] for s, t in EDGES]})
    root = make_dataset(settings.data_dir / "streets", count=4, height=32, width=48)
    layout = {"image_pattern": "images/{split}/{stem}.png", "label_template": "labels/{split}/{stem}.png"}
    dataset = {"name": "streets", "taxonomy_id": source["id"], "root": str(root), "splits": ["train", "val"]}
    post("/api/v1/datasets", dataset | layout)
    teacher = make_teacher(settings.data_dir / "teacher")
    model = post(
        "/api/v1/models",
        {"name": "tiny", "source": "folder", "spec": str(teacher), "taxonomy_id": target["id"]},
    )
    return {"source": source, "target": target, "mapping": mapping, "model": model, "post": post}


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def test_compare_two_experiments(
    live_server: LiveServer, new_page: Any, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: None)  # no broker
    settings = _settings(live_server)
    editor = _headers(live_server, "editor", "ed-api")
    reviewer = _headers(live_server, "reviewer", "rev-api")
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        world = _world(client, editor, settings)
        approve_version(client, editor, reviewer, world["mapping"])  # type: ignore[arg-type]
        factory = live_server.session_factory
        a = run_to_scores(client, editor, factory, settings, world, "paper-default")
        b = run_to_scores(
            client,
            editor,
            factory,
            settings,
            world,
            "fence-fix",
            {"eval:teacher:0": TEACHER_VAL, "eval:student:r1:0": FIX_VAL, "eval:student:r1:1": FIX_LANES},
        )

    page = new_page("vera")  # a viewer
    page.goto("/experiments/compare")
    page.get_by_label("First").select_option(label=f"paper-default (#{a})")
    page.get_by_label("Second").select_option(label=f"fence-fix (#{b})")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(f"**/experiments/compare?a={a}&b={b}&side=student")
    summary = page.locator("table.results-table")
    heads = [t.strip() for t in summary.locator("thead th").all_text_contents()]  # (shown in capitals)
    assert heads == ["Evaluation set", "paper-default", "fence-fix", "Δ"]
    row = summary.locator("tbody tr", has_text="lanes-val")
    cells = [t.strip() for t in row.locator("td").all_text_contents()]
    assert cells[:2] == ["77.5", "88.9"] and cells[2].startswith("+11.4")  # + its words for screen readers
    page.get_by_role("table", name="IoU per class on streets-val, in points").wait_for()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(out_dir / "experiments-compare.png"), full_page=True)

    page.get_by_label("Compare", exact=True).select_option("teacher")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**side=teacher")
    page.get_by_role("heading", name="Teachers: mIoU per evaluation set").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Markdown").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename == "compare-paper-default-vs-fence-fix.md"
    text = saved.read_text(encoding="utf-8")
    assert "| streets-val | 57.1 | 57.1 | 0.0 |" in text and "| lanes-val | 86.7 | \u2013 | \u2013 |" in text
