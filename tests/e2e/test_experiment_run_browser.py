"""The demo experiment run for real in the browser (issue 12): created from the new-experiment page,
watched stage by stage to its results table, its pseudo-labels reviewed with the keyboard, and updated
after a reviewer-approved mapping change (run 2 re-labels through an update of run 1's job).

A real Celery worker runs every job (``tests/e2e/conftest_worker.py``); the demo objects are those
of ``unilabel demo ml`` with 4 scenes of 48 x 64 per split, and the spec pasted on the page is the
demo's with a tiny recipe (2 iterations on 32 x 32 crops, no TTA). With ``UNILABEL_SCREENSHOTS=1``
the screenshots go to ``docs/screenshots/experiment-stale.png`` (run 1's results, review counts and
the stale notice) and ``experiment-updated.png`` (run 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest_worker import WorkerLiveServer, seed_demo_experiment, serve_with_worker
from tests.e2e.test_jobs_browser import out_dir  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

RUN_TIMEOUT_MS = 360_000  # a whole run on a loaded 2-core machine (about a minute when idle)
TINY = {"max_iterations": 2, "batch_size": 2, "crop_size": [32, 32], "val_every": 2, "log_every": 1}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerLiveServer]:
    """Overrides the conftest server: the app with the demo experiment's objects and a real worker."""
    with serve_with_worker(tmp_path_factory.mktemp("e2e-experiment-run"), seed_demo_experiment) as server:
        yield server


def _tiny_spec() -> str:
    """The demo spec (``worker.demo_experiment``) with a recipe of a few steps, as YAML."""
    from worker.demo_experiment import experiment_spec

    spec = experiment_spec()
    spec["teacher"] = {"train": {"preset": "quick", **TINY}}
    spec["student"] = {"training": {"preset": "quick", **TINY}}
    spec["pseudo_label"] = {"tta": False, "batch_size": 2, "shard_size": 4}
    spec["device"] = "cpu"
    return str(yaml.safe_dump(spec, sort_keys=False))


def _shot(page: Any, out: Path, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / name), full_page=True)


def _wait_run(page: Any, server: WorkerLiveServer, number: int) -> None:
    """Until the run panel (polling itself) says the run succeeded; its stages as evidence if not."""
    try:
        page.locator(f"#run-panel[data-status='succeeded'] h2:has-text('Run {number}')").wait_for(
            timeout=RUN_TIMEOUT_MS
        )
    except Exception as exc:
        panel = page.locator("#run-panel").inner_text()
        raise AssertionError(
            f"run {number} did not succeed:\n{panel}\n--- worker ---\n{server.worker_log()}"
        ) from exc


def _results(page: Any) -> dict[str, list[str]]:
    """Evaluation set -> [teacher, student, delta] cells of the results table."""
    rows = page.locator("#experiment-results table.results-table tbody tr")
    out = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        out[row.locator("th").inner_text().strip()] = [c.strip() for c in row.locator("td").all_inner_texts()]
    return out


def _approve_mapping_change(server: WorkerLiveServer) -> None:
    """erin drops ``vegetation -> bush`` from the coarse mapping and rita approves it (services)."""
    from app.db.session import unit_of_work
    from app.services import mapping_edits, mappings, reviews, users
    from worker.demo_experiment import COARSE_MAPPING

    with unit_of_work(server.session_factory) as s:
        erin, rita = users.get_user_by_name(s, "erin"), users.get_user_by_name(s, "rita")
        mapping = mappings.get_mapping_by_name(s, COARSE_MAPPING)
        head = mappings.current_version(s, mapping.id)
        version = mapping_edits.toggle_edge(
            s, mapping_id=mapping.id, source_name="vegetation", target_id=4, on=False, author=erin,
            base_version_id=head.id,
        )  # fmt: skip
        reviews.submit_for_review(s, version_id=version.id, author=erin)
        reviews.approve(s, version_id=version.id, reviewer=rita, message="bushes are not vegetation here")


def _review_two_images(page: Any) -> None:
    """On the review page: the first image accepted (a), the next rejected (r), in the large view."""
    page.locator(".review-item [data-viewer-open]").first.click()
    page.locator("#gallery-viewer").wait_for(state="visible")
    decision = page.locator("#gallery-viewer [data-viewer-decision]")
    page.keyboard.press("a")
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Accepted'"
    )
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Not reviewed'"
    )
    page.keyboard.press("r")
    page.wait_for_function(
        "() => document.querySelector('[data-viewer-decision]').textContent === 'Rejected'"
    )
    assert decision.inner_text() == "Rejected"


def _create_and_watch_run_1(page: Any, server: WorkerLiveServer) -> dict[str, list[str]]:
    """The form pre-filled with the demo's objects; the tiny spec pasted; run 1 watched to its results."""
    page.goto("/experiments/new")
    assert page.get_by_label("Name", exact=True).input_value() == "demo-scenes"
    assert page.get_by_label("Extra 1: dataset").input_value() == "demo-scenes-extra-a"
    assert page.get_by_label("Extra 2: dataset").input_value() == "demo-scenes-extra-b"
    page.get_by_label("Spec (YAML or JSON)").fill(_tiny_spec())
    page.get_by_role("button", name="Create from the spec").click()
    page.wait_for_url(re.compile(r"/experiments/\d+$"))
    url = page.url
    panel = page.locator("#run-panel")
    assert panel.get_attribute("data-status") == "running"
    assert panel.locator("tbody tr").count() == 8  # teacher, 2 pseudo-labels, student, 2 x 2 evaluations
    # Live: the stages finish one by one while the panel polls (no reload).
    panel.locator("tr[data-stage='teacher'][data-status='succeeded']").wait_for(timeout=RUN_TIMEOUT_MS)
    _wait_run(page, server, 1)
    assert "8 of 8 stages done" in page.locator("#run-panel .run-summary").inner_text()
    # The results section follows the panel (re-fetched when a stage finished), still no reload.
    page.locator("#experiment-results .results-progress", has_text="4 of 4 evaluations scored").wait_for()
    assert page.url == url
    results = _results(page)
    assert set(results) == {"demo-scenes-source-val", "demo-scenes-extra-a-val"}, results
    for name, (teacher, student, _delta) in results.items():  # student: "12.3 round 1"
        assert re.fullmatch(r"\d+\.\d", teacher), (name, teacher)
        assert re.fullmatch(r"\d+\.\d round 1", student), (name, student)
    return results


def _review_extra_a(page: Any, experiment_url: str) -> int:
    """Extra a's pseudo-labels reviewed with the keyboard; the counts on the experiment page; its job."""
    pl_row = page.locator("#run-panel tr[data-stage='pl:r1:0']")
    assert "4 unreviewed" in " ".join(pl_row.locator(".review-counts").inner_text().split())
    job = int(pl_row.locator("td a").inner_text().removeprefix("job "))
    pl_row.get_by_role("link", name="Review images").click()
    page.wait_for_url(f"**/jobs/{job}/review")
    _review_two_images(page)
    page.goto(experiment_url)
    counts = " ".join(page.locator(f"[data-review-counts='{job}']").inner_text().split())
    assert counts.startswith("1 accepted · 1 rejected · 2 unreviewed"), counts
    return job


def _stale_then_update(page: Any, server: WorkerLiveServer, out: Path, first_pl_job: int) -> None:
    """A reviewer-approved mapping change: the page says what it touches; Update runs run 2."""
    _approve_mapping_change(server)
    page.reload()
    stale = page.locator(".experiment-staleness li[data-stale='true']")
    assert stale.count() == 2  # both extras pin the coarse mapping
    summary = stale.first.inner_text()
    assert re.search(r"stale: \d of 4 images contain labels whose allowed set changed", summary), summary
    assert "vegetation" in summary
    _shot(page, out, "experiment-stale.png")
    page.get_by_role("button", name=re.compile("^Update")).click()
    page.wait_for_url(re.compile(r"/experiments/\d+\?run=2$"))
    _wait_run(page, server, 2)
    update_badge = page.locator("tr[data-stage='pl:r1:0'] .badge", has_text="update of")
    assert " ".join(update_badge.inner_text().split()) == f"update of job {first_pl_job}"
    page.locator("#experiment-results .results-progress", has_text="4 of 4 evaluations scored").wait_for()
    # The provenance card follows the run without a reload (it is part of the re-fetched results).
    page.locator("#experiment-results .provenance-card", has_text="Provenance of run 2").wait_for()
    _shot(page, out, "experiment-updated.png")


def _run_2_stages(server: WorkerLiveServer, experiment_id: int) -> dict[str, tuple[Any, Any]]:
    from app.db import repositories_experiments as repo
    from app.services import experiments as service

    with server.session_factory() as s:
        run = service.get_run(s, experiment_id, 2)
        rows = repo.stage_jobs(s, run.id)
        s.expunge_all()
        return {stage.key: (stage, job) for stage, job in rows}


def test_the_demo_experiment_runs_is_reviewed_and_updates(  # type: ignore[no-untyped-def]
    new_page,
    live_server: WorkerLiveServer,
    out_dir: Path,  # noqa: F811
) -> None:
    page = new_page("erin", width=1280, height=900)
    page.set_default_timeout(60_000)  # a loaded 2-core machine: every wait is on page state, generously
    results = _create_and_watch_run_1(page, live_server)
    experiment_url = page.url
    first_pl_job = _review_extra_a(page, experiment_url)
    _stale_then_update(page, live_server, out_dir, first_pl_job)
    assert set(_results(page)) == set(results)
    stages = _run_2_stages(live_server, int(experiment_url.rsplit("/", 1)[1]))
    assert stages["teacher"][0].reused  # the sources' mapping did not change
    pl_job = stages["pl:r1:0"][1]
    assert pl_job is not None and json.loads(pl_job.params_json)["update_from_job_id"] == first_pl_job
    # A decision survives the update where the image's label did not change (and only there).
    kept = _unchanged_labels(live_server, first_pl_job, pl_job.id)
    expected = f"{int(kept['accepted'])} accepted · {int(kept['rejected'])} rejected"
    counts = " ".join(page.locator(f"[data-review-counts='{pl_job.id}']").inner_text().split())
    assert counts.startswith(expected), (counts, kept)


def _unchanged_labels(server: WorkerLiveServer, before: int, after: int) -> dict[str, bool]:
    """Decision -> whether the image it was given to kept its label from job ``before`` to ``after``."""
    from sqlalchemy import select

    from app.db.models import ImageReview
    from app.db.models_registry import Job

    with server.session_factory() as s:
        dirs = {
            j.id: Path(j.output_dir or "") for j in s.scalars(select(Job).where(Job.id.in_((before, after))))
        }
        reviews = s.scalars(select(ImageReview).where(ImageReview.job_id == before)).all()
        decided = {r.decision: r.image for r in reviews}
    assert set(decided) == {"accepted", "rejected"}, decided

    def label(job: int, image: str) -> Any:
        import numpy as np
        from PIL import Image

        return np.asarray(Image.open(dirs[job] / "labels" / image.replace("images/", "labels/", 1)))

    return {d: bool((label(before, image) == label(after, image)).all()) for d, image in decided.items()}
