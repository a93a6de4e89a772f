"""The mapping audit in the browser (issue 15): the editor's and the review page's Audit section
(survey select, findings with their evidence and proposed change) and applying a proposed change as
an ordinary edit (editors only). Clicking it in a browser: tests/e2e/test_audit_browser.py."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.jobs.conftest import StoredSurvey

Headers = dict[str, str]
HX = {"HX-Request": "true"}


def _survey_file(client: TestClient, headers: Headers, job_id: int) -> Path:
    return Path(client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()["output_dir"]) / "survey.json"


def _panel(client: TestClient, headers: Headers, mapping_id: int, query: str = "") -> tuple[int, str]:
    r = client.get(f"/mappings/{mapping_id}/audit-panel?{query}", headers=headers | HX)
    return r.status_code, html.unescape(r.text)


def test_without_a_survey_the_section_says_how_to_make_one(
    client: TestClient, viewer: Headers, world: dict[str, Any]
) -> None:
    mapping_id = world["mapping"]["id"]
    editor_page = client.get(f"/mappings/{mapping_id}", headers=viewer).text
    assert f'hx-get="/mappings/{mapping_id}/audit-panel?context=editor"' in editor_page
    review_page = client.get(f"/mappings/{mapping_id}/review", headers=viewer).text
    assert f"/mappings/{mapping_id}/audit-panel?context=review&amp;version=1" in review_page
    status, text = _panel(client, viewer, mapping_id)
    assert status == 200 and 'id="audit-no-survey"' in text
    assert "No finished survey fits this mapping yet" in text and '"kind": "survey"' in text
    assert "<select" not in text


def test_findings_with_evidence_and_apply_buttons_for_editors_only(
    client: TestClient,
    viewer: Headers,
    editor: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    status, text = _panel(client, editor, mapping_id)
    assert status == 200
    assert re.search(rf'<option value="{job_id}" selected>job {job_id} · survey', text)  # latest by default
    kinds = re.findall(r'class="finding finding-warning audit-finding" data-kind="(\w+)"', text)
    assert kinds == ["void_confident", "contradicted"]
    assert "78% are predicted `vegetation`" in text and "10,000 px" in text
    assert "Proposed: vehicle → <strong>vegetation</strong>" in text
    assert "Proposed: void → <strong>sky</strong>" in text
    assert text.count(f'hx-post="/mappings/{mapping_id}/audit/apply"') == 2
    _, seen_by_viewer = _panel(client, viewer, mapping_id)
    assert "78% are predicted `vegetation`" in seen_by_viewer and "audit/apply" not in seen_by_viewer
    _, review = _panel(client, editor, mapping_id, "context=review&version=1")
    assert "Proposed: vehicle → <strong>vegetation</strong>" in review and "audit/apply" not in review


def test_a_bad_survey_id_is_said_in_the_section_not_a_500(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    mapping_id = world["mapping"]["id"]
    status, text = _panel(client, viewer, mapping_id, "survey_job_id=999")
    assert status == 200 and 'id="audit-error"' in text and "job 999 does not exist" in text
    queued = stored_survey(status="queued")
    status, text = _panel(client, viewer, mapping_id, f"survey_job_id={queued}")
    assert status == 200 and f"survey job {queued} is queued; only a succeeded one is evidence" in text
    status, _ = _panel(client, viewer, mapping_id, "survey_job_id=abc")
    assert status == 422


def test_applying_a_proposed_change_is_an_ordinary_edit(
    client: TestClient,
    viewer: Headers,
    editor: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    head = client.get(f"/api/v1/mappings/{mapping_id}", headers=viewer).json()["current_version"]
    form = {"finding": "contradicted:2:car", "survey_job_id": str(job_id), "base_version": str(head["id"])}
    url = f"/mappings/{mapping_id}/audit/apply"
    assert client.post(url, data=form, headers=viewer | HX).status_code == 403
    r = client.post(url, data=form, headers=editor | HX)
    assert r.status_code == 200, r.text
    text = html.unescape(r.text)
    assert "audit: 'car' → vegetation (contradicted by the data" in text and "saved as version 2" in text
    assert 'id="mapping-audit"' in text and 'data-kind="contradicted"' not in text  # refreshed, fixed
    versions = client.get(f"/api/v1/mappings/{mapping_id}/versions", headers=viewer).json()
    latest = versions["items"][0] if "items" in versions else versions[0]
    assert latest["message"].startswith("audit: 'car' → vegetation")
    edges = client.get(f"/api/v1/mappings/{mapping_id}", headers=viewer).json()["current_version"]
    assert edges["number"] == 2
    again = client.post(url, data=form | {"base_version": str(head["id"])}, headers=editor | HX)
    assert again.status_code == 409  # a stale base
    new_base = {"base_version": str(edges["id"])}
    gone = client.post(url, data=form | new_base, headers=editor | HX)
    assert gone.status_code == 409 and "no such audit finding any more" in html.unescape(gone.text)
    bad = client.post(url, data=form | new_base | {"finding": "nonsense"}, headers=editor | HX)
    assert bad.status_code == 422 and "not an audit finding" in html.unescape(bad.text)


def test_the_editor_ghost_chips_take_data_evidence_from_the_chosen_survey(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    mapping_id = world["mapping"]["id"]
    evidence = "data: 78% of this label's pixels are predicted `vegetation`"
    before = html.unescape(client.get(f"/mappings/{mapping_id}", headers=viewer).text)
    assert evidence not in before
    older = stored_survey()
    latest = stored_survey()
    _survey_file(client, viewer, older).unlink()  # the older one has lost its result
    page = html.unescape(client.get(f"/mappings/{mapping_id}", headers=viewer).text)
    assert evidence in page  # the latest survey by default
    chosen = html.unescape(client.get(f"/mappings/{mapping_id}?survey_job_id={older}", headers=viewer).text)
    assert evidence not in chosen  # the chosen survey, not the latest: no data evidence from it
    assert f"/audit-panel?context=editor&survey_job_id={older}" in chosen  # the same survey in the audit
    _, section = _panel(client, viewer, mapping_id, f"survey_job_id={older}")
    assert f"survey job {older} has no survey.json" in section
    _, section = _panel(client, viewer, mapping_id)
    assert re.search(rf'<option value="{latest}" selected>', section)
    missing = client.get(f"/mappings/{mapping_id}?survey_job_id=999", headers=viewer)
    assert missing.status_code == 200 and evidence not in html.unescape(missing.text)  # names only
    _, section = _panel(client, viewer, mapping_id, "survey_job_id=999")
    assert "job 999 does not exist" in section


def test_the_jobs_list_filters_by_the_survey_kind(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    job_id = stored_survey()
    page = html.unescape(client.get("/jobs?kind=survey", headers=viewer).text)
    assert re.search(r'<option value="survey"\s+selected', page), "survey is a kind of the filter"
    assert f'href="/jobs/{job_id}"' in page


def test_every_editor_edit_keeps_the_chosen_survey(
    client: TestClient, viewer: Headers, editor: Headers, world: dict[str, Any], stored_survey: StoredSurvey
) -> None:
    """The survey chosen in the Audit section travels in ``#editor-state``: every edit, accept,
    reject, undo, preview and filter answer draws its ghost chips from it, not from the latest."""
    mapping_id = world["mapping"]["id"]
    chosen = stored_survey()
    latest = stored_survey()
    _survey_file(client, viewer, latest).unlink()  # the latest (the default) gives no data evidence
    data = "of this label's pixels are predicted"
    kept = f'name="survey_job_id" value="{chosen}"'
    page = html.unescape(client.get(f"/mappings/{mapping_id}?survey_job_id={chosen}", headers=editor).text)
    assert data in page and page.count(kept) == 2  # #editor-state and the row filter
    default = html.unescape(client.get(f"/mappings/{mapping_id}", headers=editor).text)
    assert data not in default and f'name="survey_job_id" value="{latest}"' in default
    rows_url = f"/mappings/{mapping_id}/rows?q=car"  # the row filter's request
    assert data in html.unescape(client.get(f"{rows_url}&survey_job_id={chosen}", headers=editor | HX).text)
    assert data not in html.unescape(client.get(rows_url, headers=editor | HX).text)
    base = client.get(f"/api/v1/mappings/{mapping_id}", headers=viewer).json()["current_version"]["id"]

    def post(path: str, form: dict[str, Any], *, survey: int | None = chosen) -> str:
        nonlocal base
        body = form | {"base_version": str(base), "view": "rows"}
        if survey is not None:
            body["survey_job_id"] = str(survey)
        r = client.post(f"/mappings/{mapping_id}{path}", data=body, headers=editor | HX)
        assert r.status_code == 200, r.text
        found = re.search(r'name="base_version" value="(\d+)"', r.text)
        base = int(found.group(1)) if found else base
        return html.unescape(r.text)

    edit = post("/edges", {"source": "car", "target": "3", "op": "add"})  # car's row comes back
    assert data in edit and kept in edit  # car → vegetation is still suggested from the chosen survey
    undone = post("/undo", {})
    assert data in undone and kept in undone
    plain = post("/edges", {"source": "car", "target": "3", "op": "add"}, survey=None)
    assert data not in plain and f'value="{latest}"' in plain  # without it: the latest survey
    post("/undo", {})
    rejected = post("/suggestions/reject", {"key": "3:unlabeled"})
    assert 'data-suggestion="3:unlabeled"' not in rejected
    back = post("/suggestions/unreject", {"key": "3:unlabeled"})
    assert 'data-suggestion="3:unlabeled"' in back and data in back
    accepted = post("/suggestions/accept", {"key": "3:unlabeled"})
    assert "Accepted suggestion ‘unlabeled’ → 3 sky" in accepted and kept in accepted
    preview_url = f"/mappings/{mapping_id}/suggestions/accept-all?min_score=0.5"
    preview = client.get(f"{preview_url}&survey_job_id={chosen}", headers=editor | HX).text
    assert 'value="2:car"' in preview  # car → vegetation scores ≥ 0.5 on the chosen survey's data
    assert 'value="2:car"' not in client.get(preview_url, headers=editor | HX).text
    confirmed = post("/suggestions/accept-all", {"keys": ["2:car"], "min_score": "0.5"})
    assert "Accepted 1 suggestion with score ≥ 0.50" in confirmed and kept in confirmed
    bad = client.post(
        f"/mappings/{mapping_id}/edges",
        data={"source": "car", "target": "3", "base_version": str(base), "survey_job_id": "abc"},
        headers=editor | HX,
    )
    assert bad.status_code == 422 and "survey_job_id" in bad.text


def test_thresholds_rerun_the_audit_and_apply_uses_them(
    client: TestClient, viewer: Headers, editor: Headers, world: dict[str, Any], stored_survey: StoredSurvey
) -> None:
    """The section's Thresholds form (the API's names, ranges and defaults) re-runs the audit; Apply
    posts them back, so a finding only the defaults show cannot be applied under stricter ones."""
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    _, text = _panel(client, editor, mapping_id)
    assert "(defaults)" in text and 'id="audit-thresholds-form"' in text
    defaults = {
        "min_pixels": "1000", "contradicted_max": "0.3", "dominant_min": "0.5", "propose_min": "0.15",
        "unused_max": "0.02", "void_confident_min": "0.6",
    }  # fmt: skip
    for name, value in defaults.items():
        assert re.search(rf'id="audit-{name}" name="{name}" type="number"[^>]*value="{value}"', text), name
        assert f"default {value}" in text
    assert "4 or 5 of 5 deliberately corrupted edges with at most 1 false flag" in text
    _, strict = _panel(client, editor, mapping_id, f"survey_job_id={job_id}&void_confident_min=0.9")
    assert re.findall(r'audit-finding" data-kind="(\w+)"', strict) == ["contradicted"]
    assert "changed</span>" in strict and 'value="0.9"' in strict and "Back to the defaults" in strict
    assert f'hx-post="/mappings/{mapping_id}/audit/apply?void_confident_min=0.9"' in strict
    _, review = _panel(client, viewer, mapping_id, "context=review&version=1&min_pixels=100000")
    assert "The survey agrees with every checked edge" in review and 'name="version" value="1"' in review
    head = client.get(f"/api/v1/mappings/{mapping_id}", headers=viewer).json()["current_version"]["id"]
    form = {"finding": "void_confident:3:unlabeled", "survey_job_id": str(job_id), "base_version": str(head)}
    url = f"/mappings/{mapping_id}/audit/apply"
    refused = client.post(f"{url}?void_confident_min=0.9", data=form, headers=editor | HX)
    assert refused.status_code == 409 and "no such audit finding any more" in html.unescape(refused.text)
    assert "changed</span>" in refused.text  # the refreshed section keeps the thresholds
    r = client.post(f"{url}?contradicted_max=0.25", data=form, headers=editor | HX)
    assert r.status_code == 200 and "audit: 'unlabeled' → sky" in html.unescape(r.text)
    assert 'value="0.25"' in r.text  # still the user's thresholds after the edit


def test_a_bad_threshold_is_a_422_naming_it(
    client: TestClient, editor: Headers, world: dict[str, Any], stored_survey: StoredSurvey
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    for query in (
        "contradicted_max=1.5",
        "dominant_min=-0.1",
        "propose_min=abc",
        "min_pixels=-1",
        "unused_max=",
        "unused_contrast=-1",
        "unused_contrast=1e7",
    ):
        field = query.split("=")[0]
        status, text = _panel(client, editor, mapping_id, f"survey_job_id={job_id}&{query}")
        assert status == 422 and field in text, (query, status)
    form = {"finding": "contradicted:2:car", "survey_job_id": str(job_id), "base_version": "1"}
    r = client.post(f"/mappings/{mapping_id}/audit/apply?unused_max=2", data=form, headers=editor | HX)
    assert r.status_code == 422 and "unused_max" in r.text
    r = client.post(f"/mappings/{mapping_id}/audit/apply?unused_contrast=abc", data=form, headers=editor | HX)
    assert r.status_code == 422 and "unused_contrast" in r.text


def test_the_data_evidence_floor_travels_with_the_chosen_survey(
    client: TestClient, viewer: Headers, editor: Headers, world: dict[str, Any], stored_survey: StoredSurvey
) -> None:
    """The floor set next to the survey (the suggestions API's ``data_min_share``) reloads the editor
    with it: road's 0.3 % vehicle becomes a ghost chip, and edits and previews keep it (``#editor-state``)."""
    mapping_id = world["mapping"]["id"]
    job_id = stored_survey()
    thin = 'data-suggestion="1:road"'
    kept = 'name="data_min_share" value="0.001"'
    editor_url = f"/mappings/{mapping_id}?survey_job_id={job_id}"
    default = html.unescape(client.get(editor_url, headers=editor).text)
    assert thin not in default and 'name="data_min_share"' not in default
    low = html.unescape(client.get(f"{editor_url}&data_min_share=0.001", headers=editor).text)
    assert thin in low and low.count(kept) == 2  # #editor-state and the row filter
    assert f"/audit-panel?context=editor&survey_job_id={job_id}&data_min_share=0.001" in low
    assert f"?view=matrix&survey_job_id={job_id}&data_min_share=0.001" in low
    _, section = _panel(client, editor, mapping_id, f"survey_job_id={job_id}&data_min_share=0.001")
    assert re.search(r'id="audit-data-min-share" type="number" name="data_min_share"[^>]*"0.001"', section)
    _, section = _panel(client, editor, mapping_id, f"survey_job_id={job_id}")
    assert 'value="0.005"' in section and "default 0.005" in section
    _, review = _panel(client, viewer, mapping_id, "context=review&version=1")
    assert "audit-data-min-share" not in review  # the review page has no ghost chips
    base = client.get(f"/api/v1/mappings/{mapping_id}", headers=viewer).json()["current_version"]["id"]
    form = {
        "base_version": str(base),
        "view": "rows",
        "survey_job_id": str(job_id),
        "data_min_share": "0.001",
    }
    edit = client.post(
        f"/mappings/{mapping_id}/edges", data=form | {"source": "car", "target": "3"}, headers=editor | HX
    )
    assert edit.status_code == 200 and kept in edit.text
    found = re.search(r'name="base_version" value="(\d+)"', edit.text)
    assert found
    applied = client.post(
        f"/mappings/{mapping_id}/audit/apply",
        data=form | {"base_version": found.group(1), "finding": "void_confident:3:unlabeled"},
        headers=editor | HX,
    )
    assert applied.status_code == 200 and kept in applied.text  # Apply carries it from #editor-state
    assert re.search(r'id="audit-data-min-share"[^>]*value="0.001"', applied.text)  # the fresh section too
    preview_url = f"/mappings/{mapping_id}/suggestions/accept-all?min_score=0&survey_job_id={job_id}"
    assert 'value="1:road"' in client.get(f"{preview_url}&data_min_share=0.001", headers=editor | HX).text
    assert 'value="1:road"' not in client.get(preview_url, headers=editor | HX).text
    for bad in ("-0.1", "1.5", "abc"):
        page = client.get(f"{editor_url}&data_min_share={bad}", headers=editor)
        assert page.status_code == 422 and "data_min_share" in page.text, bad
        posted = client.post(
            f"/mappings/{mapping_id}/undo", data=form | {"data_min_share": bad}, headers=editor | HX
        )
        assert posted.status_code == 422 and "data_min_share" in posted.text, bad
