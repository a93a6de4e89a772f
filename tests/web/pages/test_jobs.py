"""Job pages: submission form with inline errors (nothing stored), list, detail, the self-polling
status fragment (polls while queued/running, stops when terminal), cancel/retry role rules, review."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.web.pages.conftest import Registry, unescape

POLL = 'hx-trigger="every 2s"'


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks sent after commit (captured instead of reaching a broker)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _form(reg: Registry, **overrides: object) -> dict[str, object]:
    return {
        "kind": "pseudo_label", "model_id": reg.model_id, "dataset_id": reg.dataset_id,
        "mapping_version_id": reg.approved_version_id, "tta": "", "use_priors": "1", "shard_size": "50",
        "threshold": "", "output_name": "", "name": "", "max_images": "", "queue": "default",
    } | overrides  # fmt: skip


def _job_ids(factory: sessionmaker[Session]) -> list[int]:
    from app.services import jobs as job_service

    with factory() as s:
        return [j.id for j in job_service.list_jobs(s, limit=100)[0]]


def _set(factory: sessionmaker[Session], job_id: int, **values: object) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        for k, v in values.items():
            setattr(job, k, v)
        s.commit()


def _submit(login, reg: Registry, sent, **overrides: object) -> int:  # type: ignore[no-untyped-def]
    r = login("editor").post("/jobs/new", _form(reg, **overrides))
    assert r.status_code == 303, unescape(r.text)
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_form_offers_approved_versions_and_override_only_to_reviewers(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    editor_form = login("editor").get(f"/jobs/new?dataset_id={registry.dataset_id}").text
    assert f'value="{registry.approved_version_id}"' in editor_form
    assert f'value="{registry.draft_version_id}"' not in editor_form and "allow_unapproved" not in editor_form
    assert f'<option value="{registry.dataset_id}" selected>' in editor_form
    reviewer_form = login("reviewer").get("/jobs/new").text
    assert (
        f'value="{registry.draft_version_id}"' in reviewer_form and 'name="allow_unapproved"' in reviewer_form
    )
    assert login("viewer").get("/jobs/new").status_code == 403


def test_submit_queues_job_and_redirects_to_its_page(login, registry: Registry, sent) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(login, registry, sent, output_name="run-1", threshold="0.4")
    assert sent == [("unilabel.pseudo_label", {"job_id": job_id})]
    text = login("viewer").get(f"/jobs/{job_id}").text
    assert f'id="job-{job_id}-status"' in text and POLL in text and "queued" in text
    assert "demo map" in text and "Waiting for a worker" in text


def test_submit_runs_whole_tta_views_unless_windows_are_asked(  # type: ignore[no-untyped-def]
    login, registry: Registry, sent, session_factory
) -> None:
    page = login("editor").get("/jobs/new").text
    box = page[page.index('name="tta_windows"') - 40 : page.index("differs from the paper")]
    assert "checked" not in box  # whole views (the paper's TTA) unless the user asks
    default = _submit(login, registry, sent, tta="1")
    windows = _submit(login, registry, sent, tta="1", tta_windows="1")
    with session_factory() as s:
        params = {job_id: json.loads(s.get(Job, job_id).params_json) for job_id in (default, windows)}
    assert params[default]["tta"] is True and params[default]["tta_windows"] is False
    assert params[windows]["tta"] is True and params[windows]["tta_windows"] is True
    assert "tta_whole" not in params[default]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mapping_version_id": ""}, "mapping_version_id", "choose a value"),
        ({"threshold": "1.5"}, "threshold", "between 0 and 1"),
        ({"threshold": "high"}, "threshold", "is not a number"),
        ({"output_name": "../x"}, "output_name", "letters, digits, dots, underscores or hyphens"),
        ({"split": "test"}, "split", "has no split"),
        ({"model_id": "999"}, "model_id", "does not exist"),
        ({"allow_unapproved": "1", "override_reason": "trust me"}, "allow_unapproved", "only reviewers"),
    ],
)
def test_bad_input_shows_inline_error_and_creates_no_job(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent, overrides, field, message
) -> None:
    r = login("editor").post("/jobs/new", _form(registry, **overrides))
    assert r.status_code in (404, 409, 422)
    text = unescape(r.text)
    assert message in text, text[-3000:]
    assert f'id="f-{field}-desc"' in r.text or 'class="alert alert-error"' in r.text
    assert _job_ids(session_factory) == [] and sent == []


def test_unapproved_version_needs_reason_and_is_recorded(
    login, registry: Registry, session_factory, sent
) -> None:  # type: ignore[no-untyped-def]
    rv = login("reviewer")
    draft = {"mapping_version_id": registry.draft_version_id}
    r = rv.post("/jobs/new", _form(registry, **draft))
    assert r.status_code == 422 and "not approved" in unescape(r.text) and _job_ids(session_factory) == []
    r = rv.post("/jobs/new", _form(registry, **draft, allow_unapproved="1"))
    assert r.status_code == 422 and 'id="f-override_reason-desc"' in r.text
    r = rv.post("/jobs/new", _form(registry, **draft, allow_unapproved="1", override_reason="urgent demo"))
    assert r.status_code == 303
    text = unescape(rv.get(r.headers["location"]).text)
    assert "unapproved version used" in text and "urgent demo" in text


def test_status_fragment_polls_while_running_and_stops_when_terminal(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    job_id = _submit(login, registry, sent)
    viewer = login("viewer")
    hx = {"HX-Request": "true"}
    _set(
        session_factory, job_id, status="running", progress_current=3, progress_total=6, message="3/6 images"
    )
    frag = viewer.get(f"/jobs/{job_id}/status", headers=hx).text
    assert frag.startswith(f'<section id="job-{job_id}-status"')
    root = frag.split(">", 1)[0]
    assert f'hx-get="/jobs/{job_id}/status"' in root and POLL in root and 'hx-swap="outerHTML"' in root
    assert 'aria-valuenow="50.0"' in frag and "3 / 6" in frag and "ETA" in frag
    assert 'hx-swap-oob="true"' in frag and f'id="job-{job_id}-logs"' in frag  # log tail refreshed too
    assert "<html" not in frag
    _set(session_factory, job_id, status="succeeded", progress_current=6)
    frag = viewer.get(f"/jobs/{job_id}/status", headers=hx).text
    root = frag.split(">", 1)[0]
    assert "hx-get" not in root and "hx-trigger" not in root and 'data-status="succeeded"' in root
    assert 'aria-valuenow="100.0"' in frag
    page = viewer.get(f"/jobs/{job_id}").text
    assert "<html" in page and POLL not in page.split(f'id="job-{job_id}-status"')[1].split(">", 1)[0]


def test_cancel_and_retry_are_role_checked_and_csrf_protected(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    job_id = _submit(login, registry, sent)
    viewer = login("viewer")
    assert "Cancel job" not in viewer.get(f"/jobs/{job_id}").text
    assert viewer.post(f"/jobs/{job_id}/cancel", htmx=True).status_code == 403
    ed = login("editor")
    assert (
        ed.client.post(f"/jobs/{job_id}/cancel", headers={"HX-Request": "true"}).status_code == 403
    )  # no CSRF
    assert "Cancel job" in ed.get(f"/jobs/{job_id}").text
    r = ed.post(f"/jobs/{job_id}/cancel", htmx=True)
    assert (
        r.status_code == 200 and 'data-status="cancelled"' in r.text and POLL not in r.text.split(">", 1)[0]
    )
    assert "Cancel requested" in r.text and ">Retry</button>" in r.text
    r = ed.post(f"/jobs/{job_id}/cancel", htmx=True)  # already terminal: a toast, nothing swapped
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#toasts"
    r = ed.post(f"/jobs/{job_id}/retry")  # plain form post: redirect back
    assert r.status_code == 303 and len(sent) == 2
    assert POLL in ed.get(f"/jobs/{job_id}").text


def test_list_filters_by_status_and_kind(login, registry: Registry, session_factory, sent) -> None:  # type: ignore[no-untyped-def]
    first = _submit(login, registry, sent, name="first run")
    second = _submit(login, registry, sent, name="second run")
    _set(session_factory, first, status="failed", error="boom")
    viewer = login("viewer")
    full = viewer.get("/jobs").text
    assert "first run" in full and "second run" in full and 'aria-current="page">Jobs' in full
    frag = viewer.get(
        "/jobs?status=failed", headers={"HX-Request": "true", "HX-Target": "job-list-body"}
    ).text
    assert frag.startswith('<tbody id="job-list-body"') and "first run" in frag and "second run" not in frag
    assert "hx-trigger" not in frag.split(">", 1)[0]  # nothing running among the listed jobs
    frag = viewer.get(
        "/jobs?kind=evaluate", headers={"HX-Request": "true", "HX-Target": "job-list-body"}
    ).text
    assert "No jobs found" in frag
    assert str(second) in viewer.get("/jobs?status=queued").text


def _fake_outputs(out: Path, root: Path) -> None:
    """What a finished pseudo-label run leaves: labels/, manifest.jsonl, summary.json."""
    records = []
    for i, (split, rate) in enumerate((("train", 0.1), ("val", 0.6), ("train", 0.3))):
        rel = f"labels/{split}/{i:04d}.png"
        label = np.asarray(Image.open(root / rel))
        pseudo = np.where(label == 7, 3, np.where(label == 0, 255, 0)).astype(np.uint8)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pseudo).save(out / "labels" / split / f"{i:04d}.png")
        records.append(
            {"image": f"images/{split}/{i:04d}.png", "label": rel, "output": f"{split}/{i:04d}.png",
             "status": "ok", "correction_rate": rate, "void_fraction": 0.05, "warnings": []}
        )  # fmt: skip
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    summary = {
        "total": 3, "written": 3, "skipped_existing": 0, "failed": 0, "correction_rate": 0.2,
        "void_fraction": 0.05,
        "histogram_named": {
            "road": {"drivable": 900, "vehicle": 100}, "grass": {"vegetation": 10, "void": 90},
        },
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_review_gallery_worst_first_with_layers_legend_and_histogram(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    job_id = _submit(login, registry, sent, output_name="review-run")
    with session_factory() as s:
        out = Path(s.get(Job, job_id).output_dir)  # type: ignore[union-attr,arg-type]
    _fake_outputs(out, registry.root)
    _set(session_factory, job_id, status="succeeded")
    viewer = login("viewer")
    text = viewer.get(f"/jobs/{job_id}/review").text
    order = re.findall(r'<article class="review-item" aria-label="([^"]+)"', text)
    assert order == ["images/val/0001.png", "images/train/0002.png", "images/train/0000.png"]  # worst first
    for caption in ("Ground truth", "Teacher (unconstrained)", "Pseudo-label", "not recorded by this run"):
        assert caption in text
    assert 'data-overlay-opacity="review-gallery"' in text and "Label opacity" in text
    assert "drivable" in text and "<em>void</em>" in text  # legend names next to swatches
    assert "90 %" in text and "is-edge" in text  # grass: 90 % void (an edge), 10 % vegetation
    png = viewer.get(f"/jobs/{job_id}/overlay/labels/train/0000.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "Review results" in viewer.get(f"/jobs/{job_id}").text
