"""The export form on a succeeded run's page and the download on the export job's page (issue 14)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from app.domain.exports import cvat_labelmap, export_classes
from app.queue import TASK_EXPORT
from tests.web.pages.conftest import Registry, unescape
from tests.web.pages.test_jobs import _set, _submit


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks sent after commit (captured instead of reaching a broker)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _finish_run(factory: sessionmaker[Session], job_id: int) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((2, 3), np.uint8)).save(out / "labels" / "a.png")
    (out / "pairs.jsonl").write_text(json.dumps({"image": "a.png", "label": None, "split": None}) + "\n")
    (out / "manifest.jsonl").write_text(
        json.dumps({"image": "a.png", "output": "a.png", "status": "ok"}) + "\n"
    )
    _set(factory, job_id, status="succeeded")


def test_export_form_queues_an_export_and_its_page_offers_the_archive(  # type: ignore[no-untyped-def]
    login, registry: Registry, sent: list[tuple[str, dict[str, Any]]], session_factory: sessionmaker[Session]
) -> None:
    run_id = _submit(login, registry, sent)
    editor, viewer = login("editor"), login("viewer")
    assert f'action="/jobs/{run_id}/export"' not in editor.get(f"/jobs/{run_id}").text  # type: ignore[attr-defined]
    r = editor.post(f"/jobs/{run_id}/export", {"format": "cvat"})
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{run_id}"
    assert "only succeeded runs" in unescape(editor.get(f"/jobs/{run_id}").text)  # type: ignore[attr-defined]
    _finish_run(session_factory, run_id)
    page = editor.get(f"/jobs/{run_id}").text  # type: ignore[attr-defined]
    assert f'action="/jobs/{run_id}/export"' in page and 'value="cityscapes"' in page
    assert f'action="/jobs/{run_id}/export"' not in viewer.get(f"/jobs/{run_id}").text  # type: ignore[attr-defined]
    assert viewer.post(f"/jobs/{run_id}/export", {"format": "cvat"}).status_code == 403
    r = editor.post(f"/jobs/{run_id}/export", {"format": "voc"})
    assert r.status_code == 303 and "is not an export format" in unescape(editor.get(f"/jobs/{run_id}").text)  # type: ignore[attr-defined]
    r = editor.post(f"/jobs/{run_id}/export", {"format": "cityscapes"})
    assert r.status_code == 303, r.text
    export_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert sent[-1][0] == TASK_EXPORT and sent[-1][1]["job_id"] == export_id
    page = editor.get(f"/jobs/{export_id}").text  # type: ignore[attr-defined]
    assert "Download export.zip" not in page
    listed = editor.get("/jobs?kind=export").text  # type: ignore[attr-defined]
    assert f'href="/jobs/{export_id}"' in listed and f'href="/jobs/{run_id}"' not in listed
    with session_factory() as s:
        job = s.get(Job, export_id)
        assert job is not None and job.output_dir and job.kind == "export"
        Path(job.output_dir).mkdir(parents=True)
        (Path(job.output_dir) / "export.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    _set(session_factory, export_id, status="succeeded", result_json=json.dumps({"images": 1}))
    page = viewer.get(f"/jobs/{export_id}").text  # type: ignore[attr-defined]
    assert f'href="/api/v1/jobs/{export_id}/export.zip"' in page and "as cityscapes" in page
    r = viewer.get(f"/api/v1/jobs/{export_id}/export.zip")  # type: ignore[attr-defined]
    assert r.status_code == 200 and r.content.startswith(b"PK")  # type: ignore[attr-defined]


def _cvat_zip(corrected: bool = True) -> bytes:
    from worker.demo import TARGET

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[:] = (128, 64, 128)  # drivable, as the run says
    if corrected:
        rgb[1, 2] = (0, 0, 142)  # vehicle
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("labelmap.txt", cvat_labelmap(export_classes(TARGET)))
        zf.writestr("SegmentationClass/a.png", png.getvalue())
    return buf.getvalue()


def test_cvat_import_form_makes_a_new_version(  # type: ignore[no-untyped-def]
    login, registry: Registry, sent: list[tuple[str, dict[str, Any]]], session_factory: sessionmaker[Session]
) -> None:
    run_id = _submit(login, registry, sent)
    _finish_run(session_factory, run_id)
    editor, viewer = login("editor"), login("viewer")
    page = editor.get(f"/jobs/{run_id}").text  # type: ignore[attr-defined]
    assert f'action="/jobs/{run_id}/cvat-import"' in page and 'enctype="multipart/form-data"' in page
    upload = {"file": ("task.zip", _cvat_zip(), "application/zip")}
    assert viewer.post(f"/jobs/{run_id}/cvat-import", files=upload).status_code == 403
    r = editor.post(f"/jobs/{run_id}/cvat-import", files={"file": ("t.zip", b"nope", "application/zip")})
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{run_id}"
    assert "not a zip archive" in unescape(editor.get(f"/jobs/{run_id}").text)  # type: ignore[attr-defined]
    r = editor.post(f"/jobs/{run_id}/cvat-import", files=upload)
    assert r.status_code == 303, r.text
    version_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = unescape(editor.get(f"/jobs/{version_id}").text)  # type: ignore[attr-defined]
    assert f"corrected labels v1 of run {run_id}" in page and "1 image(s) corrected by hand" in page
    with session_factory() as s:
        job = s.get(Job, version_id)
        assert job is not None and job.kind == "label_import" and job.output_dir
    ids = np.asarray(Image.open(Path(job.output_dir) / "labels" / "a.png"))
    assert ids[1, 2] == 1 and int(ids.sum()) == 1
