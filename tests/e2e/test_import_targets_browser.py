"""End-to-end: a typo in a target class of a master_labels file imported through "New mapping"
shows the differing classes and two explicit choices, and never silently creates a taxonomy
(issue 11). With ``UNILABEL_SCREENSHOTS=1`` the screenshot goes to ``docs/screenshots/``
(mappings-import-target-differ.png), otherwise to a temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]
TYPO_CSV = MASTER_CSV.replace("1,obstacle,building", "1,obstacel,building")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _import(page: Any, source: str, path: Path) -> Any:
    page.goto("/mappings/new")
    form = page.locator("#mapping-import form").last
    form.get_by_label("Source taxonomy").select_option(label=source)
    form.get_by_label("CSV file").set_input_files(str(path))
    form.get_by_role("button", name="Import").click()
    return form


def test_a_target_typo_offers_the_closest_taxonomy_or_an_explicit_new_one(
    new_page: Any, tmp_path: Path, out_dir: Path
) -> None:
    files = {"labels.csv": SOURCE_CSV, "master_labels_tiny.csv": MASTER_CSV, "master_labels_cs.csv": TYPO_CSV}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    page = new_page("erin")
    page.goto("/taxonomies")
    page.get_by_label("File").set_input_files(str(tmp_path / "labels.csv"))
    page.get_by_label("Name", exact=True).fill("city streets")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/taxonomies/\d+$"))
    source = "city streets (6 labels)"
    _import(page, source, tmp_path / "master_labels_tiny.csv")
    page.wait_for_url(re.compile(r"/mappings/\d+$"))
    assert "Target taxonomy 'tiny' created." in page.locator("#toasts").inner_text()

    _import(page, source, tmp_path / "master_labels_cs.csv")
    panel = page.locator("#target-differ")
    panel.wait_for()
    assert page.url.endswith("/mappings/new")  # swapped in place by HTMX, nothing imported
    assert panel.get_by_role("heading").inner_text() == "The target classes are close to tiny, but 1 differs"
    rows = panel.get_by_role("table", name="Target classes that differ from tiny").locator("tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").all_inner_texts() == ["1", "obstacel", "obstacle"]
    panel.get_by_role("button", name="Create a new taxonomy").wait_for()
    page.screenshot(path=str(out_dir / "mappings-import-target-differ.png"), full_page=True)
    page.goto("/taxonomies")
    assert page.get_by_role("link", name="cs", exact=True).count() == 0  # no taxonomy was created

    _import(page, source, tmp_path / "master_labels_cs.csv")
    page.locator("#target-differ").get_by_role("button", name="Use tiny").click()
    page.wait_for_url(re.compile(r"/mappings/\d+$"))
    toast = page.locator("#toasts").inner_text()
    assert "Target taxonomy 'tiny' chosen; the file's names were read as its names: " in toast
    assert "class 1 'obstacel' read as 'obstacle'" in toast
    assert "obstacel" not in page.locator("main").inner_text()


def test_a_labels_csv_with_defects_imports_and_its_page_lists_the_warnings(
    new_page: Any, tmp_path: Path, out_dir: Path
) -> None:
    from tests.web.api.test_taxonomy_import_warnings import LABELS

    (tmp_path / "labels.csv").write_text(LABELS)
    page = new_page("erin")
    page.goto("/taxonomies")
    page.get_by_label("File").set_input_files(str(tmp_path / "labels.csv"))
    page.get_by_label("Name", exact=True).fill("CamVid warnings")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/taxonomies/\d+$"))
    assert "the file has 2 warnings (listed on the page)" in page.locator("#toasts").inner_text()
    warnings = page.locator("#file-warnings")
    assert warnings.locator("summary").inner_text() == "Warnings of the imported file (2)"
    items = warnings.locator("li").all_inner_texts()
    assert "file row 3, column 6" in items[0] and "file rows 4, 5" in items[1]
    page.screenshot(path=str(out_dir / "taxonomies-import-warnings.png"))
