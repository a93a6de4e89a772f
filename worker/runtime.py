"""What a running job needs from the database, resolved once per task (task adapter layer).

Loads the job's dataset, model and pinned mapping version; checks the pin (content hash) and the
model's classes; compiles the priors; keeps recently used teachers in a small per-process cache.
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
from app.domain.label_codec import LabelEncoding
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
    trust_pickle: bool
    normalization: dict[str, Any] | None
    device: str


def load_inputs(session: Session, params: dict[str, Any], job: Job) -> JobInputs:
    """Resolve the rows a pseudo-label/evaluate job (or shard) pins; refuse a changed mapping pin."""
    mapping_version_id, mapping_hash = job.mapping_version_id, job.mapping_hash
    model_id, dataset_id = job.model_id, job.dataset_id
    if mapping_version_id is None or model_id is None or dataset_id is None:
        raise InvalidInput("the job's dataset, model or mapping version was deleted", field="job_id")
    version = mapping_service.get_version(session, mapping_version_id)
    if version.content_hash != mapping_hash:
        raise InvalidInput(
            f"mapping version {version.id} changed: hash {version.content_hash[:12]} "
            f"!= pinned {str(mapping_hash)[:12]}",
            field="mapping_version_id",
        )
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    dataset = dataset_service.get_dataset(session, dataset_id)
    model = model_service.get_model(session, model_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id)
    target = taxonomy_service.load_taxonomy(session, mapping.target_taxonomy_id)
    priors = compile_priors(mapping_service.version_edges(version), source, target)
    return JobInputs(
        params=params,
        root=Path(dataset.root),
        encoding=LabelEncoding(dataset.label_encoding),
        source=source,
        target=target,
        priors=priors,
        mapping_hash=version.content_hash,
        model_spec=model.spec,
        model_source=model.source,
        trust_pickle=model.trust_pickle,
        normalization=json.loads(model.normalization_json) if model.normalization_json else None,
        device=resolve_device(str(params.get("device", "auto"))),
    )


def load_teacher(inputs: JobInputs) -> LoadedModel:
    """The teacher on the job's device (cached per process); its classes must equal the target's."""
    from worker.ml.checkpoints import load_model
    from worker.ml.modeling import Normalization

    stamp = os.path.getmtime(inputs.model_spec) if os.path.exists(inputs.model_spec) else 0.0
    key = (inputs.model_spec, stamp, inputs.device, json.dumps(inputs.normalization), inputs.trust_pickle)
    teacher = _CACHE.get(key)
    if teacher is None:
        norm = Normalization.from_json(inputs.normalization) if inputs.normalization else None
        teacher = load_model(
            inputs.model_spec, trust_pickle=inputs.trust_pickle, device=inputs.device, normalization=norm
        )
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
        device=inputs.device, batch_size=int(p.get("batch_size", 1)), tta=bool(p.get("tta")), scales=scales
    )
