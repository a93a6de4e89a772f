"""The registration form's "any class allowed" pixel values: stored, shown on the detail page, and
refused inline when not whole numbers or not values of the label encoding."""

from __future__ import annotations

from tests.web.pages.conftest import Registry, unescape
from tests.web.pages.test_datasets import FORM


def test_form_registers_any_class_values_and_shows_them(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    body = FORM | {"taxonomy_id": registry.source_id, "root": str(registry.root), "any_class_values": "1, 0"}
    r = ed.post("/datasets/new", body)
    assert r.status_code == 303, r.text
    detail = unescape(ed.get(r.headers["location"]).text)
    assert "Any class allowed" in detail and "0, 1" in detail


def test_form_refuses_bad_any_class_values_inline(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    ed = login("editor")
    base = FORM | {"taxonomy_id": registry.source_id, "root": str(registry.root)}
    cases = (("ego", "whole numbers"), ("-1", "whole numbers"), ("256", "not ids8 label values"))
    for value, message in cases:
        r = ed.post("/datasets/new", base | {"any_class_values": value})
        assert r.status_code == 422, (value, r.text)
        assert 'id="f-any_class_values-desc"' in r.text and message in unescape(r.text)
        assert f'value="{value}"' in r.text
    assert "streets-2" not in ed.get("/datasets").text
