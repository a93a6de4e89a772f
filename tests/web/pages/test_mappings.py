"""Mapping list, creation, master_labels import with preview, export, versions, diff, restore."""

from __future__ import annotations

import re

from app.db.models import Mapping
from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV
from tests.web.pages.conftest import base_version_of


def test_list_shows_status_validation_badge_and_last_editor(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    text = login("viewer").get("/mappings").text
    assert small_mapping.name.replace("→", "&rarr;") in text or small_mapping.name in text
    assert "badge-draft" in text and "warning" in text  # vegetation unmapped, class 2 unreached


def test_list_search_fragment(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    r = login("viewer").get(
        "/mappings?q=zzz", headers={"HX-Request": "true", "HX-Target": "mapping-list-body"}
    )
    assert r.text.startswith('<tbody id="mapping-list-body">') and "No mappings found" in r.text


def test_create_empty_mapping(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    assert "Start from scratch" in ed.get("/mappings/new").text
    r = ed.post(
        "/mappings/new",
        {
            "name": "second",
            "source_taxonomy_id": small_mapping.source_taxonomy_id,
            "target_taxonomy_id": small_mapping.target_taxonomy_id,
        },
    )
    assert r.status_code == 303
    page = ed.get(r.headers["location"]).text
    assert "Created mapping" in page and "Version <strong>1</strong>" in page


def test_import_new_mapping_from_master_labels(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    loc = ed.post(
        "/taxonomies/import",
        {"name": "city", "fmt": "labels_csv"},
        files={"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")},
    ).headers["location"]
    source_id = int(loc.rsplit("/", 1)[1])
    r = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id, "name": "tiny"},
        files={"file": ("m.csv", MASTER_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 303, r.text
    assert "sidewalk" in ed.get(r.headers["location"]).text


def test_import_into_mapping_previews_before_saving(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    csv = (
        "id,name\n0,drivable,road\n1,obstacle,building,vegetation\n2,vegetation\n"
        "3,sky,sky,skyy\n255,void,unlabeled\n"
    )
    page = ed.get(f"/mappings/{small_mapping.id}/import").text
    base = base_version_of(page)
    r = ed.post(
        f"/mappings/{small_mapping.id}/import",
        {"base_version": base},
        files={"file": ("m.csv", csv.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert "Validation report of the file" in r.text and "skyy" in r.text
    assert "Version <strong>1</strong>" in ed.get(f"/mappings/{small_mapping.id}").text  # nothing saved yet
    text = re.search(r'<textarea name="text" hidden aria-hidden="true">(.*?)</textarea>', r.text, re.S).group(
        1
    )
    import html

    r = ed.post(
        f"/mappings/{small_mapping.id}/import",
        {"base_version": base, "confirm": "1", "text": html.unescape(text)},
    )
    assert r.status_code == 303
    assert "Version <strong>2</strong>" in ed.get(f"/mappings/{small_mapping.id}").text


def test_export_csv_downloads_the_version(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    r = login("viewer").get(f"/mappings/{small_mapping.id}/export.csv")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="master_labels_')
    assert "0,drivable,road,sidewalk" in r.text.replace("\r\n", "\n")


def test_versions_diff_and_restore(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    ed.post(
        f"/mappings/{small_mapping.id}/edges",
        {"source": "sky", "target": 3, "op": "remove", "base_version": base},
        htmx=True,
    )
    versions = ed.get(f"/mappings/{small_mapping.id}/versions").text
    assert "Unmap" in versions and "(current)" in versions
    diff = ed.get(f"/mappings/{small_mapping.id}/diff?old=1&new=2").text
    assert "−1</strong> edges removed" in diff and "sky" in diff
    head = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    r = ed.post(f"/mappings/{small_mapping.id}/versions/1/restore", {"base_version": head})
    assert r.status_code == 303
    page = ed.get(f"/mappings/{small_mapping.id}").text
    assert "Restored version 1 as new draft version 3" in page


def test_viewer_cannot_restore_or_import(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    assert (
        viewer.post(f"/mappings/{small_mapping.id}/versions/1/restore", {"base_version": 1}).status_code
        == 403
    )
    assert (
        viewer.get(f"/mappings/{small_mapping.id}/import", headers={"Accept": "text/html"}).status_code == 403
    )
