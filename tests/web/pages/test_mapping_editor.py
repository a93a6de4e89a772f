"""Mapping editor over HTTP: full pages vs HTMX fragments, OOB swaps, 409 conflicts, undo, roles."""

from __future__ import annotations

import re

from app.db.models import Mapping
from tests.web.pages.conftest import base_version_of, unescape


def _edit(browser, mapping_id: int, base: int, source: str, target: int, op: str, view: str = "rows"):  # type: ignore[no-untyped-def]
    data = {"source": source, "target": target, "op": op, "base_version": base, "view": view}
    return browser.post(f"/mappings/{mapping_id}/edges", data, htmx=True)


class TestEditorPage:
    def test_rows_view_lists_every_source_label_with_swatch_and_state(
        self, login, small_mapping: Mapping
    ) -> None:
        page = login("viewer").get(f"/mappings/{small_mapping.id}")
        assert page.status_code == 200
        text = page.text
        for name in ("unlabeled", "road", "sidewalk", "building", "vegetation", "sky", "license plate"):
            assert f'data-source="{name}"' in text
        assert 'id="mapping-validation"' in text and 'id="editor-state"' in text
        assert "unmapped" in text  # vegetation has no edge
        assert 'class="swatch" style="background:#804080"' in text  # colour next to the name

    def test_viewer_sees_no_edit_controls(self, login, small_mapping: Mapping) -> None:
        text = login("viewer").get(f"/mappings/{small_mapping.id}").text
        assert "data-typeahead" not in text and 'id="undo-button"' not in text
        assert "editing needs the" in text

    def test_matrix_view_has_a_cell_per_source_and_target(self, login, small_mapping: Mapping) -> None:
        text = login("editor").get(f"/mappings/{small_mapping.id}?view=matrix").text
        cells = re.findall(r'<td id="c[^"]+"', text)
        assert len(cells) == 7 * 5  # 7 source labels x (4 classes + void)
        assert text.count('aria-pressed="true"') == 4

    def test_filter_fragment_returns_only_matching_rows(self, login, small_mapping: Mapping) -> None:
        r = login("viewer").get(
            f"/mappings/{small_mapping.id}/rows?filter=unmapped", headers={"HX-Request": "true"}
        )
        assert r.status_code == 200
        assert r.text.lstrip().startswith("{#") is False and '<tbody id="mapping-rows-body">' in r.text
        sources = re.findall(r'data-source="([^"]+)"', r.text)
        assert sources == ["unlabeled", "vegetation", "license plate"]
        assert "<html" not in r.text

    def test_search_fragment_matches_names(self, login, small_mapping: Mapping) -> None:
        r = login("viewer").get(f"/mappings/{small_mapping.id}/rows?q=SIDE")
        assert re.findall(r'data-source="([^"]+)"', r.text) == ["sidewalk"]


class TestEdgeEdits:
    def test_add_edge_answers_oob_row_validation_state_and_toast(self, login, small_mapping: Mapping) -> None:
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
        r = _edit(ed, small_mapping.id, base, "vegetation", 2, "add")
        assert r.status_code == 200, r.text
        assert '<tr id="src-row-4" data-source="vegetation"' in r.text and 'hx-swap-oob="true"' in r.text
        assert 'id="mapping-validation"' in r.text and 'id="undo-button"' in r.text
        assert 'id="toasts" hx-swap-oob="beforeend"' in r.text
        assert "saved as version 2" in unescape(r.text)
        assert '<small id="count-unmapped" hx-swap-oob="true">(2)</small>' in r.text  # was 3
        assert base_version_of(r.text) != base  # the next edit carries the new base
        page = ed.get(f"/mappings/{small_mapping.id}").text
        assert "Version <strong>2</strong>" in page

    def test_matrix_edit_answers_the_cell_and_row_header(self, login, small_mapping: Mapping) -> None:
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{small_mapping.id}?view=matrix").text)
        r = _edit(ed, small_mapping.id, base, "sky", 3, "remove", view="matrix")
        assert r.status_code == 200
        assert re.search(r'<td id="c5-3" hx-swap-oob="true"><button aria-pressed="false"', r.text)
        assert '<th scope="row" id="r5"' in r.text

    def test_stale_base_gets_409_with_both_states_and_nothing_lost(
        self, login, small_mapping: Mapping
    ) -> None:
        alice, bob = login("editor", "alice"), login("editor", "bob")
        base = base_version_of(alice.get(f"/mappings/{small_mapping.id}").text)
        assert _edit(bob, small_mapping.id, base, "building", 2, "add").status_code == 200
        r = _edit(alice, small_mapping.id, base, "vegetation", 2, "add")
        assert r.status_code == 409
        assert r.headers["HX-Retarget"] == "#conflict-panel"
        text = unescape(r.text)
        assert "Someone else changed this mapping" in text and "by <strong>bob</strong>" in text
        assert "Reapply my change on version 2" in text
        assert '"source": "vegetation"' in text  # the reapply button carries the edit
        # bob's edit is shown to alice (row refreshed), and the new base is handed over
        assert '<tr id="src-row-3" data-source="building"' in r.text
        new_base = base_version_of(r.text)
        assert _edit(alice, small_mapping.id, new_base, "vegetation", 2, "add").status_code == 200
        page = alice.get(f"/mappings/{small_mapping.id}?view=matrix").text
        assert re.search(r'id="c3-2"><button aria-pressed="true"', page)  # bob's building -> vegetation
        assert re.search(r'id="c4-2"><button aria-pressed="true"', page)  # alice's vegetation -> vegetation

    def test_undo_steps_back_one_edit(self, login, small_mapping: Mapping) -> None:
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
        r = _edit(ed, small_mapping.id, base, "vegetation", 2, "add")
        r = ed.post(
            f"/mappings/{small_mapping.id}/undo", {"base_version": base_version_of(r.text)}, htmx=True
        )
        assert r.status_code == 200, r.text
        assert "Undone (1 edge changed)" in r.text
        assert '<tr id="src-row-4" data-source="vegetation"' in r.text
        text = ed.get(f"/mappings/{small_mapping.id}?view=matrix").text
        assert not re.search(r'id="c4-2"><button aria-pressed="true"', text)

    def test_unknown_source_gets_an_error_toast_and_no_version(self, login, small_mapping: Mapping) -> None:
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
        r = _edit(ed, small_mapping.id, base, "roadd", 0, "add")
        assert r.status_code == 422
        assert r.headers["HX-Retarget"] == "#toasts"
        assert "is not a label of" in unescape(r.text)
        assert "Version <strong>1</strong>" in ed.get(f"/mappings/{small_mapping.id}").text


class TestRoles:
    def test_viewer_cannot_edit(self, login, small_mapping: Mapping) -> None:
        viewer = login("viewer")
        base = base_version_of(viewer.get(f"/mappings/{small_mapping.id}").text)
        r = _edit(viewer, small_mapping.id, base, "vegetation", 2, "add")
        assert r.status_code == 403
        assert "Version <strong>1</strong>" in viewer.get(f"/mappings/{small_mapping.id}").text

    def test_edit_without_csrf_token_is_refused(self, login, small_mapping: Mapping) -> None:
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
        r = ed.client.post(
            f"/mappings/{small_mapping.id}/edges",
            data={"source": "vegetation", "target": 2, "op": "add", "base_version": base},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 403

    def test_anonymous_browser_is_sent_to_login(self, client, small_mapping: Mapping) -> None:
        r = client.get(
            f"/mappings/{small_mapping.id}", headers={"Accept": "text/html"}, follow_redirects=False
        )
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
