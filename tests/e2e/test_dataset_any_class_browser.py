"""The registration form's "any class allowed" pixel values in the browser: typed with the preset,
stored, shown on the detail page (screenshots of both for review)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import taxonomy_files
from tests import preset_layouts as L

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_register_with_any_class_values(new_page: Any, live_server: Any, tmp_path: Path) -> None:
    db = Path(live_server.session_factory.kw["bind"].url.database)
    root = L.camvid(db.parent / "data" / "CamVid-ego").root
    with live_server.session_factory() as s:
        rows = [("Animal", 0, ""), ("Archway", 1, ""), ("Bicyclist", 2, ""), ("Road", 3, "")]
        taxonomy_files.import_taxonomy_report(s, text=L.labels_csv(rows), fmt="labels_csv", name="CamVid")
        s.commit()
    page = new_page("erin")
    page.goto("/datasets/new")
    page.get_by_label("Dataset preset").select_option("camvid")
    page.get_by_label("Root folder (absolute path)").fill(str(root))
    page.get_by_label("Any-class pixel values (optional)").fill("1")
    page.screenshot(path=str(tmp_path / "dataset-new-any-class.png"), full_page=True)
    page.get_by_role("button", name="Register and scan").click()
    page.wait_for_url("**/datasets/*")
    main = page.locator("main").inner_text()
    assert "Any class allowed" in main and "take the teacher's best class" in main
    page.screenshot(path=str(tmp_path / "dataset-detail-any-class.png"), full_page=True)
