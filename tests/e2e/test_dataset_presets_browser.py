"""Register a dataset in the browser as "preset + root": the form shows the preset fields only, the
detail page shows the scan against the preset per split (screenshots of both for review)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import taxonomy_files
from tests import preset_layouts as L

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_register_camvid_from_its_preset(new_page: Any, live_server: Any, tmp_path: Path) -> None:
    db = Path(live_server.session_factory.kw["bind"].url.database)
    root = L.camvid(db.parent / "data" / "CamVid").root
    with live_server.session_factory() as s:
        rows = [("Animal", 0, ""), ("Archway", 1, ""), ("Bicyclist", 2, ""), ("Road", 3, "")]
        taxonomy_files.import_taxonomy_report(s, text=L.labels_csv(rows), fmt="labels_csv", name="CamVid")
        s.commit()
    page = new_page("erin")
    page.goto("/datasets/new")
    page.get_by_label("Dataset preset").wait_for()
    page.get_by_label("Image pattern").wait_for(state="hidden")  # the pattern rule's fields are hidden
    page.get_by_label("Dataset preset").select_option("camvid")
    page.get_by_label("Root folder (absolute path)").fill(str(root))
    page.screenshot(path=str(tmp_path / "dataset-new-preset.png"), full_page=True)
    page.get_by_role("button", name="Register and scan").click()
    page.wait_for_url("**/datasets/*")
    report = page.locator("#preset-report")
    report.wait_for()
    assert "Against the camvid preset" in report.inner_text()
    assert "#123456" in page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "dataset-detail-preset.png"), full_page=True)
