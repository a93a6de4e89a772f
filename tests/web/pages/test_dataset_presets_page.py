"""The registration form offers the presets: preset + root registers (taxonomy found by name), the
detail page shows the preset report per split; refusals re-render the form under the preset field."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from tests import preset_layouts as L
from tests.web.pages.conftest import unescape


def _import(ed, name: str, rows: list[tuple[str, int, str]]) -> None:  # type: ignore[no-untyped-def]
    files = {"file": ("labels.csv", L.labels_csv(rows).encode(), "text/csv")}
    r = ed.post("/api/v1/taxonomies/import", files=files, data={"name": name})
    assert r.status_code == 201, r.text


def test_form_lists_presets_and_registers_preset_plus_root(login, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    _import(ed, "CamVid", [("Animal", 0, ""), ("Archway", 1, ""), ("Bicyclist", 2, ""), ("Road", 3, "")])
    form = ed.get("/datasets/new").text
    assert 'name="preset"' in form and '<option value="cityscapes"' in form
    assert "Waymo Open Dataset (camera segmentation)</option>" in form  # readable once unpacked
    assert "(needs a converter)" not in form  # every preset has a variant unilabel reads
    assert 'value="preset" checked' in form
    assert "nuImages (needs a converter)" not in form  # converted by a job
    assert "COCO panoptic 2017 (needs a converter)" not in form  # converted by a job
    root = L.camvid(Path(settings.data_dir) / "CamVid").root
    r = ed.post("/datasets/new", {"rule": "preset", "preset": "camvid", "root": str(root), "taxonomy_id": ""})
    assert r.status_code == 303, r.text
    detail = unescape(ed.get(r.headers["location"]).text)
    assert "camvid · layout <code>class-dict</code>" in detail
    assert "dataset's own palette (4 colours)" in detail
    assert 'id="preset-report"' in detail and "Against the camvid preset" in detail
    assert "#123456" in detail and "3 pixels not in the palette" in detail
    assert "/overlay/train_labels/0001TP_000_L.png" in detail
    overlay = ed.get(f"{r.headers['location']}/overlay/train_labels/0001TP_000_L.png")
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"


def test_preset_refusals_show_under_the_preset_field(login, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    _import(ed, "waymo", [("person", 0, "")])
    root = Path(settings.data_dir) / "waymo"
    for component in ("camera_image", "camera_segmentation"):
        (root / "training" / component).mkdir(parents=True)
        (root / "training" / component / "ctx.parquet").write_bytes(b"PAR1")
    r = ed.post("/datasets/new", {"rule": "preset", "preset": "", "root": str(root)})
    assert r.status_code == 422 and "choose the dataset" in unescape(r.text)
    r = ed.post("/datasets/new", {"rule": "preset", "preset": "waymo", "root": str(root)})
    text = unescape(r.text)
    assert r.status_code == 422 and 'id="f-preset-desc"' in r.text and "waymo-parquet" in text
    assert '<option value="waymo" selected' in r.text  # the choice is kept


def test_a_panoptic_preset_registers_and_says_its_conversion_was_queued(login, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    _import(ed, "coco", [("person", 0, "")])
    root = L.coco_panoptic(Path(settings.data_dir) / "coco").root
    r = ed.post("/datasets/new", {"rule": "preset", "preset": "coco", "root": str(root)})
    assert r.status_code == 303, r.text
    detail = unescape(ed.get(r.headers["location"]).text)
    assert "converting its coco-panoptic labels as job" in detail
    assert "Native labels" in detail and "Convert labels" in detail
    assert "paired once a convert_labels job has converted them" in detail
    again = ed.post(f"{r.headers['location']}/convert", {})
    assert again.status_code == 303 and again.headers["location"].startswith("/jobs/"), again.text
    job_page = ed.get(again.headers["location"])
    assert job_page.status_code == 200 and "convert_labels" in job_page.text
