"""Labels from :class:`~worker.ml.tta.ScoreMaps`, computed a band of rows at a time (worker.ml layer).

The full-resolution scores of a band (about 2 MiB on a CPU) are made, reduced to labels and dropped
while they are still in cache, instead of writing and re-reading an ``(N+1) x H x W`` tensor for the
resize, the priors and every statistic in turn. Per pixel the result is exactly what
:func:`~worker.ml.priors.constrained_argmax` gives on the whole image: every quantity is per pixel.
"""

from __future__ import annotations

import torch

from worker.ml.priors import ConstrainedLabels, PriorTensors, constrained_argmax
from worker.ml.tta import ScoreMaps


def constrained_labels(
    maps: ScoreMaps,
    source_index: torch.Tensor | None,
    priors: PriorTensors | None,
    *,
    teacher_map: bool = False,
    band_bytes: int | None = None,
) -> tuple[ConstrainedLabels, torch.Tensor | None]:
    """:func:`~worker.ml.priors.constrained_argmax` of the views' mean scores, band by band.

    Args:
        maps: the teacher's per-view scores of a ``(B, 3, H, W)`` batch.
        source_index: ``(B, H, W)`` rows of ``priors.allowed``, or None (no-prior mode).
        priors: the compiled priors on the device, or None.
        teacher_map: also return the unconstrained argmax over the N real classes.
        band_bytes: scores per band (default: :meth:`ScoreMaps.band_rows`).

    Returns:
        The :class:`ConstrainedLabels` (each ``(B, H, W)``) and the ``(B, H, W)`` int64 teacher map
        or None.
    """
    b, c, h, w = maps.shape
    device = maps.maps[0].device
    out = ConstrainedLabels(
        labels=torch.empty((b, h, w), dtype=torch.int64, device=device),
        channel=torch.empty((b, h, w), dtype=torch.int64, device=device),
        confidence=torch.empty((b, h, w), dtype=torch.float32, device=device),
        corrected=torch.empty((b, h, w), dtype=torch.bool, device=device),
    )
    teacher = torch.empty((b, h, w), dtype=torch.int64, device=device) if teacher_map else None
    for y0, y1, scores in maps.bands(band_bytes):
        index = None if source_index is None else source_index[:, y0:y1]
        part = constrained_argmax(scores, index, priors)
        out.labels[:, y0:y1] = part.labels
        out.channel[:, y0:y1] = part.channel
        out.confidence[:, y0:y1] = part.confidence
        out.corrected[:, y0:y1] = part.corrected
        if teacher is not None:
            teacher[:, y0:y1] = _first_argmax(scores[:, : c - 1])
    return out, teacher


def argmax_labels(maps: ScoreMaps, num_classes: int, *, band_bytes: int | None = None) -> torch.Tensor:
    """``argmax`` over the ``num_classes`` real classes of the views' mean scores: ``(B, H, W)`` int64."""
    b, _, h, w = maps.shape
    out = torch.empty((b, h, w), dtype=torch.int64, device=maps.maps[0].device)
    for y0, y1, scores in maps.bands(band_bytes):
        out[:, y0:y1] = _first_argmax(scores[:, :num_classes])
    return out


def _first_argmax(scores: torch.Tensor) -> torch.Tensor:
    """``argmax`` over dim 1 (ties to the lowest index). ``max(dim).indices`` gives the same
    (documented: the first maximal value) and is about twice as fast on a CPU here."""
    return scores.max(dim=1).indices
