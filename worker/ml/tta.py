"""Teacher class scores with test-time augmentation as a running mean (worker.ml layer)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worker.ml.modeling import Normalization, class_scores

log = logging.getLogger(__name__)

PAPER_SCALES: tuple[float, ...] = (0.5, 0.75, 1.25, 1.5, 1.75, 2.0)


@dataclass(frozen=True, slots=True)
class View:
    """One TTA view: resize by ``scale``, optionally flip horizontally (flipped back afterwards)."""

    scale: float = 1.0
    flip: bool = False

    @property
    def name(self) -> str:
        return f"{'flip' if self.flip else 'orig'}@{self.scale:g}"


def tta_views(enabled: bool, scales: Sequence[float] = PAPER_SCALES, flip: bool = True) -> tuple[View, ...]:
    """The original view, plus (when enabled) one horizontal flip and the extra scales."""
    views = [View()]
    if enabled:
        if flip:
            views.append(View(flip=True))
        views.extend(View(scale=float(s)) for s in scales if float(s) != 1.0)
    return tuple(views)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _mask_scores(
    model: torch.nn.Module, images: torch.Tensor, normalization: Normalization, view: View
) -> torch.Tensor:
    """``(B, N+1, h, w)`` scores of one view at its mask resolution (not yet flipped back)."""
    h, w = images.shape[-2:]
    x = normalization.apply(images)
    if view.scale != 1.0:
        size = (max(1, round(h * view.scale)), max(1, round(w * view.scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if view.flip:
        x = x.flip(-1)
    return class_scores(model(pixel_values=x))


@torch.inference_mode()
def view_scores(
    model: torch.nn.Module, images: torch.Tensor, normalization: Normalization, view: View
) -> torch.Tensor:
    """Class scores of one view, aligned with the input image.

    Args:
        images: ``(B, 3, H, W)`` uint8/float on the 0-255 scale, on the model's device.

    Returns:
        ``(B, N+1, H, W)`` float32 scores (resized bilinearly straight from mask resolution).
    """
    scores = F.interpolate(
        _mask_scores(model, images, normalization, view),
        size=tuple(images.shape[-2:]),
        mode="bilinear",
        align_corners=False,
    )
    return scores.flip(-1) if view.flip else scores


@torch.inference_mode()
def predict_scores(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    *,
    channel_chunk: int = 8,
) -> torch.Tensor:
    """Mean of the views' scores as a running sum in one ``(B, N+1, H, W)`` buffer.

    Views are never stacked; each view's mask-resolution scores are resized to H x W
    ``channel_chunk`` channels at a time and added in place, so a view costs one small
    full-resolution chunk on top of the buffer (bilinear resizing is per channel, so the result is
    the same as resizing all channels at once).

    Returns:
        ``(B, N+1, H, W)`` float32.
    """
    if not views:
        raise ValueError("at least one view")
    size = tuple(images.shape[-2:])
    total: torch.Tensor | None = None
    for i, view in enumerate(views):
        small = _mask_scores(model, images, normalization, view)
        if total is None:
            total = torch.empty((*small.shape[:2], *size), dtype=small.dtype, device=small.device)
        for c0 in range(0, small.shape[1], channel_chunk):
            part = F.interpolate(
                small[:, c0 : c0 + channel_chunk], size=size, mode="bilinear", align_corners=False
            )
            part = part.flip(-1) if view.flip else part
            if i == 0:
                total[:, c0 : c0 + channel_chunk] = part
            else:
                total[:, c0 : c0 + channel_chunk] += part
        del small
    assert total is not None
    return total.div_(len(views)) if len(views) > 1 else total


def plan_views(
    model: torch.nn.Module,
    probe_images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    *,
    on_oom: str = "fail",
) -> tuple[View, ...]:
    """Decide once, before any output is written, which views fit in memory.

    Runs each view on ``probe_images`` (the largest batch the run will see). With
    ``on_oom="skip"`` a view that runs out of memory is dropped for the whole run; with
    ``"fail"`` the error propagates. The caller records the returned views in provenance.
    """
    kept: list[View] = []
    for view in views:
        try:
            view_scores(model, probe_images, normalization, view)
            kept.append(view)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            if not _is_oom(exc) or on_oom != "skip" or view == View():
                raise
            log.warning("TTA view %s does not fit in memory; skipped for the whole run", view.name)
        finally:
            if probe_images.is_cuda:
                torch.cuda.empty_cache()
    return tuple(kept)
