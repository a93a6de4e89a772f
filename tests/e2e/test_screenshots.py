"""Screenshots of every screen (1280x800, plus the matrix on a 4K screen) in headless Chromium.

Always renders each screen (a smoke test: no JavaScript errors, no missing elements). With
``UNILABEL_SCREENSHOTS=1`` the PNGs are written to ``docs/screenshots/`` (what README shows);
otherwise to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.services import mappings as mapping_service
from app.services import taxonomy_files
from app.services import users as user_service

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "reference-lists"


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _seed(factory: Any) -> dict[str, int]:
    """Reference taxonomies and mappings with a short history and one version in review."""
    with factory() as s:
        erin = user_service.get_user_by_name(s, "erin")
        eddie = user_service.get_user_by_name(s, "eddie")
        ids: dict[str, int] = {}
        for folder, name in (
            ("mapillary-vistas", "Mapillary Vistas"),
            ("cityscapes", "Cityscapes"),
            ("rellis-3d", "RELLIS-3D"),
            ("goose2d", "GOOSE"),
        ):
            row = taxonomy_files.import_taxonomy(
                s,
                text=(SHARED / folder / "labels.csv").read_text(encoding="utf-8"),
                fmt="labels_csv",
                name=name,
                description=f"{name} label definitions (labels.csv)",
            )
            ids[folder] = row.id
        big = mapping_service.import_master_labels(
            s,
            text=(SHARED / "mapillary-vistas" / "master_labels_mapillary.csv").read_text(encoding="utf-8"),
            source_taxonomy_id=ids["mapillary-vistas"],
            name="Vistas → Mapillary 63",
            target_name="Mapillary 63",
            author=erin,
        )
        city = mapping_service.import_master_labels(
            s,
            text=(SHARED / "mapillary-vistas" / "master_labels_cityscapes.csv").read_text(encoding="utf-8"),
            source_taxonomy_id=ids["mapillary-vistas"],
            name="Vistas → Cityscapes 19",
            target_name="Cityscapes 19",
            author=erin,
        )
        mapping_service.import_master_labels(
            s,
            text=(SHARED / "goose2d" / "master_labels_offroad.csv").read_text(encoding="utf-8"),
            source_taxonomy_id=ids["goose2d"],
            name="GOOSE → Off-road 34",
            target_name="Off-road 34",
            author=eddie,
        )
        v = city.version
        for source, target, on in (
            ("construction--barrier--guard-rail", 4, True),
            ("construction--barrier--guard-rail", 255, False),
            ("object--vehicle--caravan", 13, True),
        ):
            v = mapping_service.toggle_edge(
                s,
                mapping_id=city.mapping.id,
                source_name=source,
                target_id=target,
                base_version_id=v.id,
                author=eddie,
                on=on,
            )
        mapping_service.submit_for_review(s, version_id=v.id, author=eddie, message="Guard rails are fences.")
        s.commit()
        return {
            "big": big.mapping.id,
            "city": city.mapping.id,
            "mv": ids["mapillary-vistas"],
            "city_head": v.number,
        }


def test_screenshots_of_every_screen(new_page: Any, live_server: Any, out_dir: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/reference-lists not present (fresh clone): screenshots need reference data")
    ids = _seed(live_server.session_factory)
    anon = new_page(None)
    anon.goto("/login")
    anon.screenshot(path=str(out_dir / "login.png"))

    erin = new_page("erin")
    shots = {
        "home.png": "/",
        "taxonomies.png": "/taxonomies",
        "taxonomy-detail.png": f"/taxonomies/{ids['mv']}",
        "mappings.png": "/mappings",
        "mapping-new.png": "/mappings/new",
        "editor-rows.png": f"/mappings/{ids['city']}",
        "editor-matrix.png": f"/mappings/{ids['big']}?view=matrix",
        "versions.png": f"/mappings/{ids['city']}/versions",
        "diff.png": f"/mappings/{ids['city']}/diff?old=1&new={ids['city_head']}",
        "reviews.png": "/reviews",
    }
    for name, url in shots.items():
        erin.goto(url)
        erin.wait_for_load_state("networkidle")
        erin.screenshot(path=str(out_dir / name))

    # rows view with the type-ahead open
    erin.goto(f"/mappings/{ids['city']}")
    box = erin.locator('tr[data-source="nature--mountain"]').get_by_role("combobox")
    box.click()
    box.type("ter")
    erin.screenshot(path=str(out_dir / "editor-typeahead.png"))

    # a conflict: erin's page is stale after eddie saves
    erin.goto(f"/mappings/{ids['big']}?view=matrix")
    eddie = new_page("eddie")
    eddie.goto(f"/mappings/{ids['big']}?view=matrix")
    eddie.locator('tr[data-source="animal--bird"] td').nth(3).locator("button").click()
    eddie.locator("#editor-state strong", has_text="2").wait_for()
    erin.locator('tr[data-source="animal--ground-animal"] td').nth(4).locator("button").click()
    erin.locator("#conflict-panel section").wait_for()
    # the clicked cell keeps the focus (and the page may scroll to it): show the panel above it,
    # once the toast has finished fading in
    erin.evaluate("window.scrollTo(0, 0)")
    erin.wait_for_timeout(400)
    erin.screenshot(path=str(out_dir / "editor-conflict.png"))

    rita = new_page("rita")
    rita.goto(f"/mappings/{ids['city']}/review")
    rita.locator("#review-badge", has_text="1").wait_for()
    rita.screenshot(path=str(out_dir / "review.png"), full_page=False)

    erin.goto(f"/mappings/{ids['city']}/import")
    erin.get_by_label("CSV file").set_input_files(
        str(SHARED / "mapillary-vistas" / "master_labels_cityscapes.csv")
    )
    erin.get_by_role("button", name="Check the file").click()
    erin.get_by_role("heading", name="Validation report of the file").wait_for()
    erin.screenshot(path=str(out_dir / "import-preview.png"))

    big = new_page("erin", width=3840, height=2160)
    big.goto(f"/mappings/{ids['big']}?view=matrix")
    big.wait_for_load_state("networkidle")
    big.screenshot(path=str(out_dir / "editor-matrix-4k.png"))

    for name in (
        *shots,
        "login.png",
        "editor-typeahead.png",
        "editor-conflict.png",
        "review.png",
        "import-preview.png",
        "editor-matrix-4k.png",
    ):
        assert (out_dir / name).stat().st_size > 10_000, name
