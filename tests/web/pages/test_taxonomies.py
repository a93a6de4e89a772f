"""Taxonomy pages: list + search, import (good and bad files), detail, recolour, delete guard, roles."""

from __future__ import annotations

from app.db.models import Mapping
from tests.web.api.conftest import SOURCE_CSV


def _import(browser, data: bytes, name: str = "city", fmt: str = "labels_csv"):  # type: ignore[no-untyped-def]
    return browser.post(
        "/taxonomies/import", {"name": name, "fmt": fmt}, files={"file": ("labels.csv", data, "text/csv")}
    )


def test_import_labels_csv_then_detail_shows_swatches_next_to_names(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    r = _import(ed, SOURCE_CSV.encode())
    assert r.status_code == 303
    detail = ed.get(r.headers["location"]).text
    assert "Imported taxonomy" in detail  # flash toast
    assert 'style="background:#804080"' in detail and 'value="road"' in detail


def test_bad_upload_reports_the_problem_and_stores_nothing(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    r = _import(ed, b"\xff\xfe\x00garbage")
    assert r.status_code == 422
    assert "not UTF-8" in r.text or "binary" in r.text
    assert "No taxonomies found" in ed.get("/taxonomies").text


def test_search_fragment(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    r = viewer.get("/taxonomies?q=target", headers={"HX-Request": "true", "HX-Target": "taxonomy-rows"})
    assert r.status_code == 200 and r.text.startswith('<tbody id="taxonomy-rows">')
    assert "target-" in r.text and "source-" not in r.text


def test_viewer_cannot_import(login) -> None:  # type: ignore[no-untyped-def]
    r = _import(login("viewer"), SOURCE_CSV.encode())
    assert r.status_code == 403


def test_recolour_is_allowed_while_a_mapping_uses_the_label(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    tid = small_mapping.source_taxonomy_id
    r = ed.post(f"/taxonomies/{tid}/labels/1", {"name": "road", "color": "#123456", "color_was": "#804080"})
    assert r.status_code == 303, r.text
    assert 'style="background:#123456"' in ed.get(f"/taxonomies/{tid}").text


def test_rename_is_refused_while_a_mapping_uses_the_taxonomy(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    tid = small_mapping.source_taxonomy_id
    r = ed.post(f"/taxonomies/{tid}/labels/1", {"name": "Road", "color": "#804080", "color_was": "#804080"})
    assert r.status_code == 409 and "cannot change" in r.text


def test_delete_guard_lists_the_mappings_that_use_the_label(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    tid = small_mapping.source_taxonomy_id
    text = ed.get(f"/taxonomies/{tid}/labels/1/usage").text
    assert "is used by the current version of" in text and small_mapping.name in text
    assert "Deleting is blocked" in text


def test_delete_an_unused_label(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    location = _import(ed, SOURCE_CSV.encode()).headers["location"]
    tid = int(location.rsplit("/", 1)[1])
    assert "No mapping" in ed.get(f"/taxonomies/{tid}/labels/2/usage").text
    r = ed.post(f"/taxonomies/{tid}/labels/2/delete")
    assert r.status_code == 303
    assert 'value="sidewalk"' not in ed.get(f"/taxonomies/{tid}").text


def test_export_both_formats(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    tid = small_mapping.source_taxonomy_id
    csv = viewer.get(f"/taxonomies/{tid}/export?fmt=labels_csv")
    assert csv.status_code == 200 and csv.text.startswith("0,name,id,trainId")
    js = viewer.get(f"/taxonomies/{tid}/export?fmt=json")
    assert js.json()["labels"][1]["name"] == "road"


def test_generated_colours_are_marked_and_a_recolour_overrides_them(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    text = (
        "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
        "1,road,7,0,flat,1,False,False,\n"
    )
    r = _import(ed, text.encode(), name="plain")
    detail = ed.get(r.headers["location"]).text
    assert "not set" not in detail and "generated</small>" in detail
    tid = int(r.headers["location"].rsplit("/", 1)[1])
    ed.post(f"/taxonomies/{tid}/labels/0", {"name": "road", "color": "#123456", "color_was": "#000000"})
    detail = ed.get(f"/taxonomies/{tid}").text
    assert "<code>#123456</code>" in detail and "generated</small>" not in detail
