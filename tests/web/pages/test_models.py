"""Model pages: list, register form (class mismatch shows both lists; nothing stored), detail."""

from __future__ import annotations

from app.config import Settings
from tests.web.pages.conftest import Registry, fake_model_folder, unescape


def test_detail_shows_taxonomy_classes_and_validation_status(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    text = login("viewer").get(f"/models/{registry.model_id}").text
    assert "drivable" in text and "vegetation" in text and "match the taxonomy" in text
    assert "present" in text
    listing = login("viewer").get("/models").text
    assert "tiny" in listing and "/models/new" not in listing


def test_register_model_with_wrong_classes_shows_both_lists(
    login, registry: Registry, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    folder = fake_model_folder(settings.data_dir / "other", ("road", "car", "tree", "sky"))
    ed = login("editor")
    body = {
        "name": "other",
        "source": "folder",
        "role": "teacher",
        "spec": str(folder),
        "taxonomy_id": registry.target_id,
    }
    r = ed.post("/models/new", body)
    assert r.status_code == 422
    text = unescape(r.text)
    assert "do not match" in text and "<li>road</li>" in text and "<li>drivable</li>" in text
    assert "other" not in ed.get("/models").text.split("<tbody>")[1]


def test_register_model_outside_roots_and_bad_normalisation_inline(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    body = {"name": "x", "source": "folder", "spec": "/usr/lib", "taxonomy_id": registry.target_id}
    r = ed.post("/models/new", body)
    assert r.status_code == 422 and 'id="f-spec-desc"' in r.text and "outside" in unescape(r.text)
    r = ed.post("/models/new", body | {"mean": "1 2", "std": "1 1 1"})
    assert r.status_code == 422 and 'id="f-mean-desc"' in r.text


def test_register_model_redirects_to_detail(login, registry: Registry, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from worker.demo import TARGET

    folder = fake_model_folder(settings.data_dir / "second", TARGET.names)
    ed = login("editor")
    body = {
        "name": "second", "source": "folder", "role": "teacher", "spec": str(folder),
        "taxonomy_id": registry.target_id, "mean": "123.7 116.3 103.5", "std": "58.4, 57.1, 57.4",
    }  # fmt: skip
    r = ed.post("/models/new", body)
    assert r.status_code == 303, r.text
    text = ed.get(r.headers["location"]).text
    assert "Registered model" in unescape(text) and "mean 123.7, 116.3, 103.5" in text
