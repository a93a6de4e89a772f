"""The ``train`` job step (task adapter layer): rows -> ``TrainConfig`` + ``LabeledSet``s -> ``train``.

``run_training`` is a body for ``worker.tasks._run_leased``. It resolves the job's sets from the
database (each mapping version re-checked against the hash pinned at submission), trains in the
job's run folder (``resume`` is on, so a retried or redelivered job continues from the folder's last
checkpoint with the same schedule), and on success registers the best checkpoint as a ``student``
model with its target taxonomy, best metrics and provenance. Cancellation is cooperative: the
recorder's flag becomes ``should_stop``, and the library saves a last checkpoint before returning.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import repositories_registry as repo
from app.db.models_registry import Job
from app.db.repositories import get_user
from app.db.session import unit_of_work
from app.domain.errors import InvalidInput
from app.domain.jobs import Progress
from app.domain.label_codec import LabelEncoding
from app.domain.priors import compile_priors
from app.domain.taxonomy import Taxonomy
from app.schemas.jobs import TrainParams
from app.schemas.models import ModelCreate
from app.schemas.training import TrainSetRef, ValSetRef
from app.services import datasets as dataset_service
from app.services import image_reviews as image_review_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.jobs import log
from worker import context
from worker.context import resolve_device
from worker.progress import JobCancelled, JobProgressRecorder

if TYPE_CHECKING:
    from worker.ml.train import LabeledSet, TrainConfig

logger = logging.getLogger(__name__)


def _ground_truth(
    session: Session, ref: TrainSetRef | ValSetRef, target: Taxonomy, weight: float
) -> LabeledSet:
    """A dataset's pairs with its labels mapped by the pinned version's lookup table."""
    from worker.ml.data import PairDataset
    from worker.ml.train.datasets import DatasetPairs, LabeledSet

    version = mapping_service.get_version(session, int(ref.mapping_version_id or 0))
    if version.content_hash != ref.mapping_hash:
        raise InvalidInput(
            f"set {ref.name!r}: mapping version {version.id} changed since submission "
            f"(hash {version.content_hash[:12]} != pinned {str(ref.mapping_hash)[:12]})",
            field="mapping_version_id",
        )
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id, generated=False)
    priors = compile_priors(mapping_service.version_edges(version), source, target)
    dataset = dataset_service.get_dataset(session, int(ref.dataset_id or 0))
    pairs = list(dataset_service.pair_dataset(dataset, split=ref.split).pairs)
    if not pairs:
        raise InvalidInput(f"set {ref.name!r}: dataset {dataset.name!r} has no pairs", field="train_sets")
    data = PairDataset(
        Path(dataset.root),
        pairs,
        encoding=LabelEncoding(dataset.label_encoding),
        colors=source.colors,
        palette=dataset_service.label_palette(dataset, source),
        labels_root=dataset_service.label_root(dataset),
    )
    provenance = {
        "kind": "ground_truth",
        "dataset_id": dataset.id,
        "dataset": dataset.name,
        "split": ref.split,
        "mapping_version_id": version.id,
        "mapping_hash": version.content_hash,
        "images": len(pairs),
        **_crop(ref),
    }
    return LabeledSet(
        str(ref.name),
        DatasetPairs(data),
        weight=weight,
        lut=priors.lut,
        provenance=provenance,
        crop_fraction=getattr(ref, "crop_fraction", None),
    )


def _crop(ref: TrainSetRef | ValSetRef) -> dict[str, Any]:
    """A training set's own crop fraction and where it comes from, for its provenance."""
    fraction = getattr(ref, "crop_fraction", None)
    if fraction is None:
        return {}
    source = getattr(ref, "crop_fraction_source", None)
    return {"crop_fraction": list(fraction), "crop_fraction_source": source}


def _pseudo_labels(session: Session, ref: TrainSetRef) -> LabeledSet:
    """The images of a pseudo-label run's dataset with the run's label PNGs."""
    from worker.ml.train.datasets import LabeledSet, PseudoLabelPairs
    from worker.sharding import read_pairs

    run = repo.get_job(session, int(ref.job_id or 0))
    if run is None or run.status != "succeeded" or not run.output_dir or run.dataset_id is None:
        raise InvalidInput(f"set {ref.name!r}: pseudo-label job {ref.job_id} is gone or unfinished")
    dataset = dataset_service.get_dataset(session, run.dataset_id)
    out_dir = Path(run.output_dir)
    pairs = read_pairs(out_dir)
    if ref.split is not None:  # only that split's images (and so their pseudo-labels)
        pairs = [p for p in pairs if p.split == ref.split]
        if not pairs:
            raise InvalidInput(
                f"set {ref.name!r}: pseudo-label job {run.id} has no images in split {ref.split!r}"
            )
    rejected, decisions_hash = image_review_service.training_exclusions(session, run.id)
    kept = [p for p in pairs if p.image not in rejected]  # reviewers' rejections (issue 12)
    excluded, pairs = len(pairs) - len(kept), kept
    if not pairs:
        raise InvalidInput(f"set {ref.name!r}: every image of pseudo-label job {run.id} is rejected")
    provenance = {
        "kind": "pseudo_labels",
        "pseudo_label_job_id": run.id,
        "run_dir": str(out_dir),
        "dataset_id": dataset.id,
        "dataset": dataset.name,
        "teacher_model_id": run.model_id,
        "mapping_version_id": run.mapping_version_id,
        "mapping_hash": run.mapping_hash,
        "use_priors": json.loads(run.params_json or "{}").get("use_priors", True),
        "split": ref.split,
        "images": len(pairs),
        "rejected_excluded": excluded,
        "review_snapshot_hash": decisions_hash,
        **_crop(ref),
    }
    source = PseudoLabelPairs(Path(dataset.root), out_dir, pairs)
    return LabeledSet(
        str(ref.name),
        source,
        kind="pseudo_labels",
        weight=ref.weight,
        provenance=provenance,
        crop_fraction=ref.crop_fraction,
    )


def build_inputs(job: Job) -> tuple[TrainParams, Taxonomy, TrainConfig, list[LabeledSet], list[LabeledSet]]:
    """The job's params, target taxonomy, training config and sets (read in one transaction)."""
    from worker.ml.train import TrainConfig
    from worker.runtime import load_registered_model

    params = TrainParams.model_validate_json(job.params_json)
    with unit_of_work(context.session_factory()) as s:
        target = taxonomy_service.load_taxonomy(s, int(params.target_taxonomy_id or 0))
        train_sets = [
            _ground_truth(s, ref, target, ref.weight)
            if ref.kind == "ground_truth"
            else _pseudo_labels(s, ref)
            for ref in params.train_sets
        ]
        val_sets = [_ground_truth(s, ref, target, 1.0) for ref in params.val_sets]
        start = (
            load_registered_model(s, params.start_model_id, field="start_model_id")
            if params.start_model_id
            else None
        )
    values = params.recipe.config_values()
    values.update(
        output_dir=str(job.output_dir),
        class_names=list(target.names),
        start_model=start.spec if start else None,
        start_model_trust_pickle=False,  # registered models load from safetensors (a .pth converted)
        start_model_mean=start.normalization["mean"] if start and start.normalization else None,
        start_model_std=start.normalization["std"] if start and start.normalization else None,
        model_config=params.architecture,
        resume=True,
        cpu=resolve_device(params.device) == "cpu",
    )
    return params, target, TrainConfig.from_json(values), train_sets, val_sets


class _Progress:
    """``on_progress`` for the library: records through the job recorder, never raises on cancel.

    A cancel flag turns ``should_stop`` True, so the library saves its last checkpoint and returns
    ``stop_reason == "stopped"`` instead of being interrupted mid-step.
    """

    def __init__(self, recorder: JobProgressRecorder) -> None:
        self.recorder = recorder

    def __call__(self, progress: Progress, /) -> None:
        with contextlib.suppress(JobCancelled):
            self.recorder(progress)


def _log_validation(job_id: int) -> Any:
    def on_metrics(step: int, record: dict[str, Any]) -> None:
        if record.get("kind") != "val":
            return
        text = f"validation at iteration {step}: mIoU {record.get('val/miou', 0.0):.3f}"
        text += f", pixel accuracy {record.get('val/pixel_accuracy', 0.0):.3f}"
        if record.get("val/improved"):
            text += " (new best)"
        try:
            with unit_of_work(context.session_factory()) as s:
                log(s, job_id, text)
        except Exception:  # a log line is never worth failing the run
            logger.exception("job %s: could not write a log line", job_id)

    return on_metrics


def run_training(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    """Train (resuming when the run folder has a checkpoint) and register the best checkpoint."""
    from worker.ml.train import train
    from worker.ml.train.state import last_checkpoint

    params, target, config, train_sets, val_sets = build_inputs(job)
    resumed = last_checkpoint(config.output_dir / "checkpoints")
    with unit_of_work(context.session_factory()) as s:
        sizes = ", ".join(f"{t.name} ({len(t)} images, weight {t.weight:g})" for t in train_sets)
        log(s, job.id, f"training on {sizes}; {len(val_sets)} validation set(s)")
        if resumed is not None:
            log(s, job.id, f"resuming from {resumed.name}")
    result = train(
        config,
        train_sets,
        val_sets,
        on_progress=_Progress(recorder),
        on_metrics=_log_validation(job.id),
        should_stop=recorder.should_stop,
    )
    summary: dict[str, Any] = {
        "stop_reason": result.stop_reason,
        "final_step": result.final_step,
        "total_iterations": result.total_iterations,
        "best_step": result.best_step,
        "best_metrics": _pooled(result.best_metrics),
        "output_dir": str(config.output_dir),
        "nonfinite_steps": result.nonfinite_steps,
    }
    if result.stop_reason == "stopped":
        return {**summary, "_stopped": True}
    provenance = {
        "train_job_id": job.id,
        "start_model_id": params.start_model_id,
        "architecture": params.architecture if params.start_model_id is None else None,
        "training_sets": [{"name": t.name, "weight": t.weight, **t.provenance} for t in train_sets],
        "validation_sets": [{"name": v.name, **v.provenance} for v in val_sets],
        "recipe": params.recipe.model_dump(mode="json"),
        "preset": params.recipe.preset,
        "overrides": params.recipe.overrides,
        "nonfinite_steps": result.nonfinite_steps,
        "best_step": result.best_step,
        "best_metrics": summary["best_metrics"],
        "stop_reason": result.stop_reason,
    }
    model_id, name = register_student(job, params, target, Path(result.model_checkpoint), provenance)
    return {**summary, "model_id": model_id, "model_name": name}


def _pooled(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """Scalars of the best validation (pooled and per set), without the per-class lists."""
    if not metrics:
        return None
    pooled = metrics.get("pooled", {})
    out = {k: pooled[k] for k in ("miou", "miou_all", "pixel_accuracy", "loss") if k in pooled}
    out["per_set"] = {
        name: {k: m[k] for k in ("miou", "miou_all", "pixel_accuracy") if k in m}
        for name, m in metrics.get("per_set", {}).items()
    }
    return out


def register_student(
    job: Job, params: TrainParams, target: Taxonomy, checkpoint: Path, provenance: dict[str, Any]
) -> tuple[int, str]:
    """Register ``checkpoint`` as a student model (idempotent: a redelivered job finds its own row)."""
    name = (params.model_name or "").strip() or f"student-job-{job.id}"
    with unit_of_work(context.session_factory()) as s:
        existing = repo.get_model_by_name(s, name)
        if existing is not None:
            if json.loads(existing.provenance_json or "{}").get("train_job_id") == job.id:
                return existing.id, existing.name
            name = f"{name}-job-{job.id}"
        body = ModelCreate(
            name=name,
            description=f"student trained by job {job.id}",
            role="student",
            source="folder",
            spec=str(checkpoint),
            taxonomy_id=int(params.target_taxonomy_id or 0),
        )
        owner = get_user(s, job.created_by_id) if job.created_by_id is not None else None
        row = model_service.register_model(s, body=body, settings=get_settings(), user=owner)
        row.provenance_json = json.dumps({**json.loads(row.provenance_json or "{}"), **provenance})
        log(s, job.id, f"registered model {row.name!r} (id {row.id}) from {checkpoint}")
        return row.id, row.name
