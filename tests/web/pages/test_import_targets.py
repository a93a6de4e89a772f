"""The "New mapping" import page: a target typo shows the differing classes with two explicit
choices (issue 11); target names are derived from the file name, honoured, and the outcome is said
(issue 13's parity with the CLI); importing into a mapping lists the differing classes."""

from __future__ import annotations

import html
import re

from app.db.models import Mapping
from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV

TYPO_CSV = MASTER_CSV.replace("1,obstacle,building", "1,obstacel,building")


def _setup(ed) -> int:  # type: ignore[no-untyped-def]
    """The source taxonomy 'city' and a first mapping whose target is 'tiny' (from the file name)."""
    loc = ed.post(
        "/taxonomies/import",
        {"name": "city", "fmt": "labels_csv"},
        files={"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")},
    ).headers["location"]
    source_id = int(loc.rsplit("/", 1)[1])
    r = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id},
        files={"file": ("master_labels_tiny.csv", MASTER_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 303, r.text
    assert "Target taxonomy &#39;tiny&#39; created." in ed.get(r.headers["location"]).text
    return source_id


def _hidden(form: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', form) or re.search(
        rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', form, re.S
    )
    assert found, name
    return html.unescape(found.group(1))


def test_a_target_typo_shows_the_differences_and_both_choices_and_imports_nothing(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    source_id = _setup(ed)
    r = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id},
        files={"file": ("master_labels_cs.csv", TYPO_CSV.encode(), "text/csv")},
        htmx=True,
    )
    assert r.status_code == 409
    assert r.headers["HX-Retarget"] == "#mapping-import" and not r.text.lstrip().startswith("{#")
    assert 'id="mapping-import"' in r.text and 'id="target-differ"' in r.text
    assert "<mark>obstacel</mark>" in r.text and "<strong>obstacle</strong>" in r.text
    assert "Use tiny" in r.text and "Create a new taxonomy" in r.text
    assert "master_labels_cs.csv" in r.text
    taxonomies = ed.get("/taxonomies").text
    assert "tiny" in taxonomies and "cs" not in re.findall(r'href="/taxonomies/\d+">([^<]*)<', taxonomies)
    forms = re.findall(
        r"<form[^>]*hx-post=\"/mappings/import\"[^>]*class=\"target-choice\">(.*?)</form>", r.text, re.S
    )
    use, create = forms
    assert _hidden(use, "text") == TYPO_CSV and _hidden(use, "filename") == "master_labels_cs.csv"
    # choose the existing taxonomy: its names replace the file's
    data = {
        k: _hidden(use, k) for k in ("source_taxonomy_id", "name", "filename", "target_taxonomy_id", "text")
    }
    chosen = ed.post("/mappings/import", data, htmx=True)
    assert chosen.status_code == 204 and chosen.headers["HX-Redirect"].startswith("/mappings/")
    page = ed.get(chosen.headers["HX-Redirect"]).text
    assert "Target taxonomy &#39;tiny&#39; chosen; the file&#39;s names were read as its names" in page
    # or create a new one, explicitly, under the name typed in the panel
    data = {k: _hidden(create, k) for k in ("source_taxonomy_id", "filename", "create_target", "text")}
    created = ed.post("/mappings/import", {**data, "target_name": "tiny typo", "name": "second"}, htmx=True)
    assert created.status_code == 204
    assert "Target taxonomy &#39;tiny typo&#39; created." in ed.get(created.headers["HX-Redirect"]).text


def test_without_htmx_the_panel_is_part_of_the_new_mapping_page(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    source_id = _setup(ed)
    r = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id},
        files={"file": ("other.csv", TYPO_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 409 and "<h1>New mapping</h1>" in r.text and 'id="target-differ"' in r.text


def test_a_given_target_name_is_honoured_or_refused_and_errors_swap_the_card(login) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    source_id = _setup(ed)
    other = "trainId,name\n0,ground,road\n1,thing,building\n255,void,unlabeled\n"
    r = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id, "target_name": "tiny"},
        files={"file": ("m.csv", other.encode(), "text/csv")},
        htmx=True,
    )
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#mapping-import"
    assert "a taxonomy named &#39;tiny&#39; already exists with a different class list" in r.text
    reused = ed.post(
        "/mappings/import",
        {"source_taxonomy_id": source_id, "target_name": "cs19", "name": "again"},
        files={"file": ("m.csv", MASTER_CSV.encode(), "text/csv")},
    )
    text = ed.get(reused.headers["location"]).text
    assert (
        "Target taxonomy &#39;tiny&#39; reused: identical class list; the name &#39;cs19&#39; was not applied"
        in text
    )


def test_importing_into_a_mapping_lists_the_differing_classes(login, small_mapping: Mapping) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    page = ed.get(f"/mappings/{small_mapping.id}/export.csv").text
    first = page.splitlines()[1].split(",")
    typo = page.replace(f"{first[0]},{first[1]},", f"{first[0]},{first[1]}x,", 1)
    r = ed.post(
        f"/mappings/{small_mapping.id}/import",
        {"base_version": 1},
        files={"file": ("m.csv", typo.encode(), "text/csv")},
    )
    assert r.status_code == 422
    assert (
        f"class {first[0]} is &#39;{first[1]}x&#39; in the file, &#39;{first[1]}&#39; in the taxonomy"
        in r.text
    )
    assert f"<mark>{first[1]}x</mark>" in r.text and f"<strong>{first[1]}</strong>" in r.text
