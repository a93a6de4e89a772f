"""The home page's "Getting started" (web layer): the whole path, each step linking to where it is done.

Taxonomies → mapping → review → dataset → teacher → pseudo-labels → their review → student training →
evaluation. When the ML demo is loaded (``make run`` runs ``unilabel demo ml``), the links open the
demo's objects, and the job forms come pre-filled through their query parameters (``/jobs/new``:
``kind``, ``model_id``, ``dataset_id``, ``mapping_version_id``; ``/training/new``:
``pseudo_label_job_id``, ``dataset_id``, ``mapping_version_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from app.db import repositories_experiments as repo_experiments
from app.db import repositories_registry as registry
from app.db.models_registry import Dataset, Job, Model
from app.demo import ML_DEMO_DATASET, ML_DEMO_MAPPING, ML_DEMO_MODEL, ML_DEMO_SOURCE, ML_DEMO_TARGET
from app.domain.errors import NotFound
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    href: str
    action: str  # the link's text
    text: str  # what the step is for
    done: bool
    demo: str = ""  # what the link opens or pre-fills from the demo, in words


@dataclass(frozen=True, slots=True)
class _Demo:
    source_id: int | None
    target_id: int | None
    mapping_id: int | None
    version_id: int | None
    version_approved: bool
    dataset: Dataset | None
    model: Model | None


def _url(path: str, **params: int | str | None) -> str:
    query = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(query)}" if query else path


def _taxonomy_id(session: Session, name: str) -> int | None:
    try:
        return taxonomy_service.get_taxonomy_by_name(session, name).id
    except NotFound:
        return None


def _demo(session: Session) -> _Demo:
    mapping_id = version_id = None
    approved = False
    try:
        mapping = mapping_service.get_mapping_by_name(session, ML_DEMO_MAPPING)
        version = mapping_service.current_version(session, mapping.id)
        mapping_id, version_id, approved = mapping.id, version.id, version.status == "approved"
    except NotFound:
        pass
    return _Demo(
        source_id=_taxonomy_id(session, ML_DEMO_SOURCE),
        target_id=_taxonomy_id(session, ML_DEMO_TARGET),
        mapping_id=mapping_id,
        version_id=version_id,
        version_approved=approved,
        dataset=registry.get_dataset_by_name(session, ML_DEMO_DATASET),
        model=registry.get_model_by_name(session, ML_DEMO_MODEL),
    )


def _latest(session: Session, kind: str, dataset: Dataset | None) -> Job | None:
    rows, _ = job_service.list_jobs(
        session, limit=1, kind=kind, status="succeeded", dataset_id=dataset.id if dataset else None
    )
    return rows[0] if rows else None


def _ids(d: _Demo) -> dict[str, int | None]:
    return {
        "model_id": d.model.id if d.model else None,
        "dataset_id": d.dataset.id if d.dataset else None,
        "mapping_version_id": d.version_id,
    }


def _early_steps(d: _Demo, counts: dict[str, int]) -> list[Step]:
    demo_pair = f"{ML_DEMO_SOURCE} → {ML_DEMO_TARGET}"
    return [
        Step("Taxonomies", f"/taxonomies/{d.source_id}" if d.source_id else "/taxonomies",
             "Open the demo's label set" if d.source_id else "Import a taxonomy",
             "A dataset's labels (labels.csv or JSON) and the teacher's classes.",
             counts["taxonomies"] > 0, demo_pair if d.source_id else ""),
        Step("Mapping", f"/mappings/{d.mapping_id}" if d.mapping_id else "/mappings/new",
             "Open the demo mapping" if d.mapping_id else "Create a mapping",
             "Map each source label to the target classes (rows or matrix view, live validation).",
             counts["mappings"] > 0, ML_DEMO_MAPPING if d.mapping_id else ""),
        Step("Review", f"/mappings/{d.mapping_id}/review" if d.mapping_id else "/reviews",
             "Review the demo mapping" if d.mapping_id else "Open the review queue",
             "Submit for review; an approved version is locked and pinned by its hash.",
             d.version_approved or counts["approved"] > 0, "approved" if d.version_approved else ""),
        Step("Dataset", f"/datasets/{d.dataset.id}" if d.dataset else "/datasets/new",
             "Open the demo dataset" if d.dataset else "Register a dataset",
             "Images and label maps on disk, paired and scanned.",
             d.dataset is not None or counts["datasets"] > 0, ML_DEMO_DATASET if d.dataset else ""),
        Step("Teacher", f"/models/{d.model.id}" if d.model else "/models/new",
             "Open the demo teacher" if d.model else "Register a teacher model",
             "A segmentation model that predicts the target classes.",
             d.model is not None or counts["models"] > 0, ML_DEMO_MODEL if d.model else ""),
    ]  # fmt: skip


def _job_steps(session: Session, d: _Demo) -> list[Step]:
    ids = _ids(d)
    prefilled = "teacher, dataset and mapping pre-filled" if d.model and d.dataset and d.version_id else ""
    pseudo = _latest(session, "pseudo_label", d.dataset)
    train = _latest(session, "train", None)
    evaluation = _latest(session, "evaluate", None)
    pl_id = pseudo.id if pseudo else None
    return [
        Step("Pseudo-labels", _url("/jobs/new", kind="pseudo_label", **ids), "Submit a pseudo-label job",
             "The teacher labels the dataset, constrained by the approved mapping's priors.",
             pseudo is not None, prefilled),
        Step("Review the pseudo-labels", f"/jobs/{pl_id}/review" if pl_id else "/jobs?kind=pseudo_label",
             "Review the latest pseudo-labels" if pl_id else "Find pseudo-label jobs",
             "Worst images first, with the ground truth, the teacher and the pseudo-label as layers.",
             False, f"job #{pl_id}" if pl_id else ""),
        Step("Student training", _url("/training/new", pseudo_label_job_id=pl_id,
                                      dataset_id=ids["dataset_id"], mapping_version_id=d.version_id),
             "Train a student", "Train on the pseudo-labels, validate on the ground truth.",
             train is not None, f"pseudo-labels of job #{pl_id} pre-filled" if pl_id else ""),
        Step("Evaluation", _url("/jobs/new", kind="evaluate", **ids), "Evaluate a model",
             "mIoU and per-class IoU on a dataset; compare models side by side under Evaluations.",
             evaluation is not None, prefilled),
        Step("Experiment", "/experiments/new", "Run the whole method as one experiment",
             "Teacher, pseudo-labels of every extra, student and evaluation as one run, ending in a "
             "teacher-vs-student table; a mapping fix re-labels only the images it touches.",
             repo_experiments.page_experiments(session, limit=1, offset=0)[1] > 0,
             "the demo experiment pre-filled (about 1.5 min on a 2-core CPU)" if d.dataset else ""),
    ]  # fmt: skip


def getting_started(session: Session, counts: dict[str, int]) -> tuple[list[Step], bool]:
    """The steps, and whether the ML demo is loaded (then the links open its objects).

    ``counts``: ``taxonomies``, ``mappings``, ``approved``, ``datasets``, ``models``.
    """
    d = _demo(session)
    demo_loaded = d.mapping_id is not None and d.dataset is not None and d.model is not None
    return _early_steps(d, counts) + _job_steps(session, d), demo_loaded
