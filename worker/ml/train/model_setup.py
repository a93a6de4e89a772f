"""The model a training run starts from: load or build, fit the class head, loss and optimizer groups.

worker.ml layer. A run starts from a registered/unilabel checkpoint, a Hugging Face folder or cached
id (through :func:`worker.ml.checkpoints.load_model`), or a fresh model from a config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation
from transformers.models.mask2former.modeling_mask2former import Mask2FormerLoss

from worker.ml.checkpoints import load_model
from worker.ml.modeling import Normalization, build_mask2former, tiny_config
from worker.ml.train.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StartModel:
    """The model to train, its normalisation, and where it came from (for provenance)."""

    model: Mask2FormerForUniversalSegmentation
    normalization: Normalization
    origin: dict[str, Any]


def build_start_model(config: TrainConfig) -> StartModel:
    """Load ``config.start_model`` or build a fresh one; fit its class head to ``config.class_names``."""
    id2label = dict(enumerate(config.class_names))
    if config.start_model:
        override = None
        if config.start_model_mean is not None and config.start_model_std is not None:
            override = Normalization(mean=config.start_model_mean, std=config.start_model_std)
        loaded = load_model(
            config.start_model, trust_pickle=config.start_model_trust_pickle, normalization=override
        )
        model, normalization = loaded.model, loaded.normalization
        origin: dict[str, Any] = {
            "start_model": config.start_model,
            "checksum": loaded.checksum,
            "source": loaded.source,
        }
        resize_class_head(model, config.class_names)
    else:
        if config.model_config == "tiny":
            model_config = tiny_config(id2label)
        elif isinstance(config.model_config, dict):
            model_config = Mask2FormerConfig.from_dict({**config.model_config, "id2label": id2label})
        else:
            raise ValueError(f"model_config must be 'tiny' or a config dict, got {config.model_config!r}")
        model = build_mask2former(model_config)
        normalization = Normalization(mean=config.normalization_mean, std=config.normalization_std)
        origin = {"start_model": None, "model_config": config.model_config}
    configure_loss(model, no_object_weight=config.no_object_weight)
    model.train()
    return StartModel(model=model, normalization=normalization, origin=origin)


def resize_class_head(model: Mask2FormerForUniversalSegmentation, class_names: tuple[str, ...]) -> bool:
    """Give the model ``len(class_names) + 1`` class outputs when its class list differs.

    Rows of classes whose name exists in both lists, and the no-object row, keep their weights;
    the other rows are freshly initialised. Logs one line saying what changed.

    Returns:
        Whether the head was changed.
    """
    id2label = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
    old_names = tuple(id2label.get(i, f"class_{i}") for i in range(len(id2label)))
    if old_names == tuple(class_names):
        return False
    old_head: nn.Linear = model.class_predictor
    new_head = nn.Linear(old_head.in_features, len(class_names) + 1).to(old_head.weight)
    nn.init.normal_(new_head.weight, std=model.config.init_std)
    nn.init.zeros_(new_head.bias)
    kept = [(new, old_names.index(name)) for new, name in enumerate(class_names) if name in old_names]
    rows_new = [new for new, _ in kept] + [len(class_names)]
    rows_old = [old for _, old in kept] + [len(old_names)]
    with torch.no_grad():
        new_head.weight[rows_new] = old_head.weight[rows_old]
        new_head.bias[rows_new] = old_head.bias[rows_old]
    model.class_predictor = new_head
    model.config.id2label = dict(enumerate(class_names))
    model.config.label2id = {name: i for i, name in enumerate(class_names)}
    logger.warning(
        "Resizing the class head: the start model has %d classes, the target taxonomy %d; "
        "kept %d rows by class name (%s) plus no-object, initialised %d new rows",
        len(old_names),
        len(class_names),
        len(kept),
        ", ".join(class_names[new] for new, _ in kept) or "none",
        len(class_names) - len(kept),
    )
    return True


def configure_loss(model: Mask2FormerForUniversalSegmentation, *, no_object_weight: float) -> None:
    """Rebuild Mask2Former's criterion for the current class count and no-object weight.

    The criterion's class weights (``empty_weight``, length N + 1) depend on both, so it is rebuilt
    after any class-head change.
    """
    model.config.no_object_weight = no_object_weight
    device = model.class_predictor.weight.device
    model.criterion = Mask2FormerLoss(config=model.config, weight_dict=model.weight_dict).to(device)


def parameter_groups(model: Mask2FormerForUniversalSegmentation, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: encoder at ``encoder_lr``, the rest at ``lr``; norms, biases and embeddings get
    ``norm_weight_decay`` (0 by default, as in Mask2Former), every other weight ``weight_decay``."""
    encoder_ids = {id(p) for p in model.model.pixel_level_module.encoder.parameters()}
    no_decay_ids = _no_decay_parameter_ids(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            groups.setdefault((id(param) in encoder_ids, id(param) in no_decay_ids), []).append(param)
    return [
        {
            "params": params,
            "lr": config.encoder_lr if is_encoder else config.lr,
            "weight_decay": config.norm_weight_decay if no_decay else config.weight_decay,
            "name": f"{'encoder' if is_encoder else 'rest'}{'_no_decay' if no_decay else ''}",
        }
        for (is_encoder, no_decay), params in sorted(groups.items())
    ]


_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d, nn.Embedding)
_EMBEDDING_NAMES = ("relative_position_bias_table", "position_embeddings", "level_embed")


def _no_decay_parameter_ids(model: nn.Module) -> set[int]:
    """Biases, norm weights, ``nn.Embedding`` tables and Swin's position tables."""
    ids = {id(p) for p in model.parameters() if p.ndim <= 1}
    for module in model.modules():
        if isinstance(module, _NORMS):
            ids.update(id(p) for p in module.parameters(recurse=False))
    ids.update(id(p) for name, p in model.named_parameters() if any(n in name for n in _EMBEDDING_NAMES))
    return ids
