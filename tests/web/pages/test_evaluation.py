"""Evaluation results people can read: the evaluation panel of an evaluate job (mIoU, pixel
accuracy, per-class IoU with bars, row-normalised confusion heat-map), the compare view, the model
page's Evaluate action and evaluations, the same data as JSON and CSV, and no Python reprs."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job, Model
from app.schemas.jobs import EvaluateParams
from app.schemas.models import ModelCreate
from app.services import jobs as job_service
from app.services import models as model_service
from tests.web.pages.conftest import Registry, fake_model_folder, unescape

NAMES = ("drivable", "vehicle", "vegetation", "sky")
# rows = truth, columns = prediction + void. A: vegetation predicted but never true (IoU 0).
CONF_A = [[90, 5, 0, 0, 5], [10, 30, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 10, 40, 0]]
# B: vegetation absent from truth and prediction (IoU None), better on vehicle and sky.
CONF_B = [[80, 10, 0, 0, 10], [5, 35, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 50, 0]]
REPR = re.compile(r"\{'|'\}|\[\{|\b(None|True|False)\b")


def result_json(conf: list[list[int]], mapping_hash: str) -> dict[str, Any]:
    """What ``worker.ml.evaluate.EvaluationResult.to_json`` stores (metrics, confusion, provenance)."""
    n = len(conf)
    per_class, ious = [], []
    for i in range(n):
        tp, gt, pred = conf[i][i], sum(conf[i]), sum(conf[r][i] for r in range(n))
        union = gt + pred - tp
        iou = tp / union if union else None
        ious.append(iou)
        per_class.append({"id": i, "name": NAMES[i], "iou": iou, "gt_pixels": gt, "pred_pixels": pred})
    total = sum(map(sum, conf))
    present = [v for v in ious if v is not None]
    metrics = {
        "pixel_accuracy": sum(conf[i][i] for i in range(n)) / total,
        "miou": sum(present) / len(present),
        "miou_all": sum(v or 0.0 for v in ious) / n,
        "present_classes": len(present),
        "num_classes": n,
        "pixels": total,
        "per_class": per_class,
    }
    return {
        "metrics": metrics, "confusion": conf, "evaluated": 3, "failed": 0, "errors": [], "seconds": 1.5,
        "model": {"source": "folder", "spec": "/x", "checksum": "c" * 64, "num_classes": n},
        "class_names": list(NAMES), "mapping_hash": mapping_hash, "tta_views": ["identity"],
        "device": "cpu", "versions": {"unilabel": "0.1.0", "torch": "2.13.0", "transformers": "4.57.0"},
    }  # fmt: skip


@dataclass
class Evaluated:
    reg: Registry
    second_model_id: int
    a: int  # tiny on val
    b: int  # tiny-2 on val (comparable with a)
    c: int  # tiny on train (not comparable)


def _submit(s: Session, settings: Settings, reg: Registry, model_id: int, split: str) -> Job:
    params = EvaluateParams(
        model_id=model_id, dataset_id=reg.dataset_id, mapping_version_id=reg.approved_version_id, split=split
    )
    return job_service.submit_job(s, params=params, settings=settings)


def _finish(s: Session, job: Job, conf: list[list[int]]) -> None:
    job.status = "succeeded"
    job.finished_at = datetime.now(UTC)
    job.result_json = json.dumps(result_json(conf, str(job.mapping_hash)))


@pytest.fixture
def evaluated(
    registry: Registry,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Evaluated:
    monkeypatch.setattr("app.queue.send_task", lambda *a, **kw: None)
    folder = fake_model_folder(settings.data_dir / "teacher2", NAMES)
    with session_factory() as s:
        target_id = s.get(Model, registry.model_id).taxonomy_id  # type: ignore[union-attr]
        body = ModelCreate(name="tiny-2", source="folder", spec=str(folder), taxonomy_id=target_id)
        second = model_service.register_model(s, body=body, settings=settings)
        a = _submit(s, settings, registry, registry.model_id, "val")
        b = _submit(s, settings, registry, second.id, "val")
        c = _submit(s, settings, registry, registry.model_id, "train")
        for job, conf in ((a, CONF_A), (b, CONF_B), (c, CONF_B)):
            _finish(s, job, conf)
        s.commit()
        return Evaluated(registry, second.id, a.id, b.id, c.id)


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page)))


def test_job_page_loads_the_panel_instead_of_raw_json(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    page = login("viewer").get(f"/jobs/{evaluated.a}").text
    assert f'hx-get="/jobs/{evaluated.a}/evaluation"' in page
    result = page.split(f'id="job-{evaluated.a}-result"', 1)[1].split("</section>", 1)[0]
    assert "per_class" not in result and "<pre>" not in result and "confusion" in result
    assert "mIoU <strong>0.571</strong>" in result  # (90/110 + 30/45 + 0 + 40/50) / 4


def test_panel_shows_metrics_per_class_bars_and_row_normalised_confusion(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    r = login("viewer").get(f"/jobs/{evaluated.a}/evaluation")
    assert r.status_code == 200
    page = unescape(r.text)
    assert 'hx-trigger="every 3s"' not in page  # terminal: no polling
    assert page.count('<span class="iou-bar"') == 4
    iou_rows = page.split('class="data-table iou-table"', 1)[1].split("</table>", 1)[0]
    assert all(name in iou_rows for name in NAMES) and iou_rows.count("<tr>") == 5
    confusion = page.split('class="confusion-table"', 1)[1].split("</table>", 1)[0]
    assert confusion.count("<tr>") == 5 and "<em>void</em>" in confusion
    assert 'title="90 of 100 pixels">90%' in confusion  # drivable row: 90 of 100 true pixels
    assert 'title="10 of 40 pixels">25%' in confusion  # vehicle row: 10 of 40 predicted as drivable
    assert "pixel accuracy" in page and "84.2 %" in page  # 160 / 190 (void counts as a miss)
    assert f"/evaluations/compare?job_id={evaluated.a}&job_id={evaluated.b}" in page  # same data, other model
    assert f"job_id={evaluated.c}" not in page  # another split is not offered
    assert f"/api/v1/evaluations/{evaluated.a}/per-class.csv" in page
    assert "torch 2.13.0" in page and "demo map" in page
    assert not REPR.search(_text(r.text)), REPR.search(_text(r.text))


def test_panel_polls_while_running_and_is_404_for_other_kinds(  # type: ignore[no-untyped-def]
    login, evaluated: Evaluated, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        job = s.get(Job, evaluated.a)
        assert job is not None
        job.status, job.result_json = "running", None
        s.commit()
    page = login("viewer").get(f"/jobs/{evaluated.a}/evaluation").text
    assert 'hx-trigger="every 3s"' in page and "Evaluating" in page
    with session_factory() as s:
        job = s.get(Job, evaluated.a)
        assert job is not None
        job.kind = "scan_dataset"
        s.commit()
    assert login("viewer").get(f"/jobs/{evaluated.a}/evaluation").status_code == 404


def test_compare_view_sets_models_side_by_side_with_differences(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    r = login("viewer").get(f"/evaluations/compare?job_id={evaluated.a}&job_id={evaluated.b}")
    assert r.status_code == 200, r.text
    page = unescape(r.text)
    table = page.split('class="data-table compare-table"', 1)[1].split("</table>", 1)[0]
    assert "tiny" in table and "tiny-2" in table
    # vehicle: A 30/45 = 0.667, B 35/50 = 0.700 -> +0.033 and B marked best
    vehicle = table.split("vehicle", 1)[1].split("</tr>", 1)[0]
    assert "0.667" in vehicle and "0.700" in vehicle and "+0.033" in vehicle and "delta-up" in vehicle
    assert vehicle.count("★") == 1 and 'class="best"' in vehicle
    drivable = table.split("drivable", 1)[1].split("</tr>", 1)[0]
    assert "delta-down" in drivable and "-0.056" in drivable  # A 90/110 = 0.818 > B 80/105 = 0.762
    assert "absent" in table.split(">vegetation<", 1)[1].split("</tr>", 1)[0]  # B: absent
    assert 'class="differs"' in table
    query = f"job_id={evaluated.a}&job_id={evaluated.b}"
    assert (
        f"/api/v1/evaluations/compare.csv?{query}" in page and f"/api/v1/evaluations/compare?{query}" in page
    )
    assert not REPR.search(_text(r.text))


@pytest.mark.parametrize("which", ["mixed", "one", "none"])
def test_compare_refuses_what_cannot_be_compared(login, evaluated: Evaluated, which: str) -> None:  # type: ignore[no-untyped-def]
    query = {
        "mixed": f"job_id={evaluated.a}&job_id={evaluated.c}",
        "one": f"job_id={evaluated.a}&job_id={evaluated.a}",
        "none": "",
    }[which]
    r = login("viewer").get(f"/evaluations/compare?{query}")
    assert r.status_code == 422
    message = {"mixed": "differ in split", "one": "got 1", "none": "got 0"}[which]
    assert message in unescape(r.text)
    api = login("viewer").client.get(f"/api/v1/evaluations/compare?{query}")
    assert api.status_code == 422


def test_evaluations_list_groups_comparable_runs(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    assert '<a class="btn" href="/evaluations">Evaluations</a>' in login("viewer").get("/jobs").text
    page = unescape(login("viewer").get("/evaluations").text)
    assert page.count('class="card section-gap evaluation-group"') == 2  # val and train
    assert f'name="job_id" value="{evaluated.a}"' in page and "Compare selected" in page
    only = unescape(login("viewer").get(f"/evaluations?model_id={evaluated.second_model_id}").text)
    assert f'value="{evaluated.b}"' in only and f'value="{evaluated.a}"' not in only


def test_api_gives_the_same_data_as_json_and_csv(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    client = login("viewer").client
    body = client.get(f"/api/v1/evaluations/{evaluated.a}").json()
    assert body["model_name"] == "tiny" and body["split"] == "val" and body["mapping_version"] == 1
    assert body["class_names"] == list(NAMES) and body["confusion"] == CONF_A
    vehicle = body["per_class"][1]
    assert vehicle["iou"] == pytest.approx(30 / 45) and vehicle["accuracy"] == pytest.approx(0.75)
    assert vehicle["color"] == "#00008e" and body["versions"]["torch"] == "2.13.0"
    rows = list(csv.reader(io.StringIO(client.get(f"/api/v1/evaluations/{evaluated.a}/per-class.csv").text)))
    assert rows[0] == ["id", "name", "iou", "accuracy", "gt_pixels", "pred_pixels"]
    assert rows[3][:3] == ["2", "vegetation", "0.000000"] and rows[3][4] == "0"
    conf = client.get(f"/api/v1/evaluations/{evaluated.a}/confusion.csv")
    assert (
        conf.headers["content-type"].startswith("text/csv")
        and "attachment" in conf.headers["content-disposition"]
    )
    assert conf.text.splitlines()[1] == "drivable,90,5,0,0,5"
    cmp = client.get(f"/api/v1/evaluations/compare?job_id={evaluated.b}&job_id={evaluated.a}").json()
    assert [e["job_id"] for e in cmp["evaluations"]] == [evaluated.b, evaluated.a]
    assert (
        cmp["classes"][1]["deltas"][1] == pytest.approx(30 / 45 - 35 / 50) and cmp["classes"][1]["best"] == 0
    )
    assert cmp["classes"][2]["ious"] == [None, 0.0] and cmp["classes"][2]["best"] is None
    text = client.get(f"/api/v1/evaluations/compare.csv?job_id={evaluated.a}&job_id={evaluated.b}").text
    assert (
        text.splitlines()[0]
        == f"id,name,iou tiny (#{evaluated.a}),iou tiny-2 (#{evaluated.b}),delta tiny-2 (#{evaluated.b})"
    )
    listed = client.get(f"/api/v1/evaluations?model_id={evaluated.reg.model_id}").json()
    assert {e["job_id"] for e in listed} == {evaluated.a, evaluated.c}
    assert client.get("/api/v1/evaluations/999999").status_code == 404
    assert client.get(f"/api/v1/evaluations/compare?job_id={evaluated.a}&job_id=999999").status_code == 404
    assert client.get(f"/api/v1/jobs/{evaluated.a}").json()["kind"] == "evaluate"


def test_model_page_offers_evaluate_and_lists_its_evaluations(login, evaluated: Evaluated) -> None:  # type: ignore[no-untyped-def]
    url = f"/models/{evaluated.reg.model_id}"
    editor = unescape(login("editor").get(url).text)
    assert f'href="/jobs/new?model_id={evaluated.reg.model_id}&kind=evaluate">Evaluate…' in editor
    viewer = unescape(login("viewer").get(url).text)
    assert "kind=evaluate" not in viewer  # viewers cannot submit jobs
    table = viewer.split('id="model-evaluations"', 1)[1].split("</section>", 1)[0]
    assert table.count("<tr>") == 3  # header + val + train
    assert (
        f"/evaluations/compare?job_id={evaluated.a}&job_id={evaluated.b}" in table
        and "with 1 other model" in table
    )
    form = unescape(login("editor").get(f"/jobs/new?model_id={evaluated.reg.model_id}&kind=evaluate").text)
    assert re.search(r'value="evaluate"\s+checked', form)
    assert f'<option value="{evaluated.reg.model_id}" selected' in form


def test_whole_dataset_evaluation_shows_a_row_per_split(  # type: ignore[no-untyped-def]
    login, evaluated: Evaluated, session_factory: sessionmaker[Session]
) -> None:
    split_a = {
        "images": 2,
        "pixels": 120,
        "miou": 0.5,
        "miou_all": 0.4,
        "pixel_accuracy": 0.75,
        "iou": [0.5] * 4,
    }
    split_b = split_a | {"images": 1, "pixels": 70, "miou": 0.625}
    with session_factory() as s:
        job = s.get(Job, evaluated.a)
        assert job is not None
        body = json.loads(str(job.result_json)) | {"per_split": {"train": split_a, "val": split_b}}
        job.result_json = json.dumps(body)
        s.commit()
    page = unescape(login("viewer").get(f"/jobs/{evaluated.a}/evaluation").text)
    table = page.split('class="data-table split-table"', 1)[1].split("</table>", 1)[0]
    assert (
        table.count("<tr>") == 3 and "<code>train</code>" in table and "0.625" in table and "75.0 %" in table
    )
    api = login("viewer").client.get(f"/api/v1/evaluations/{evaluated.a}").json()
    assert [(r["split"], r["images"]) for r in api["per_split"]] == [("train", 2), ("val", 1)]
    other = unescape(login("viewer").get(f"/jobs/{evaluated.b}/evaluation").text)
    assert "split-table" not in other  # results stored before per-split metrics: no table
