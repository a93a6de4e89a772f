"""The HTML editor, import and taxonomy pages enforce the size limits (here lowered, as UNILABEL_MAX_*
would) and never store an edge for a label the source taxonomy lacks."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Mapping
from app.services import mappings as mapping_service
from tests.web.api.conftest import SOURCE_CSV
from tests.web.pages.conftest import base_version_of, unescape


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_taxonomy_labels": 6, "max_mapping_edges": 4})


def _edit(browser, mapping_id: int, base: int, source: str, target: int, op: str):  # type: ignore[no-untyped-def]
    data = {"source": source, "target": target, "op": op, "base_version": base, "view": "rows"}
    return browser.post(f"/mappings/{mapping_id}/edges", data, htmx=True)


def test_editor_toggle_past_the_edge_cap_is_an_error_toast(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)  # 4 edges: the cap
    r = _edit(ed, small_mapping.id, base, "vegetation", 2, "add")
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#toasts"
    assert "the mapping would have 5 edges; at most 4 are allowed" in unescape(r.text)
    assert "Version <strong>1</strong>" in ed.get(f"/mappings/{small_mapping.id}").text
    r = _edit(ed, small_mapping.id, base, "road", 0, "remove")
    assert r.status_code == 200 and "saved as version 2" in unescape(r.text)


def test_import_page_reports_typos_and_stores_no_edge_for_them(  # type: ignore[no-untyped-def]
    login, small_mapping: Mapping, session_factory: sessionmaker[Session]
) -> None:
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    text = "trainId,name\n0,drivable,road,roadd\n1,obstacle,building\n2,vegetation\n3,sky,sky\n255,void\n"
    preview = ed.post(f"/mappings/{small_mapping.id}/import", {"base_version": base, "text": text})
    assert preview.status_code == 200
    page = unescape(preview.text)
    assert "'roadd' is not a label of source taxonomy" in page and "its edges were not imported" in page
    assert "Did you mean 'road'?" in page and "did you mean did you mean" not in page.lower()
    saved = ed.post(
        f"/mappings/{small_mapping.id}/import", {"base_version": base, "text": text, "confirm": "1"}
    )
    assert saved.status_code == 303
    with session_factory() as s:
        edges = mapping_service.version_edges(mapping_service.current_version(s, small_mapping.id)).edges
    assert edges == {("road", 0), ("building", 1), ("sky", 3)}


def test_adding_a_label_past_the_cap_shows_the_limit(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    files = {"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")}
    r = ed.post("/taxonomies/import", {"name": "city", "fmt": "labels_csv"}, files=files)  # 6 labels
    assert r.status_code == 303, r.text
    tid = int(r.headers["location"].rsplit("/", 1)[1])
    r = ed.post(f"/taxonomies/{tid}/labels", {"value": 40, "name": "pole", "color": ""})
    assert r.status_code == 422
    assert "taxonomy 'city' has 7 labels; at most 6 are allowed" in unescape(r.text)
    assert 'value="pole"' not in ed.get(f"/taxonomies/{tid}").text


def test_page_forms_refuse_names_with_control_characters(  # type: ignore[no-untyped-def]
    login, small_mapping: Mapping, session_factory: sessionmaker[Session]
) -> None:
    """The pages bypass the API's schema types, so the services refuse control characters themselves."""
    ed = login("editor")
    form = {
        "name": "bell\x07mapping",
        "source_taxonomy_id": small_mapping.source_taxonomy_id,
        "target_taxonomy_id": small_mapping.target_taxonomy_id,
    }
    r = ed.post("/mappings/new", form)
    assert r.status_code == 422
    assert "must not contain control characters (found U+0007)" in unescape(r.text)
    with session_factory() as s:
        names = [m.name for m in mapping_service.list_mappings(s)[0]]
    assert names == [small_mapping.name]
