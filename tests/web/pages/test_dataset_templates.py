"""The dataset register form shows a bad label template's error next to the field; a stored invalid
template is shown on the detail page instead of samples, and its scan is refused with the message."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Dataset
from tests.web.pages.conftest import Registry, unescape

FORM = {
    "name": "streets-2",
    "rule": "pattern",
    "image_pattern": "images/{split}/{stem}.png",
    "label_encoding": "ids8",
    "splits": "train, val",
}


def _field_error(page: str, field: str) -> str:
    match = re.search(rf'id="f-{field}-desc"[^>]*>(.*?)<', page, re.S)
    assert match is not None, page
    return unescape(match.group(1))


def test_form_shows_the_template_error_next_to_the_field(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    for template, words in (
        ("labels/{split}/{stem.__class__.__mro__}.png", "attribute access"),
        ("labels/{split}/{stem:>100000000}.png", "format spec"),
        ("labels/{split}/{stem", "not closed"),
    ):
        body = FORM | {
            "taxonomy_id": registry.source_id,
            "root": str(registry.root),
            "label_template": template,
        }
        r = ed.post("/datasets/new", body)
        assert r.status_code == 422
        error = _field_error(r.text, "label_template")
        assert words in error and "character 16" in error
        assert 'value="streets-2"' in r.text  # the typed values are kept
    assert "streets-2" not in ed.get("/datasets").text


def test_stored_invalid_template_is_explained_not_run(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        row = s.get(Dataset, registry.dataset_id)
        assert row is not None
        row.label_template = "labels/{split}/{stem!r}.png"
        s.commit()
    ed = login("editor")
    detail = unescape(ed.get(f"/datasets/{registry.dataset_id}").text)
    assert "invalid pairing rule" in detail and "conversion" in detail
    r = ed.post(f"/datasets/{registry.dataset_id}/scan", {})
    assert r.status_code == 422 and "invalid pairing rule" in unescape(r.text)
