"""Mask2Former construction, class scores and pixel normalisation (worker.ml layer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig


@dataclass(frozen=True, slots=True)
class Normalization:
    """Per-channel pixel normalisation on the 0-255 scale: ``(x - mean) / std``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise images.

        Args:
            images: ``(B, 3, H, W)`` uint8 or float tensor on the 0-255 scale.

        Returns:
            ``(B, 3, H, W)`` float32 tensor.
        """
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        return (images.float() - mean) / std

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Normalization:
        mean = tuple(float(v) for v in data["mean"])
        std = tuple(float(v) for v in data["std"])
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(f"normalisation needs 3 means and 3 positive stds, got {data!r}")
        return cls(mean=mean, std=std)

    @classmethod
    def from_unit_scale(cls, mean: list[float], std: list[float]) -> Normalization:
        """Build from HF ``preprocessor_config.json`` values (0-1 scale, rescale 1/255)."""
        return cls.from_json({"mean": [m * 255.0 for m in mean], "std": [s * 255.0 for s in std]})


# The paper's checkpoints (data-priors) were trained with these statistics (0-255 scale).
PAPER_NORMALIZATION = Normalization(mean=(80.85, 77.914, 76.967), std=(61.877, 61.501, 64.752))
IMAGENET_NORMALIZATION = Normalization(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


def tiny_config(id2label: Mapping[int, str], *, num_queries: int = 24) -> Mask2FormerConfig:
    """A ~1.4 M-parameter Mask2Former (Swin embed 32, depths [1,1,1,1], hidden 64) for tests/demos.

    Built entirely from configs: nothing is downloaded, the backbone is randomly initialised.
    """
    # transformers' type hints omit the backbone mixin's ``out_features`` keyword
    backbone = SwinConfig(  # type: ignore[call-arg]
        embed_dim=32,
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        window_size=7,
        drop_path_rate=0.0,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return Mask2FormerConfig(
        backbone_config=backbone,
        feature_size=64,
        mask_feature_size=64,
        hidden_dim=64,
        encoder_feedforward_dim=128,
        encoder_layers=2,
        decoder_layers=2,
        num_attention_heads=4,
        dim_feedforward=128,
        num_queries=num_queries,
        train_num_points=1024,
        id2label={int(k): str(v) for k, v in id2label.items()},
        label2id={str(v): int(k) for k, v in id2label.items()},
    )


def build_mask2former(config: Mask2FormerConfig) -> Mask2FormerForUniversalSegmentation:
    """Randomly initialised model from a config (no download; the backbone is built from its config)."""
    return Mask2FormerForUniversalSegmentation(config)


def num_classes_of(model: Mask2FormerForUniversalSegmentation) -> int:
    """Number of real classes N (the class head has N + 1 outputs, the last one is no-object)."""
    n = model.config.num_labels
    if n is None:
        raise ValueError("the model config has no num_labels")
    return int(n)


def class_scores(outputs: Any, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Per-pixel class scores ``S[c] = sum_q softmax(class_logits_q)[c] * sigmoid(mask_logits_q)``.

    Channel N (the no-object class) is kept: it is the *void* channel. S is computed at the
    mask resolution and, when ``size`` is given, resized bilinearly (``align_corners=False``)
    straight to ``size`` -- no fixed intermediate resolution.

    Args:
        outputs: model output with ``class_queries_logits`` ``(B, Q, N+1)`` and
            ``masks_queries_logits`` ``(B, Q, h, w)``.
        size: target ``(H, W)`` or None to keep ``(h, w)``.

    Returns:
        ``(B, N+1, H, W)`` float32 tensor.
    """
    probs = outputs.class_queries_logits.float().softmax(dim=-1)
    masks = outputs.masks_queries_logits.float().sigmoid()
    scores = torch.einsum("bqc,bqhw->bchw", probs, masks)
    if size is not None and tuple(scores.shape[-2:]) != tuple(size):
        scores = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
    return scores


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
