"""The taxonomy page lists the warnings of its imported labels.csv while its labels equal the file's."""

from __future__ import annotations

from tests.web.api.test_taxonomy_import_warnings import LABELS


def test_the_taxonomy_page_lists_the_file_warnings_until_the_labels_are_edited(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    r = ed.post(
        "/taxonomies/import",
        {"name": "CamVid", "fmt": "labels_csv"},
        files={"file": ("labels.csv", LABELS.encode(), "text/csv")},
    )
    assert r.status_code == 303, r.text
    page = ed.get(r.headers["location"]).text
    assert "the file has 2 warnings (listed on the page)" in page
    assert "Warnings of the imported file (2)" in page
    assert "categoryId &#39;x&#39; is not an integer (file row 3, column 6)" in page
    assert "<code>duplicate_label_name</code> &#39;Bicyclist&#39; names 2 labels (file rows 4, 5" in page
    tid = r.headers["location"].rsplit("/", 1)[1]
    edit = ed.post(f"/taxonomies/{tid}/labels/3", {"name": "Pedestrian", "color": "#112233"})
    assert edit.status_code in (200, 303), edit.text
    assert "Warnings of the imported file" not in ed.get(f"/taxonomies/{tid}").text
