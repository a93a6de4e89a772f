"""What a running job needs from the database, resolved once per task (task adapter layer).

Loads the job's dataset, model and pinned mapping version; checks the pin (content hash) and the
model's classes; compiles the priors; keeps recently used teachers in a small per-process cache.
A registered model is loaded from safetensors weights only: a paper ``.pth`` through the folder an
admin's trust had converted (:func:`app.services.model_trust.usable_spec`), never its pickle.
:func:`load_mapping_version` and :func:`load_registered_model` are also what ``unilabel
pseudo-label``/``evaluate`` use for database ids (``worker/cli_inputs.py``).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain.errors import InvalidInput
from app.domain.label_codec import LabelEncoding, Palette
from app.domain.priors import CompiledPriors, compile_priors
from app.domain.taxonomy import Taxonomy
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from worker.context import resolve_device
from worker.ml.checkpoints import LoadedModel

_CACHE: OrderedDict[tuple[Any, ...], LoadedModel] = OrderedDict()
_CACHE_SIZE = 2


@dataclass(slots=True)
class JobInputs:
    params: dict[str, Any]
    root: Path
    encoding: LabelEncoding
    source: Taxonomy
    target: Taxonomy
    priors: CompiledPriors
    mapping_hash: str
    model_spec: str
    model_source: str
    normalization: dict[str, Any] | None
    device: str
    palette: Palette | None = None  # the dataset's own colours for rgb labels (a preset's)
    labels_root: Path | None = None  # converted native labels' folder (label paths start there)


@dataclass(frozen=True, slots=True)
class MappingInputs:
    """A mapping version resolved for a run: both taxonomies, the compiled priors, the content hash."""

    version_id: int
    mapping_id: int
    source: Taxonomy
    target: Taxonomy
    priors: CompiledPriors
    mapping_hash: str


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """How to load a registered model (``worker.ml.checkpoints.load_model`` arguments).

    ``spec`` is what may be loaded: for a paper ``.pth``, the converted safetensors folder.
    """

    model_id: int
    taxonomy_id: int
    spec: str
    source: str
    normalization: dict[str, Any] | None


def load_mapping_version(session: Session, version_id: int) -> MappingInputs:
    """A mapping version's taxonomies and compiled priors (used by jobs and by the CLI's ids)."""
    version = mapping_service.get_version(session, version_id)
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id, generated=False)
    target = taxonomy_service.load_taxonomy(session, mapping.target_taxonomy_id)
    priors = compile_priors(mapping_service.version_edges(version), source, target)
    return MappingInputs(version.id, mapping.id, source, target, priors, version.content_hash)


def load_registered_model(session: Session, model_id: int, *, field: str = "model_id") -> ModelInputs:
    """The load arguments of a registered model row (no weights are read here).

    Refuses (``field`` named) an untrusted or changed ``.pth`` (a changed one loses its trust) and a
    folder with only pickle weights.
    """
    model = model_service.get_model(session, model_id)
    spec = model_service.usable_spec(session, model, field=field)
    normalization = json.loads(model.normalization_json) if model.normalization_json else None
    return ModelInputs(model.id, model.taxonomy_id, spec, model.source, normalization)


def load_inputs(session: Session, params: dict[str, Any], job: Job, *, with_model: bool = True) -> JobInputs:
    """Resolve the rows a pseudo-label/evaluate job (or shard) pins; refuse a changed mapping pin.

    ``with_model=False`` (merging finished shards) leaves the model alone: ``model_spec`` is empty.
    """
    mapping_version_id, mapping_hash = job.mapping_version_id, job.mapping_hash
    model_id, dataset_id = job.model_id, job.dataset_id
    if mapping_version_id is None or (with_model and model_id is None) or dataset_id is None:
        raise InvalidInput("the job's dataset, model or mapping version was deleted", field="job_id")
    version = mapping_service.get_version(session, mapping_version_id)
    if version.content_hash != mapping_hash:
        raise InvalidInput(
            f"mapping version {version.id} changed: hash {version.content_hash[:12]} "
            f"!= pinned {str(mapping_hash)[:12]}",
            field="mapping_version_id",
        )
    mapping = load_mapping_version(session, version.id)
    dataset = dataset_service.get_dataset(session, dataset_id)
    model = load_registered_model(session, model_id) if with_model and model_id is not None else None
    return JobInputs(
        params=params,
        root=Path(dataset.root),
        encoding=LabelEncoding(dataset.label_encoding),
        source=mapping.source,
        target=mapping.target,
        # The dataset's "any class allowed" pixel values get rows allowing every real class.
        priors=mapping.priors.with_any_class(dataset_service.any_class_values(dataset)),
        mapping_hash=mapping.mapping_hash,
        model_spec=model.spec if model else "",
        model_source=model.source if model else "",
        normalization=model.normalization if model else None,
        device=resolve_device(str(params.get("device", "auto"))),
        palette=dataset_service.label_palette(dataset, mapping.source),
        labels_root=dataset_service.label_root(dataset),
    )


def load_teacher(inputs: JobInputs) -> LoadedModel:
    """The teacher on the job's device (cached per process); its classes must equal the target's."""
    from worker.ml.checkpoints import load_model
    from worker.ml.modeling import Normalization

    stamp = os.path.getmtime(inputs.model_spec) if os.path.exists(inputs.model_spec) else 0.0
    key = (inputs.model_spec, stamp, inputs.device, json.dumps(inputs.normalization))
    teacher = _CACHE.get(key)
    if teacher is None:
        norm = Normalization.from_json(inputs.normalization) if inputs.normalization else None
        # Jobs never unpickle: safetensors only (a trusted .pth arrives here converted).
        teacher = load_model(inputs.model_spec, device=inputs.device, normalization=norm, safe_only=True)
        _CACHE[key] = teacher
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    model_service.check_classes(teacher.class_names, inputs.target.names)
    return teacher


def source_names(source: Taxonomy) -> dict[int, str]:
    return {lb.value: lb.name for lb in source.labels if lb.value >= 0}


def inference_config(inputs: JobInputs) -> Any:
    from worker.ml.config import InferenceConfig
    from worker.ml.tta import PAPER_SCALES

    p = inputs.params
    scales = tuple(p["scales"]) if p.get("scales") else PAPER_SCALES
    return InferenceConfig(
        device=inputs.device,
        batch_size=int(p.get("batch_size", 1)),
        tta=bool(p.get("tta")),
        scales=scales,
        windows=tta_windows(p),
    )


def tta_windows(params: dict[str, Any]) -> Any:
    """How a job's up-scaled TTA views run: whole unless ``tta_windows``, with the memory budget.

    Params stored before whole views became the default may carry ``tta_whole`` and no
    ``tta_windows``: both of its values now mean whole views (false was the old default, windows).
    """
    from worker.ml.tta import Windows

    budget = params.get("tta_memory_budget_mb")
    return Windows(slide=bool(params.get("tta_windows")), budget_bytes=int(budget) << 20 if budget else None)
