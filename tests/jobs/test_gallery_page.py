"""The review page's gallery: filter by source label / target class, sort, pages, URL state, bad input.

The job's outputs are a hand-written ``manifest.jsonl`` (the shape the worker writes, old shapes
too); one test runs a real job in-process and filters its manifest. Browser behaviour (large view,
keyboard) is in ``tests/e2e/test_gallery_browser.py``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.jobs.test_summary_errors import InProcessQueue, run_job  # noqa: F401  (fixture)

Headers = dict[str, str]
IMAGES = 30
# demo-streets values: road 1, car 3, sky 7; demo-4 ids: drivable 0, vehicle 1, sky 3
ROAD, CAR, SKY = "1", "3", "7"


def _record(i: int, *, class_pixels: bool = True, histogram: bool = True) -> dict[str, Any]:
    hist: dict[str, dict[str, int]] = {ROAD: {"0": 50}}
    if i % 3 == 0:
        hist[CAR] = {"1": 20}
    if i % 5 == 0:
        hist[SKY] = {"3": 10, "void": 2}
    out = f"labels/train/{i:04d}.png"
    record: dict[str, Any] = {
        "image": f"images/train/{i:04d}.png",
        "label": out,
        "output": out,
        "status": "ok",
        "files": [f"teacher/{out}", f"labels/{out}"],
        "correction_rate": round(((i * 7) % IMAGES) / IMAGES, 4),
        "void_fraction": round(((i * 11) % IMAGES) / 100, 4),
        "warnings": [],
    }
    if histogram:
        record["histogram"] = hist
    if class_pixels:
        cols: dict[str, int] = {}
        for row in hist.values():
            for t, n in row.items():
                cols[t] = cols.get(t, 0) + n
        record["class_pixels"] = cols
    return record


def _manifest(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def job(client: TestClient, editor: Headers, world: dict[str, Any], sent: list[Any]) -> dict[str, Any]:
    """A pseudo-label job whose output folder holds a manifest of IMAGES images plus two failures."""
    params = {
        "kind": "pseudo_label",
        "model_id": world["model"]["id"],
        "dataset_id": world["dataset"]["id"],
        "mapping_version_id": world["mapping"]["current_version"]["id"],
        "allow_unapproved": True,
        "override_reason": "gallery test",
    }
    body = client.post("/api/v1/jobs", json={"params": params}, headers=editor).json()
    out = Path(body["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    records = [_record(i) for i in range(IMAGES)]
    records.insert(4, {"image": "images/val/bad.png", "label": None, "status": "error",
                       "error_type": "unreadable image", "error": "truncated"})  # fmt: skip
    records.insert(9, {"image": "images/val/late.png", "label": None, "status": "missing"})
    (out / "manifest.jsonl").write_text(_manifest(records))
    (out / "summary.json").write_text(json.dumps({"written": IMAGES, "histogram_named": {}}))
    return dict(body) | {"out": out}


def _images(page: str) -> list[str]:
    return re.findall(r'<article class="review-item" aria-label="([^"]+)" id="review-item-\d+"', page)


def _get(client: TestClient, job: dict[str, Any], headers: Headers, query: str, **extra: str) -> Any:
    return client.get(f"/jobs/{job['id']}/review{query}", headers=headers | extra)


def test_filters_by_source_label_and_by_target_class(
    client: TestClient, viewer: Headers, job: dict[str, Any]
) -> None:
    r = _get(client, job, viewer, "?source=car")
    assert r.status_code == 200, r.text
    page = html.unescape(r.text)
    with_car = [f"images/train/{i:04d}.png" for i in range(IMAGES) if i % 3 == 0]
    assert sorted(_images(page)) == with_car
    assert "of 10" in page and "containing source label <strong>car</strong>" in page
    assert '<option value="car" selected>car (10)</option>' in page
    assert '<option value="truck" disabled>truck (0)</option>' in page  # no image contains it
    both = html.unescape(_get(client, job, viewer, "?source=car&target=sky").text)
    assert sorted(_images(both)) == [f"images/train/{i:04d}.png" for i in (0, 15)]
    assert "and target class <strong>sky</strong>" in both
    vehicle = html.unescape(_get(client, job, viewer, "?target=vehicle&sort=name&order=asc").text)
    assert _images(vehicle) == with_car[:10]
    none = html.unescape(_get(client, job, viewer, "?source=truck").text)
    assert _images(none) == [] and "No image of this run contains it" in none


def test_sorts_by_each_key_in_both_orders_and_pages_on_the_server(
    client: TestClient, viewer: Headers, job: dict[str, Any]
) -> None:
    records = [_record(i) for i in range(IMAGES)]
    worst = _images(html.unescape(_get(client, job, viewer, "").text))
    assert worst[:2] == ["images/val/bad.png", "images/val/late.png"]  # failed, then never labelled
    by_rate = sorted(records, key=lambda r: -r["correction_rate"])
    assert worst[2:] == [r["image"] for r in by_rate[:10]]
    void_asc = [r["image"] for r in sorted(records, key=lambda r: r["void_fraction"])]
    page2 = html.unescape(_get(client, job, viewer, "?sort=void&order=asc&page=2").text)
    assert _images(page2) == void_asc[12:24]
    assert 'aria-current="page">2<' in page2 and "Page 2 of 3" in page2
    assert 'href="/jobs/{}/review?sort=void&amp;order=asc&amp;page=3#review-gallery"'.format(job["id"]) in (
        _get(client, job, viewer, "?sort=void&order=asc&page=2").text
    )
    last = html.unescape(_get(client, job, viewer, "?sort=void&order=asc&page=3").text)
    assert _images(last) == void_asc[24:] + ["images/val/bad.png", "images/val/late.png"]
    names = sorted([r["image"] for r in records] + ["images/val/bad.png", "images/val/late.png"])
    assert _images(html.unescape(_get(client, job, viewer, "?sort=name&order=desc").text)) == names[::-1][:12]
    clamped = html.unescape(_get(client, job, viewer, "?sort=name&page=99").text)
    assert "Page 3 of 3" in clamped and _images(clamped) == names[::-1][24:]


def test_htmx_gets_the_gallery_alone_with_a_shareable_url(
    client: TestClient, viewer: Headers, job: dict[str, Any]
) -> None:
    r = _get(client, job, viewer, "?source=car&target=&sort=correction&order=desc&page=1",
             **{"HX-Request": "true", "HX-Target": "gallery-results"})  # fmt: skip
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="gallery-results"') and "<html" not in r.text
    assert r.headers["HX-Push-Url"] == f"/jobs/{job['id']}/review?source=car"
    # a history restore (or any other HTMX request) gets the whole page
    full = _get(
        client, job, viewer, "?source=car", **{"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in full.text and 'id="hist-title"' in full.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?source=nope", "source", "no source label 'nope' in taxonomy 'demo-streets'"),
        ("?target=Sky", "target", "no target class 'Sky' in taxonomy 'demo-4'"),
        ("?sort=size", "sort", "cannot sort by 'size': choose one of 'correction' (correction rate)"),
        ("?order=sideways", "order", "order must be 'desc' or 'asc', not 'sideways'"),
    ],
)
def test_bad_filter_or_sort_is_a_message_next_to_the_filters(
    client: TestClient, viewer: Headers, job: dict[str, Any], query: str, field: str, message: str
) -> None:
    r = _get(client, job, viewer, query, accept="text/html")
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert f'<li data-field="{field}">{message}' in page and 'id="hist-title"' in page  # still the page
    assert re.search(rf'<select id="gf-{field}" name="{field}" aria-invalid="true">', r.text)
    assert _images(page) == []
    fragment = _get(client, job, viewer, query, **{"HX-Request": "true", "HX-Target": "gallery-results"})
    assert fragment.status_code == 422 and fragment.headers["HX-Reswap"] == "outerHTML"
    assert message in html.unescape(fragment.text)


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5"])
def test_bad_page_number_is_refused_with_the_field_named(
    client: TestClient, viewer: Headers, job: dict[str, Any], page: str
) -> None:
    r = _get(client, job, viewer, f"?page={page}")
    assert r.status_code == 422 and r.json()["error"]["field"] == "page"


def test_old_outputs_stay_readable_and_say_what_they_cannot_filter(
    client: TestClient, viewer: Headers, job: dict[str, Any]
) -> None:
    manifest = job["out"] / "manifest.jsonl"
    # before class_pixels: target presence comes from the histogram's columns
    manifest.write_text(_manifest([_record(i, class_pixels=False) for i in range(IMAGES)]))
    r = _get(client, job, viewer, "?target=sky&sort=name&order=asc")
    assert r.status_code == 200
    assert _images(html.unescape(r.text)) == [f"images/train/{i:04d}.png" for i in range(0, IMAGES, 5)]
    # no ground truth, no class counts: everything shows, the filters say why they are off
    manifest.write_text(_manifest([_record(i, class_pixels=False, histogram=False) for i in range(3)]))
    plain = _get(client, job, viewer, "")
    assert plain.status_code == 200 and len(_images(plain.text)) == 3
    assert "not recorded by this run" in plain.text
    refused = _get(client, job, viewer, "?target=sky")
    assert refused.status_code == 422
    assert "this run recorded no target classes per image" in html.unescape(refused.text)


def test_the_manifest_is_parsed_once_until_it_changes(
    client: TestClient, viewer: Headers, job: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services import job_gallery

    calls: list[int] = []
    build = job_gallery.build_index

    def counting(records: Any) -> Any:
        calls.append(1)
        return build(records)

    monkeypatch.setattr(job_gallery, "build_index", counting)
    for query in ("", "?source=car", "?sort=name&page=2", "?target=vehicle"):
        assert _get(client, job, viewer, query).status_code == 200
    assert len(calls) == 1
    manifest = job["out"] / "manifest.jsonl"
    manifest.write_text(manifest.read_text() + json.dumps(_record(99)) + "\n")
    assert "(33 in the run)" in _get(client, job, viewer, "").text
    assert len(calls) == 2


def test_a_real_run_records_the_classes_of_each_pseudo_label(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    run_job: Any,  # noqa: F811
) -> None:
    job = run_job()
    assert job["status"] == "succeeded"
    out = Path(job["output_dir"])
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for r in records:
        values, counts = np.unique(np.asarray(Image.open(out / "labels" / r["output"])), return_counts=True)
        expected = {("void" if v == 255 else str(v)): int(n) for v, n in zip(values, counts, strict=True)}
        assert r["class_pixels"] == expected
    vehicle = [r["image"] for r in records if "1" in r["class_pixels"]]
    page = html.unescape(client.get(f"/jobs/{job['id']}/review?target=vehicle", headers=editor).text)
    assert sorted(_images(page)) == sorted(vehicle)


def test_teacher_layer_from_the_files_list_or_for_older_records_from_the_folder(
    client: TestClient, viewer: Headers, job: dict[str, Any]
) -> None:
    out: Path = job["out"]
    listed, unlisted, old = _record(0), _record(1), _record(2)
    unlisted["files"] = [f"labels/{unlisted['output']}"]  # written without the teacher map
    del old["files"]  # older records have no files list: the folder decides
    (out / "teacher" / "labels" / "train").mkdir(parents=True)
    (out / "teacher" / old["output"]).write_bytes(b"png")
    (out / "manifest.jsonl").write_text(_manifest([listed, unlisted, old]))
    page = _get(client, job, viewer, "?sort=name&order=asc").text
    cards = page.split('<article class="review-item"')[1:]
    assert [
        f"/overlay/teacher/{r['output']}" in c for c, r in zip(cards, (listed, unlisted, old), strict=True)
    ] == [
        True,
        False,
        True,
    ]
    assert "not recorded by this run" in cards[1]
