"""End-to-end (issue 15): the audit in the mapping editor. With a finished survey the editor's Audit
section lists a contradicted edge with its evidence and proposed change; Apply saves it as an
ordinary edit (a new version, the row's chips change) and the section refreshes; the review page
shows the same finding without the button.

Screenshots for docs/ui.md go to ``docs/screenshots/`` with ``UNILABEL_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.db.models_registry import Dataset, Job, Model
from app.domain.survey import SurveyStats
from app.services import users as user_service
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("UNILABEL_SCREENSHOTS") == "1":
        path = REPO_ROOT / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def _add_survey(s: Any, dataset: Dataset, model: Model, out: Path, name: str, building: list[int]) -> int:
    """A succeeded survey job of ``dataset`` by ``model`` (written to ``out``); ``building`` gives
    building's arg-max pixels over drivable, obstacle, vegetation, sky, void (road gives 0.3 % to
    obstacle: a thin target, no data evidence under the default floor)."""
    stats = SurveyStats(("drivable", "obstacle", "vegetation", "sky"))
    stats.add("road", [9000, 30, 0, 0, 970], [9000.0, 30, 0, 0, 970], images=12)
    stats.add("building", building, [float(v) for v in building], images=9)
    stats.add("sky", [0, 0, 0, 7000, 500], [0, 0, 0, 7000.0, 500], images=10)
    stats.images = 14
    out.mkdir()
    prov = {"teacher": {"model_id": model.id}, "sample": {"seed": 0}}
    (out / "survey.json").write_text(json.dumps({"survey": stats.to_json(), "provenance": prov}))
    job = Job(
        kind="survey",
        status="succeeded",
        name=name,
        params_json="{}",
        dataset_id=dataset.id,
        model_id=model.id,
        output_dir=str(out),
    )
    s.add(job)
    s.flush()
    return int(job.id)


def _surveyed_mapping(live_server: Any, tmp_path: Path, *, agreeing_later: bool = False) -> tuple[int, int]:
    """A mapping (road, sidewalk -> drivable; building -> obstacle; sky -> sky) and a succeeded
    survey whose teacher puts building's pixels on vegetation (its id is returned); with
    ``agreeing_later`` a later survey that agrees with building -> obstacle (the default one)."""
    with live_server.session_factory() as s:
        erin = user_service.get_user_by_name(s, "erin")
        source = factories.make_taxonomy(s)
        target = factories.make_class_list(s)
        mapping = factories.make_mapping(s, source=source, target=target, author=erin)
        dataset = Dataset(name=f"streets-{mapping.id}", taxonomy_id=source.id, root=str(tmp_path))
        model = Model(
            name=f"teacher-{mapping.id}", source="folder", spec=str(tmp_path), taxonomy_id=target.id
        )
        s.add_all([dataset, model])
        s.flush()
        job_id = _add_survey(
            s, dataset, model, tmp_path / "survey-out", "survey of streets", [0, 10, 8100, 0, 1890]
        )
        if agreeing_later:
            _add_survey(s, dataset, model, tmp_path / "later-out", "later survey", [0, 9080, 20, 0, 900])
        s.commit()
        return mapping.id, job_id


def test_audit_section_and_applying_a_proposed_change(
    new_page: Any, live_server: Any, tmp_path: Path, out_dir: Path
) -> None:
    mapping_id, job_id = _surveyed_mapping(live_server, tmp_path)
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    audit = page.locator("#mapping-audit")
    finding = audit.locator('.audit-finding[data-kind="contradicted"]')
    finding.wait_for()
    assert (
        audit.locator("#audit-survey option:checked")
        .inner_text()
        .startswith(f"job {job_id} · survey of streets")
    )
    text = finding.inner_text()
    assert "81% are predicted `vegetation`" in text and "10,000 px" in text
    assert "Proposed: obstacle → vegetation" in text and "14 surveyed images" in audit.inner_text()
    finding.scroll_into_view_if_needed()
    audit.screenshot(path=str(out_dir / "editor-audit.png"))
    finding.get_by_role("button", name=re.compile("Apply: building → vegetation")).click()
    page.locator("#editor-state strong", has_text=re.compile(r"^2$")).wait_for()
    audit.locator("#audit-clean").wait_for()
    row = page.locator('tr[data-source="building"]')
    chips = [c.strip() for c in row.locator(".chip > span:not(.swatch)").all_inner_texts()]
    assert any("vegetation" in c for c in chips) and not any("obstacle" in c for c in chips)
    assert "audit: 'building' → vegetation" in page.locator("#toasts").inner_text()
    review = new_page("erin")
    review.goto(f"/mappings/{mapping_id}/review?version=1")
    old = review.locator('#mapping-audit .audit-finding[data-kind="contradicted"]')
    old.wait_for()
    assert old.get_by_role("button").count() == 0
    review.locator("#mapping-audit").scroll_into_view_if_needed()
    review.locator("#mapping-audit").screenshot(path=str(out_dir / "review-audit.png"))


def test_the_teachers_evaluation_and_its_blind_spots_beside_the_findings(
    new_page: Any, live_server: Any, tmp_path: Path, out_dir: Path
) -> None:
    """A weak teacher (mIoU under 0.5 in its evaluation): the section warns, and the contradicted
    finding names the classes it involves that the teacher hardly recognises."""
    import numpy as np

    from worker.ml.evaluate import EvaluationResult, metrics_from_confusion

    mapping_id, _ = _surveyed_mapping(live_server, tmp_path)
    names = [n for _, n in factories.TARGET_CLASSES]  # drivable, obstacle, vegetation, sky
    # rows = truth, columns = prediction + void: obstacle and vegetation are mostly missed
    matrix = np.asarray([[80, 10, 10, 0, 0], [40, 10, 0, 0, 0], [60, 0, 15, 0, 0], [0, 0, 0, 90, 0]])
    result = EvaluationResult(
        metrics=metrics_from_confusion(matrix, names),
        confusion=matrix,
        evaluated=20,
        seconds=1.0,
        provenance={"class_names": names, "tta_views": ["identity"]},
    ).to_json()
    with live_server.session_factory() as s:
        model = s.query(Model).filter(Model.name == f"teacher-{mapping_id}").one()
        dataset = s.query(Dataset).filter(Dataset.name == f"streets-{mapping_id}").one()
        evaluation = Job(
            kind="evaluate",
            status="succeeded",
            name="teacher on streets val",
            params_json="{}",
            dataset_id=dataset.id,
            model_id=model.id,
            result_json=json.dumps(result),
        )
        s.add(evaluation)
        s.commit()
        evaluation_id = evaluation.id
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    audit = page.locator("#mapping-audit")
    teacher = audit.locator('#audit-teacher[data-level="warning"]')
    teacher.wait_for()
    assert f"(evaluation job {evaluation_id}); under 0.50" in teacher.inner_text()
    caveat = audit.locator('.audit-finding[data-kind="contradicted"] .audit-caveat').inner_text()
    assert "the teacher's IoU is 0.18 on `vegetation`, 0.17 on `obstacle`" in caveat, caveat
    teacher.get_by_role("link", name="Open the evaluation").click()
    page.wait_for_url(f"**/jobs/{evaluation_id}")
    page.go_back()
    audit.locator(".audit-finding").first.scroll_into_view_if_needed()
    audit.screenshot(path=str(out_dir / "editor-audit-teacher.png"))


def test_survey_form_on_the_dataset_page(
    new_page: Any, live_server: Any, tmp_path: Path, out_dir: Path
) -> None:
    mapping_id, _ = _surveyed_mapping(live_server, tmp_path)
    with live_server.session_factory() as s:
        dataset = s.query(Dataset).filter(Dataset.name == f"streets-{mapping_id}").one()
        model_name = f"teacher-{mapping_id}"
    page = new_page("erin")
    page.goto(f"/datasets/{dataset.id}")
    card = page.locator("#dataset-survey")
    card.wait_for()
    assert model_name in card.locator("#survey-model").inner_text()
    assert card.locator("#survey-sample").input_value() == "200"
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(out_dir / "dataset-survey.png"))


def test_the_chosen_survey_stays_through_edits(new_page: Any, live_server: Any, tmp_path: Path) -> None:
    """Choosing an older survey in the Audit section: the ghost chips of every later edit (remove a
    chip, Undo, accept) still take their data evidence from it, not from the latest survey."""
    mapping_id, older = _surveyed_mapping(live_server, tmp_path, agreeing_later=True)
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    page.locator("#mapping-audit #audit-survey").wait_for()
    building = page.locator('tr[data-source="building"]')
    ghost = building.locator('[data-suggestion="2:building"]')
    data = "81% of this label's pixels are predicted `vegetation`"
    assert ghost.count() == 0  # the latest survey agrees with building -> obstacle
    page.locator("#audit-survey").select_option(str(older))
    page.wait_for_url(re.compile(rf"survey_job_id={older}"))
    assert data in (ghost.locator(".ghost-evidence").text_content() or "")
    assert page.locator("#editor-state input[name=survey_job_id]").get_attribute("value") == str(older)
    building.get_by_role("button", name=re.compile("Remove obstacle")).click()
    page.locator("#editor-state strong", has_text=re.compile(r"^2$")).wait_for()
    assert data in (ghost.locator(".ghost-evidence").text_content() or "")
    page.locator("#undo-button").click()
    page.locator("#editor-state strong", has_text=re.compile(r"^3$")).wait_for()
    assert data in (ghost.locator(".ghost-evidence").text_content() or "")
    ghost.locator(".ghost-accept").click()
    page.locator("#editor-state strong", has_text=re.compile(r"^4$")).wait_for()
    assert "Accepted suggestion ‘building’ → 2 vegetation" in page.locator("#toasts").inner_text()
    assert page.locator("#editor-state input[name=survey_job_id]").get_attribute("value") == str(older)


def test_a_lower_data_floor_suggests_a_thin_target(new_page: Any, live_server: Any, tmp_path: Path) -> None:
    """Road gives 0.3 % of its pixels to obstacle: no ghost chip at the default floor (0.005); 0.001 in
    the field next to the survey reloads the editor with it, and the chip shows its data evidence."""
    mapping_id, _ = _surveyed_mapping(live_server, tmp_path)
    page = new_page("erin")
    page.goto(f"/mappings/{mapping_id}")
    field = page.locator("#mapping-audit").get_by_label("Suggestions: data evidence from a share of")
    field.wait_for()
    assert field.input_value() == "0.005"
    ghost = page.locator('tr[data-source="road"] [data-suggestion="1:road"]')
    assert ghost.count() == 0
    field.fill("0.001")
    field.press("Enter")
    page.wait_for_url(re.compile(r"data_min_share=0\.001"))
    ghost.wait_for()
    assert "0.3% `obstacle`" in (ghost.locator(".ghost-evidence").text_content() or "")
    assert page.locator("#editor-state input[name=data_min_share]").get_attribute("value") == "0.001"


def test_audit_thresholds_rerun_the_audit(
    new_page: Any, live_server: Any, tmp_path: Path, out_dir: Path
) -> None:
    """The Thresholds disclosure shows the defaults; a stricter dominant share re-runs the audit (the
    contradicted edge goes), and "Back to the defaults" brings it back."""
    mapping_id, _ = _surveyed_mapping(live_server, tmp_path)
    page = new_page("erin", height=1500)  # the whole section in view for its screenshot
    page.goto(f"/mappings/{mapping_id}")
    audit = page.locator("#mapping-audit")
    audit.locator('.audit-finding[data-kind="contradicted"]').wait_for()
    audit.locator(".audit-thresholds summary").click()
    field = audit.get_by_label("… and other classes together at least")
    assert field.input_value() == "0.5"
    field.fill("0.9")
    audit.get_by_role("button", name="Re-run the audit").click()
    audit.locator("#audit-clean").wait_for()
    assert "changed" in audit.locator(".audit-thresholds summary").inner_text()
    assert audit.get_by_label("… and other classes together at least").input_value() == "0.9"
    audit.scroll_into_view_if_needed()
    audit.screenshot(path=str(out_dir / "editor-audit-thresholds.png"))
    audit.get_by_role("button", name="Back to the defaults").click()
    audit.locator('.audit-finding[data-kind="contradicted"]').wait_for()
    assert "(defaults)" in audit.locator(".audit-thresholds summary").inner_text()
