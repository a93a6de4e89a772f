"""Editor: a name the source taxonomy lacks is a finding with a one-click fix, never a row (issue 11)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from app.services import mappings as mapping_service
from tests import factories
from tests.web.pages.conftest import base_version_of, unescape

# 'skyy' is a typo of the source label 'sky' (its edge to class 3 is not imported); 'tree' has no
# close label, so no suggestion.
TEXT = (
    "trainId,name\n0,drivable,road\n1,obstacle,building\n2,vegetation,tree\n3,sky,skyy\n255,void,unlabeled\n"
)
SKYY = "unknown_source_name|skyy|"


def _imported(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        source = factories.make_taxonomy(s)
        mapping = mapping_service.import_master_labels(s, text=TEXT, source_taxonomy_id=source.id).mapping
        s.commit()
        return mapping.id


def _sources(page: str) -> list[str]:
    return re.findall(r'<tr id="src-row-[^"]+" data-source="([^"]+)"', page)


def _fix(browser, mapping_id: int, base: int, finding: str):  # type: ignore[no-untyped-def]
    data = {"finding": finding, "base_version": base, "view": "rows"}
    return browser.post(f"/mappings/{mapping_id}/findings/apply", data, htmx=True)


def _head_edges(session_factory: sessionmaker[Session], mapping_id: int) -> set[tuple[str, int]]:
    with session_factory() as s:
        return set(mapping_service.version_edges(mapping_service.current_version(s, mapping_id)).edges)


def test_a_typo_is_a_finding_with_an_apply_button_not_a_row(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    mapping_id = _imported(session_factory)
    page = unescape(login("editor").get(f"/mappings/{mapping_id}").text)
    assert "skyy" not in _sources(page) and "tree" not in _sources(page)
    assert _sources(page)[:3] == ["unlabeled", "road", "sidewalk"]
    panel = page[page.index('id="mapping-validation"') :]
    assert "'skyy' is not a label of source taxonomy" in panel and "Did you mean 'sky'?" in panel
    assert "Its targets: sky" in panel and "Apply: sky" in panel
    assert panel.count("Apply:") == 1  # 'tree' has no suggestion (and no stored edge to remove)
    assert "Remove its edges" not in panel
    sky_row = page[page.index('data-source="sky"') : page.index("</tr>", page.index('data-source="sky"'))]
    hint = "The file maps <strong>skyy</strong>, which is not a label, to sky: it probably"
    assert hint in sky_row  # the row offers the fix too
    assert f'"finding": "{SKYY}"' in sky_row
    assert "Apply:" not in unescape(login("viewer").get(f"/mappings/{mapping_id}").text)


def test_one_click_moves_the_edge_to_the_suggested_label(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    mapping_id = _imported(session_factory)
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{mapping_id}").text)
    r = _fix(ed, mapping_id, base, SKYY)
    assert r.status_code == 200, r.text
    text = unescape(r.text)
    assert '<tr id="src-row-5" data-source="sky"' in text  # the real label's row, now with its chip
    assert "Applied the suggestion: ‘skyy’ → ‘sky’ · saved as version 2" in text
    assert "Apply: sky" not in text[text.index('id="mapping-validation"') :]
    assert ("sky", 3) in _head_edges(session_factory, mapping_id)
    again = _fix(ed, mapping_id, base, SKYY)  # the page's old base: nothing is applied twice
    assert again.status_code == 409 and "Reload the page" in unescape(again.text)
    nothing = _fix(ed, mapping_id, base_version_of(r.text), "unknown_source_name|tree|")
    assert nothing.status_code == 422 and "has no edge for 'tree'" in unescape(nothing.text)
    viewer = login("viewer")
    assert viewer.post(f"/mappings/{mapping_id}/findings/apply", {"finding": SKYY}).status_code == 403


def test_a_chip_edit_keeps_the_typo_finding_and_undo_brings_it_back(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    mapping_id = _imported(session_factory)
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{mapping_id}").text)
    data = {"source": "vegetation", "target": 2, "op": "add", "base_version": base, "view": "rows"}
    edited = ed.post(f"/mappings/{mapping_id}/edges", data, htmx=True)
    assert edited.status_code == 200
    after = unescape(ed.get(f"/mappings/{mapping_id}").text)
    assert "Apply: sky" in after  # still one click away
    assert "'tree' is not a label" not in after  # no suggestion, nothing to do: it stays with the import
    fixed = _fix(ed, mapping_id, base_version_of(edited.text), SKYY)
    assert fixed.status_code == 200
    data = {"base_version": base_version_of(fixed.text), "view": "rows"}
    undone = ed.post(f"/mappings/{mapping_id}/undo", data, htmx=True)
    assert undone.status_code == 200
    assert "Apply: sky" in unescape(undone.text)


def test_a_stored_edge_of_an_unknown_name_is_removed_from_the_panel(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A database written before edits were checked may hold such an edge ('zzz' -> 1, no suggestion)."""
    with session_factory() as s:
        mapping = factories.make_mapping(s)
        head = mapping_service.current_version(s, mapping.id)
        legacy = mapping_service.version_edges(head).with_edge("zzz", 1).with_edge("skyy", 2)
        head.edges_json, head.content_hash = legacy.canonical_json(), legacy.content_hash()
        head.edge_count = len(legacy)
        s.commit()
        mapping_id = mapping.id
    ed = login("editor")
    page = unescape(ed.get(f"/mappings/{mapping_id}").text)
    assert "zzz" not in _sources(page) and "skyy" not in _sources(page)
    matrix = unescape(ed.get(f"/mappings/{mapping_id}?view=matrix").text)
    assert 'data-source="zzz"' not in matrix
    panel = page[page.index('id="mapping-validation"') :]
    assert "Remove its edges" in panel and "Its targets: obstacle" in panel and "Apply: sky" in panel
    r = _fix(ed, mapping_id, base_version_of(page), "unknown_source_name|zzz|")
    assert r.status_code == 200 and "Removed the edges of ‘zzz’" in unescape(r.text)
    r = _fix(ed, mapping_id, base_version_of(r.text), SKYY)
    assert r.status_code == 200
    edges = _head_edges(session_factory, mapping_id)
    assert not {e for e in edges if e[0] in ("zzz", "skyy")} and ("sky", 2) in edges


def test_version_messages_name_the_classes(login, session_factory, small_mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{small_mapping.id}").text)
    for target, op in ((2, "add"), (255, "add")):
        data = {"source": "vegetation", "target": target, "op": op, "base_version": base, "view": "rows"}
        base = base_version_of(ed.post(f"/mappings/{small_mapping.id}/edges", data, htmx=True).text)
    data = {"source": "road", "target": 0, "op": "remove", "base_version": base, "view": "rows"}
    ed.post(f"/mappings/{small_mapping.id}/edges", data, htmx=True)
    with session_factory() as s:
        versions, _ = mapping_service.list_versions(s, small_mapping.id)
        messages = [v.message for v in versions]
    assert messages[:3] == [
        "Unmap 'road' → drivable",
        "Map 'vegetation' → void",
        "Map 'vegetation' → vegetation",
    ]


def test_mapping_the_real_label_by_hand_settles_the_typo(login, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        source = factories.make_taxonomy(s)
        text = TEXT.replace("0,drivable,road", "0,drivable,roadd")
        result = mapping_service.import_master_labels(s, text=text, source_taxonomy_id=source.id)
        mapping_id = result.mapping.id
        s.commit()
    ed = login("editor")
    base = base_version_of(ed.get(f"/mappings/{mapping_id}").text)
    data = {"source": "sky", "target": 3, "op": "add", "base_version": base, "view": "rows"}
    r = ed.post(f"/mappings/{mapping_id}/edges", data, htmx=True)
    assert r.status_code == 200
    panel = unescape(r.text)  # the validation panel swapped in by the edit
    assert "'skyy' is not a label" not in panel and "Apply: sky" not in panel
    assert "Apply: road" in panel  # the other typo is still one click away
