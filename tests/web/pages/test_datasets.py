"""Dataset pages: list, register form with inline errors (nothing stored), detail with scan and samples."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.config import Settings
from tests.web.pages.conftest import Registry, unescape

FORM = {
    "name": "streets-2",
    "rule": "pattern",
    "image_pattern": "images/{split}/{stem}.png",
    "label_template": "labels/{split}/{stem}.png",
    "label_encoding": "ids8",
    "splits": "train, val",
}


def test_list_shows_datasets_and_hides_register_from_viewers(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    text = login("viewer").get("/datasets").text
    assert "streets" in text and 'aria-current="page">Datasets' in text
    assert "/datasets/new" not in text
    assert 'href="/datasets/new"' in login("editor").get("/datasets").text


def test_register_scans_and_redirects_to_detail(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    r = ed.post("/datasets/new", FORM | {"taxonomy_id": registry.source_id, "root": str(registry.root)})
    assert r.status_code == 303, r.text
    detail = ed.get(r.headers["location"]).text
    assert (
        "Registered &#39;streets-2&#39;: 6 pairs, 0 problems." in detail
        or "6 pairs, 0 problems" in unescape(detail)
    )
    assert detail.count('class="overlay-layer"') == 6  # samples with their label overlays
    assert "/datasets/" in detail and "/overlay/labels/" in detail
    assert "road" in detail and "#804080" in detail  # legend: swatch colour and name


def test_register_outside_data_roots_shows_inline_error_and_stores_nothing(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    r = ed.post("/datasets/new", FORM | {"taxonomy_id": registry.source_id, "root": "/etc"})
    assert r.status_code == 422
    text = unescape(r.text)
    assert 'id="f-root-desc"' in r.text and "outside the allowed data roots" in text
    assert 'value="streets-2"' in r.text  # the typed values are kept
    escape = str(registry.root) + "/../../.."
    r = ed.post("/datasets/new", FORM | {"taxonomy_id": registry.source_id, "root": escape})
    assert r.status_code == 422 and "outside the allowed data roots" in unescape(r.text)
    assert "streets-2" not in ed.get("/datasets").text


def test_register_bad_pairing_rule_shows_inline_error(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    bad = FORM | {
        "taxonomy_id": registry.source_id,
        "root": str(registry.root),
        "label_template": "labels/{x}/{stem}.png",
    }
    r = ed.post("/datasets/new", bad)
    assert r.status_code == 422
    assert 'id="f-label_template-desc"' in r.text and "does not define" in unescape(r.text)
    r = ed.post(
        "/datasets/new",
        FORM | {"taxonomy_id": registry.source_id, "root": str(registry.root), "image_pattern": ""},
    )
    assert r.status_code == 422 and 'id="f-image_pattern-desc"' in r.text
    r = ed.post("/datasets/new", FORM | {"taxonomy_id": "999", "root": str(registry.root)})
    assert r.status_code == 404 and "taxonomy" in unescape(r.text).lower()
    assert "streets-2" not in ed.get("/datasets").text


def test_viewer_cannot_register_and_csrf_is_checked(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    body = FORM | {"taxonomy_id": registry.source_id, "root": str(registry.root)}
    assert login("viewer").post("/datasets/new", body).status_code == 403
    ed = login("editor")
    r = ed.client.post("/datasets/new", data=body, follow_redirects=False)  # no csrf_token field
    assert r.status_code == 403


def test_overlay_png_paints_labels_in_taxonomy_colours(login, registry: Registry, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    r = viewer.get(f"/datasets/{registry.dataset_id}/overlay/labels/train/0000.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(r.content)))
    label = np.asarray(Image.open(registry.root / "labels/train/0000.png"))
    assert rgba.shape == (*label.shape, 4)
    assert tuple(rgba[label == 7][0]) == (0x46, 0x82, 0xB4, 255)  # sky is #4682b4
    assert viewer.get(f"/datasets/{registry.dataset_id}/overlay/../secret.png").status_code in (404, 422)
