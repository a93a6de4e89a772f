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


def _untrusted_pth(settings: Settings, registry: Registry, session_factory) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A registered paper .pth (any bytes will do: the web process never unpickles it)."""
    import hashlib

    from app.schemas.models import ModelCreate
    from app.services import models as model_service

    path = settings.data_dir / "paper.pth"
    path.write_bytes(b"not really a checkpoint")
    with session_factory() as s:
        body = ModelCreate(name="paper", source="paper_pth", spec=str(path), taxonomy_id=registry.target_id)
        row = model_service.register_model(s, body=body, settings=settings)
        s.commit()
        return row.id, hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_editor_cannot_trust_a_pickle_from_the_form_or_the_detail_page(
    login, registry: Registry, settings: Settings, session_factory
) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    form = ed.get("/models/new").text
    assert 'name="trust_pickle"' not in form and "registered untrusted" in form
    body = {
        "name": "sneaky",
        "source": "paper_pth",
        "spec": "/usr/lib",
        "taxonomy_id": "x",
        "trust_pickle": "1",
    }
    assert ed.post("/models/new", body).status_code == 403
    assert "sneaky" not in ed.get("/models").text
    model_id, _ = _untrusted_pth(settings, registry, session_factory)
    detail = unescape(ed.get(f"/models/{model_id}").text)
    assert "untrusted pickle: needs an admin's trust" in detail and f"/models/{model_id}/trust" not in detail
    assert ed.post(f"/models/{model_id}/trust", {"note": "trust me"}).status_code == 403
    assert "untrusted pickle" in unescape(ed.get(f"/models/{model_id}").text)


def test_an_admin_trusts_a_pickle_from_the_detail_page(
    login, registry: Registry, settings: Settings, session_factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: sent.append((name, kw)))
    model_id, digest = _untrusted_pth(settings, registry, session_factory)
    admin = login("admin")
    assert 'name="trust_pickle"' in admin.get("/models/new").text
    detail = admin.get(f"/models/{model_id}").text
    assert f'action="/models/{model_id}/trust"' in detail and 'name="csrf_token"' in detail
    no_csrf = admin.client.post(f"/models/{model_id}/trust", data={"note": "x"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    r = admin.post(f"/models/{model_id}/trust", {"note": "made it myself"})
    assert r.status_code == 303 and r.headers["location"] == f"/models/{model_id}"
    text = unescape(admin.get(f"/models/{model_id}").text)
    assert f"trusted by {admin.name}" in text and digest[:16] in text and "made it myself" in text
    assert "a worker is converting it" in text
    assert ("unilabel.convert_model", {"model_id": model_id}) in sent
