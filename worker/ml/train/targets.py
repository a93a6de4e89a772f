"""Semantic label maps -> Mask2Former training targets (worker.ml layer).

Mask2Former is trained on a set of (binary mask, class) pairs per image. For semantic segmentation
every class present in the label map becomes one pair. The ignore value 255 (void, ambiguous
mapping, pseudo-label void, crop padding) is *never* a class: its pixels belong to no target mask.
This is the semantic mapper of the reference Mask2Former (detectron2), and the opposite of the
paper's training script, which turned pseudo-label void into a real class.
"""

from __future__ import annotations

import torch

IGNORE = 255


def label_to_targets(label: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's targets.

    Args:
        label: ``(H, W)`` integer tensor with values in ``[0, num_classes)`` or 255.
        num_classes: N, the number of real classes.

    Returns:
        ``mask_labels`` ``(K, H, W)`` float32 (1 where the pixel has that class) and
        ``class_labels`` ``(K,)`` int64 with values in ``[0, N)``; K = number of classes present.

    Raises:
        ValueError: on a value outside ``[0, N)`` other than 255 (a mapping or data bug, never
            silently trained as a class).
    """
    present = torch.unique(label)
    present = present[present != IGNORE]
    if present.numel() and (int(present.min()) < 0 or int(present.max()) >= num_classes):
        bad = present[(present < 0) | (present >= num_classes)].tolist()
        raise ValueError(f"label values {bad} are neither a class in [0, {num_classes}) nor ignore 255")
    masks = (label[None] == present[:, None, None]).to(torch.float32)
    return masks, present.to(torch.int64)


def batch_targets(labels: torch.Tensor, num_classes: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Targets for a batch: ``(B, H, W)`` labels -> lists of B ``mask_labels`` and ``class_labels``."""
    pairs = [label_to_targets(label, num_classes) for label in labels]
    return [masks for masks, _ in pairs], [classes for _, classes in pairs]
