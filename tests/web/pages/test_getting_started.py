"""Home page "Getting started": the whole path, each step linking where it is done; with the ML demo
loaded the links open the demo's objects and the job forms come pre-filled (issue 11)."""

from __future__ import annotations

import html
import re

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from tests.web.pages.conftest import fake_model_folder

STEPS = (
    "Taxonomies", "Mapping", "Review", "Dataset", "Teacher", "Pseudo-labels",
    "Review the pseudo-labels", "Student training", "Evaluation", "Experiment",
)  # fmt: skip


def _steps(page_html: str) -> list[tuple[str, str]]:
    """(step title, link) of each item of the getting-started list, in order."""
    block = page_html.split('<ol class="getting-started">', 1)[1].split("</ol>", 1)[0]
    items = re.findall(r'<li[^>]*><strong>([^<]+)</strong>.*?<a href="([^"]+)"', block, flags=re.S)
    return [(title, html.unescape(href)) for title, href in items]


def test_the_whole_path_is_listed_with_a_link_per_step(login) -> None:  # type: ignore[no-untyped-def]
    steps = _steps(login("editor").get("/").text)
    assert [t for t, _ in steps] == list(STEPS)
    links = dict(steps)
    assert links["Taxonomies"] == "/taxonomies" and links["Mapping"] == "/mappings/new"
    assert links["Dataset"] == "/datasets/new" and links["Teacher"] == "/models/new"
    assert links["Pseudo-labels"] == "/jobs/new?kind=pseudo_label"
    assert links["Student training"] == "/training/new"
    assert links["Evaluation"] == "/jobs/new?kind=evaluate"
    assert links["Experiment"] == "/experiments/new"


def _load_demo(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    from worker.demo import TARGET, make_dataset, register_demo

    root = make_dataset(settings.data_dir / "demo" / "streets", count=4, height=24, width=32)
    teacher = fake_model_folder(settings.data_dir / "demo" / "teacher", TARGET.names)
    with session_factory() as s:
        ids = register_demo(s, settings, dataset_root=root, teacher_dir=teacher)
        s.commit()
    return {"dataset": ids.dataset_id, "model": ids.model_id, "version": ids.mapping_version_id}


def test_with_the_demo_loaded_steps_open_its_objects_and_prefill_the_forms(  # type: ignore[no-untyped-def]
    login, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _load_demo(session_factory, settings)
    ed = login("editor")
    home = ed.get("/").text
    assert "The demo is loaded" in home
    links = dict(_steps(home))
    assert re.fullmatch(r"/mappings/\d+", links["Mapping"])
    assert links["Review"] == links["Mapping"] + "/review"
    assert links["Dataset"] == f"/datasets/{ids['dataset']}" and links["Teacher"] == f"/models/{ids['model']}"
    prefill = f"model_id={ids['model']}&dataset_id={ids['dataset']}&mapping_version_id={ids['version']}"
    assert links["Pseudo-labels"] == f"/jobs/new?kind=pseudo_label&{prefill}"
    assert links["Evaluation"] == f"/jobs/new?kind=evaluate&{prefill}"
    for step in ("Taxonomies", "Mapping", "Review", "Dataset", "Teacher", "Student training"):
        assert ed.get(links[step]).status_code == 200, step
    form = ed.get(links["Pseudo-labels"]).text
    assert re.search(rf'<option value="{ids["model"]}"\s+selected', form)
    assert re.search(rf'<option value="{ids["dataset"]}"\s+selected', form)
    training = ed.get(links["Student training"]).text  # the demo's ground truth as validation set
    assert re.search(rf'<option value="gt:{ids["dataset"]}:{ids["version"]}"\s+selected', training)


def test_training_form_preselects_pseudo_labels_and_validation_from_the_query(login, registry) -> None:  # type: ignore[no-untyped-def]
    r = login("editor").get(
        f"/training/new?dataset_id={registry.dataset_id}&mapping_version_id={registry.approved_version_id}"
    )
    assert r.status_code == 200
    assert re.search(
        rf'name="val_source_0".*?value="gt:{registry.dataset_id}:{registry.approved_version_id}"\s+selected',
        r.text,
        re.S,
    )
    bad = login("editor").get("/training/new?pseudo_label_job_id=abc")
    assert bad.status_code == 422
