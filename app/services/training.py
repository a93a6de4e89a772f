"""Training-job use cases (services layer): validate a ``train`` submission, read a run's metrics.

``check_train`` runs before a row exists (called by ``services.jobs.submit_job``): every set exists
and is usable (a ground-truth set's dataset is labelled in its mapping's source taxonomy and the
version is approved or explicitly overridden; a pseudo-label set is a *succeeded* pseudo-label
job, whose ``split`` must exist in the run), every set maps to the same target taxonomy, no training
set shares images with a validation set (unless ``allow_overlap``), the start model exists. It pins each set's
mapping version by content hash inside the params. ``read_metrics`` serves
``GET /api/v1/jobs/{id}/metrics`` from the run folder's ``metrics.jsonl`` and
``best_confusion.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.models import MappingVersion
from app.domain.errors import InvalidInput, NotFound
from app.schemas.jobs import TrainParams
from app.schemas.training import TrainSetRef, ValSetRef
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services import training_defaults
from app.services.job_inputs import taxonomy_name

METRICS_FILE = "metrics.jsonl"
CONFUSION_FILE = "best_confusion.json"
PAIRS_FILE = "pairs.jsonl"  # written by the pseudo-label planner (worker/sharding.py)


@dataclass
class _Pins:
    """What the checks found: the target taxonomy of each set, overrides, the row's columns."""

    targets: dict[str, int] = field(default_factory=dict)  # field -> target taxonomy id
    overrides: list[str] = field(default_factory=list)
    first: dict[str, Any] = field(default_factory=dict)  # dataset/mapping columns of the first set


def _version(
    session: Session, version_id: int, where: str, params: TrainParams, pins: _Pins
) -> tuple[MappingVersion, Any]:
    """The mapping version and its mapping; unapproved ones need the recorded override."""
    try:
        version = mapping_service.get_version(session, version_id)
    except NotFound as exc:
        raise NotFound(f"{where}: mapping version {version_id} does not exist", field=where) from exc
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    if version.status != "approved":
        if not params.allow_unapproved:
            raise InvalidInput(
                f"{where}: version {version.number} of mapping {mapping.name!r} is {version.status}, "
                "not approved; approve it or pass allow_unapproved with an override_reason",
                field=where,
                details={"status": version.status},
            )
        if not (params.override_reason or "").strip():
            raise InvalidInput(
                "allow_unapproved needs an override_reason (it is recorded)", field="override_reason"
            )
        pins.overrides.append(f"{where}: {mapping.name} v{version.number}")
    return version, mapping


def _ground_truth(
    session: Session, ref: TrainSetRef | ValSetRef, where: str, params: TrainParams, pins: _Pins
) -> None:
    """Check a dataset + mapping version set; pin the hash; record its target taxonomy."""
    try:
        dataset = dataset_service.get_dataset(session, int(ref.dataset_id or 0))
    except NotFound as exc:
        raise NotFound(f"{where}: dataset {ref.dataset_id} does not exist", field=where) from exc
    version, mapping = _version(session, int(ref.mapping_version_id or 0), where, params, pins)
    if mapping.source_taxonomy_id != dataset.taxonomy_id:
        raise InvalidInput(
            f"{where}: dataset {dataset.name!r} is labelled in taxonomy "
            f"{taxonomy_name(session, dataset.taxonomy_id)}, but mapping {mapping.name!r} maps from "
            f"taxonomy {taxonomy_name(session, mapping.source_taxonomy_id)}",
            field=where,
            details={
                "dataset_taxonomy_id": dataset.taxonomy_id,
                "mapping_source_taxonomy_id": mapping.source_taxonomy_id,
            },
        )
    if ref.split is not None and ref.split not in json.loads(dataset.splits_json or "[]"):
        raise InvalidInput(f"{where}: dataset {dataset.name!r} has no split {ref.split!r}", field=where)
    ref.mapping_hash = version.content_hash
    ref.name = ref.name or (f"{dataset.name}-{ref.split}" if ref.split else dataset.name)
    pins.targets[where] = mapping.target_taxonomy_id
    pins.first.setdefault("dataset_id", dataset.id)
    pins.first.setdefault("mapping_version_id", version.id)
    pins.first.setdefault("mapping_hash", version.content_hash)


def _pseudo_labels(session: Session, ref: TrainSetRef, where: str, pins: _Pins) -> None:
    """Check a pseudo-label set: a succeeded pseudo_label job whose run folder is complete."""
    job = repo.get_job(session, int(ref.job_id or 0))
    if job is None or job.parent_id is not None:
        raise NotFound(f"{where}: job {ref.job_id} does not exist", field=where)
    if job.kind not in ("pseudo_label", "label_import"):  # label_import: corrected masks (issue 14)
        raise InvalidInput(f"{where}: job {job.id} is a {job.kind} job, not a pseudo-label run", field=where)
    if job.status != "succeeded":
        raise InvalidInput(
            f"{where}: pseudo-label job {job.id} is {job.status}; only succeeded runs can be trained on",
            field=where,
            details={"status": job.status},
        )
    if not job.output_dir or not (Path(job.output_dir) / PAIRS_FILE).is_file() or job.model_id is None:
        raise InvalidInput(f"{where}: the outputs of pseudo-label job {job.id} are gone", field=where)
    model = model_service.get_model(session, job.model_id)
    if ref.split is not None:
        splits = {row.get("split") for row in _run_pairs(Path(job.output_dir))}
        if ref.split not in splits:
            raise InvalidInput(
                f"{where}: pseudo-label job {job.id} has no images in split {ref.split!r} "
                f"(its splits: {sorted(s for s in splits if s) or 'none'})",
                field=where,
            )
    ref.mapping_hash = job.mapping_hash
    ref.name = ref.name or (f"pl-job-{job.id}-{ref.split}" if ref.split else f"pl-job-{job.id}")
    pins.targets[where] = model.taxonomy_id
    pins.first.setdefault("dataset_id", job.dataset_id)


def _run_pairs(out_dir: Path) -> list[dict[str, Any]]:
    """The pairs a pseudo-label run labelled (its ``pairs.jsonl``: image, label, split)."""
    lines = (out_dir / PAIRS_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _images(session: Session, ref: TrainSetRef | ValSetRef) -> set[str]:
    """Absolute paths of a set's images (one split when it names one)."""
    if isinstance(ref, TrainSetRef) and ref.kind == "pseudo_labels":
        job = repo.get_job(session, int(ref.job_id or 0))
        if job is None or job.dataset_id is None or not job.output_dir:
            return set()
        root = Path(dataset_service.get_dataset(session, job.dataset_id).root)
        rows = _run_pairs(Path(job.output_dir))
        return {str(root / r["image"]) for r in rows if ref.split is None or r.get("split") == ref.split}
    dataset = dataset_service.get_dataset(session, int(ref.dataset_id or 0))
    pairs = dataset_service.pair_dataset(dataset, split=ref.split).pairs
    return {str(Path(dataset.root) / p.image) for p in pairs}


def _check_overlap(session: Session, params: TrainParams) -> None:
    """Refuse a training set that shares images with a validation set, unless ``allow_overlap``."""
    if params.allow_overlap or not params.val_sets:
        return
    val = [_images(session, ref) for ref in params.val_sets]
    for i, ref in enumerate(params.train_sets):
        if ref.weight <= 0:
            continue
        images = _images(session, ref)
        for j, val_images in enumerate(val):
            shared = images & val_images
            if shared:
                raise InvalidInput(
                    f"train_sets.{i}: training set {ref.name!r} shares {len(shared)} image(s) with "
                    f"validation set {params.val_sets[j].name!r} (e.g. {min(shared)}); its scores would "
                    "be inflated. Choose another split (a pseudo-label set takes one too), or set "
                    "allow_overlap to train on them anyway",
                    field=f"train_sets.{i}",
                    details={"val_set": j, "shared_images": len(shared)},
                )


def _check_targets(session: Session, pins: _Pins) -> int:
    """The one target taxonomy every set maps to (a class list), or a refusal naming each set's."""
    targets = set(pins.targets.values())
    if len(targets) > 1:
        first = next(iter(pins.targets.values()))
        odd = next(k for k, v in pins.targets.items() if v != first)
        raise InvalidInput(
            "every training and validation set must map to the same target taxonomy; they map to "
            + ", ".join(f"{taxonomy_name(session, t)} ({where})" for where, t in pins.targets.items()),
            field=odd,
            details={"targets": pins.targets},
        )
    target_id = targets.pop()
    target = taxonomy_service.load_taxonomy(session, target_id)
    if not target.is_class_list():
        raise InvalidInput(f"target taxonomy {target.name!r} is not a class list 0..N-1", field="train_sets")
    return target_id


def _unique_names(params: TrainParams) -> None:
    seen: set[str] = set()
    refs: list[TrainSetRef | ValSetRef] = [*params.train_sets, *params.val_sets]
    for i, ref in enumerate(refs):
        name = str(ref.name)
        if name in seen:
            ref.name = f"{name}-{i}"
        seen.add(str(ref.name))


def check_train(session: Session, params: TrainParams) -> dict[str, Any]:
    """Validate a train submission; pins versions inside ``params``; the new row's column values."""
    pins = _Pins()
    for i, ref in enumerate(params.train_sets):
        if ref.kind == "ground_truth":
            _ground_truth(session, ref, f"train_sets.{i}", params, pins)
        else:
            _pseudo_labels(session, ref, f"train_sets.{i}", pins)
    for i, val in enumerate(params.val_sets):
        _ground_truth(session, val, f"val_sets.{i}", params, pins)
    if sum(ref.weight for ref in params.train_sets) <= 0:
        raise InvalidInput("at least one training set needs a weight above 0", field="train_sets")
    if params.target_taxonomy_id is not None:
        pins.targets.setdefault("target_taxonomy_id", params.target_taxonomy_id)
    target_id = _check_targets(session, pins)
    params.target_taxonomy_id = target_id
    _unique_names(params)
    _check_overlap(session, params)
    training_defaults.apply_dataset_crops(session, params)
    training_defaults.apply_paper_start(session, params)
    if params.start_model_id is not None:
        try:
            model = model_service.get_model(session, params.start_model_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="start_model_id") from exc
        model_service.usable_spec(session, model, field="start_model_id")  # files there; a pickle needs trust
    if params.model_name and repo.get_model_by_name(session, params.model_name.strip()) is not None:
        raise InvalidInput(f"a model named {params.model_name!r} already exists", field="model_name")
    override = (params.override_reason or "").strip() if pins.overrides else None
    return {
        **pins.first,
        "model_id": params.start_model_id,
        "approval_override": f"{override} ({'; '.join(pins.overrides)})" if override else None,
    }


# --- metrics --------------------------------------------------------------------------------------


def _records(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a torn last line is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _best(root: Path, colors: dict[str, str | None]) -> dict[str, Any] | None:
    """The best checkpoint's metrics and confusion matrices (``best_confusion.json`` + ``best.json``)."""
    confusion_path, best_path = root / CONFUSION_FILE, root / "checkpoints" / "best.json"
    if not confusion_path.is_file() or not best_path.is_file():
        return None
    confusion = json.loads(confusion_path.read_text(encoding="utf-8"))
    metrics = json.loads(best_path.read_text(encoding="utf-8")).get("metrics", {})
    pooled = dict(metrics.get("pooled", {}))
    per_class = [{**c, "color": colors.get(c["name"])} for c in pooled.pop("per_class", [])]
    pooled.pop("convention", None)
    per_set = {
        name: {k: v for k, v in m.items() if k not in ("per_class", "convention")}
        for name, m in metrics.get("per_set", {}).items()
    }
    return {
        "step": int(confusion.pop("step")),
        "class_names": confusion.pop("class_names"),
        "metrics": pooled,
        "per_set": per_set,
        "per_class_iou": per_class,
        "confusion": confusion,
    }


def read_metrics(session: Session, job_id: int) -> dict[str, Any]:
    """The fields of ``TrainMetrics`` for a ``train`` job (empty lists before the first record)."""
    job = repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    if job.kind != "train":
        raise NotFound(f"job {job_id} is a {job.kind} job; only train jobs have metrics", field="job_id")
    root = Path(job.output_dir or "")
    records = _records(root / METRICS_FILE) if job.output_dir else []
    train = [r for r in records if r.get("kind") == "train"]
    val = [
        {k: v for k, v in r.items() if k not in ("per_set", "pooled")}
        for r in records
        if r.get("kind") == "val"
    ]
    result = json.loads(job.result_json) if job.result_json else {}
    colors: dict[str, str | None] = {}
    target_id = json.loads(job.params_json or "{}").get("target_taxonomy_id")
    if target_id is not None:
        colors = {lb.name: lb.color for lb in taxonomy_service.load_taxonomy(session, int(target_id)).labels}
    return {
        "job_id": job.id,
        "status": job.status,
        "train": train,
        "val": val,
        "best": _best(root, colors) if job.output_dir else None,
        "model_id": result.get("model_id"),
        "total_iterations": job.progress_total or None,
    }
