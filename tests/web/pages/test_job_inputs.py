"""The job form's inputs: only mapping versions that fit the model and the dataset are offered (with
the reason others are hidden, refreshed by HTMX), every field's problem is shown at once and names
things by name, and the output-name rule is said in words; pre-filling from query parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.services import mappings as mapping_service
from app.services import reviews as review_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from tests import factories
from tests.web.pages.conftest import Registry, unescape

HX = {"HX-Request": "true"}


@dataclass
class Others:
    wrong_target_version: int  # approved, but maps to another class list than the model's
    wrong_source_version: int  # approved, but maps from another taxonomy than the dataset's
    draft_version: int  # fits, but nothing approved


def _approve(s: Session, mapping_id: int) -> int:
    admin, _ = user_service.ensure_local_admin(s)
    version = mapping_service.current_version(s, mapping_id)
    review_service.submit_for_review(s, version_id=version.id, author=admin)
    review_service.approve(s, version_id=version.id, reviewer=admin, message="ok")
    return version.id


@pytest.fixture
def others(registry: Registry, session_factory: sessionmaker[Session]) -> Others:
    with session_factory() as s:
        source = taxonomy_service.get_taxonomy(s, registry.source_id)
        target = taxonomy_service.get_taxonomy(s, registry.target_id)
        other_classes = factories.make_class_list(s, name="other classes")
        other_labels = factories.make_taxonomy(s, name="other labels")
        wrong_target = factories.make_mapping(
            s, source=source, target=other_classes, edges=(), name="to other"
        )
        wrong_source = factories.make_mapping(
            s, source=other_labels, target=target, edges=(), name="from other"
        )
        draft = factories.make_mapping(s, source=source, target=target, edges=(), name="draft only")
        out = Others(
            _approve(s, wrong_target.id),
            _approve(s, wrong_source.id),
            mapping_service.current_version(s, draft.id).id,
        )
        s.commit()
        return out


def _offered(text: str) -> set[int]:
    select = text[text.index('id="f-mapping_version_id"') :].split("</select>", 1)[0]
    return {int(v) for v in re.findall(r'<option value="(\d+)"', select)}


def test_form_offers_only_versions_that_fit_the_model_and_dataset_and_says_why(  # type: ignore[no-untyped-def]
    login, registry: Registry, others: Others
) -> None:
    editor = login("editor")
    text = unescape(
        editor.get(f"/jobs/new?model_id={registry.model_id}&dataset_id={registry.dataset_id}").text
    )
    assert _offered(text) == {registry.approved_version_id}
    assert (
        "3 mappings hidden: 1 targets another taxonomy than this model's, "
        "1 maps from another taxonomy than this dataset's, 1 has no approved version"
    ) in text
    assert "to other</strong>: targets 'other classes'; model 'tiny' predicts 'demo-4'" in text
    # Nothing chosen yet: everything approved is offered, and the form says how to narrow it down.
    text = unescape(editor.get("/jobs/new").text)
    assert _offered(text) == {
        registry.approved_version_id,
        others.wrong_target_version,
        others.wrong_source_version,
    }
    assert "Choose the model and the dataset to see only the mappings that fit them" in text
    assert "1 mapping hidden: 1 has no approved version" in text


def test_changing_model_or_dataset_swaps_the_mapping_field(  # type: ignore[no-untyped-def]
    login, registry: Registry, others: Others
) -> None:
    editor = login("editor")
    page = editor.get("/jobs/new").text
    model_select = page[page.index('id="f-model_id"') :].split(">", 1)[0]
    assert (
        'hx-get="/jobs/new/mapping-versions"' in model_select
        and 'hx-target="#job-mapping-versions"' in model_select
    )
    assert 'hx-get="/jobs/new/mapping-versions"' in page[page.index('id="f-dataset_id"') :].split(">", 1)[0]
    chosen = f"/jobs/new/mapping-versions?model_id={registry.model_id}&dataset_id={registry.dataset_id}"
    url = f"{chosen}&mapping_version_id={others.wrong_target_version}"
    frag = editor.get(url, headers=HX).text
    assert frag.startswith('<div id="job-mapping-versions"') and "<html" not in frag
    assert _offered(frag) == {registry.approved_version_id} and "selected" not in frag  # no longer fits
    frag = editor.get(
        f"{url.split('&mapping')[0]}&mapping_version_id={registry.approved_version_id}", headers=HX
    ).text
    assert f'<option value="{registry.approved_version_id}" selected>' in frag
    # A reviewer also sees the unapproved head of a mapping that fits, marked as needing an override.
    frag = unescape(login("reviewer").get(url, headers=HX).text)
    assert others.draft_version in _offered(frag) and "draft — needs override" in frag
    assert login("viewer").get(url, headers=HX).status_code == 403


def test_every_field_problem_is_shown_at_once_next_to_its_field(  # type: ignore[no-untyped-def]
    login, registry: Registry, others: Others, session_factory
) -> None:
    form = {
        "kind": "pseudo_label", "model_id": registry.model_id, "dataset_id": registry.dataset_id,
        "mapping_version_id": others.wrong_target_version, "split": "test", "threshold": "1.5",
        "output_name": "../x", "shard_size": "50", "queue": "default", "use_priors": "1",
    }  # fmt: skip
    r = login("editor").post("/jobs/new", form)
    assert r.status_code == 422
    text = unescape(r.text)
    messages = dict(re.findall(r'<span class="error" id="f-(\w+)-desc">([^<]*)</span>', text))
    assert set(messages) >= {"model_id", "split", "threshold", "output_name"}, messages
    assert messages["model_id"] == (
        "mapping 'to other' targets taxonomy 'other classes', but model 'tiny' predicts taxonomy 'demo-4'"
    )
    assert messages["split"] == "dataset 'streets' has no split 'test' (it has 'train', 'val')"
    assert "between 0 and 1" in messages["threshold"]
    assert messages["output_name"] == (
        "'../x' cannot be an output name: use 1 to 100 letters, digits, dots, underscores or hyphens, "
        "starting with a letter or a digit"
    )
    assert "fields need attention" in text
    assert f'value="{registry.dataset_id}" selected' in r.text  # typed values kept
    from tests.web.pages.test_jobs import _job_ids

    assert _job_ids(session_factory) == []


def test_output_name_rule_is_said_in_words(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    text = unescape(login("editor").get("/jobs/new").text)
    hint = text[text.index('id="f-output_name-desc"') :].split("</span>", 1)[0]
    assert "letters, digits, dots, underscores or hyphens, starting with a letter or a digit" in hint
    assert "[" not in hint and "A-Z" not in hint


def test_prefill_from_query_parameters(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    text = (
        login("editor")
        .get(
            f"/jobs/new?kind=evaluate&model_id={registry.model_id}&mapping_version_id={registry.approved_version_id}"
        )
        .text
    )
    assert f'<option value="{registry.model_id}" selected>' in text
    assert f'<option value="{registry.approved_version_id}" selected>' in text
    assert re.search(r'value="evaluate"\s+checked', text)
