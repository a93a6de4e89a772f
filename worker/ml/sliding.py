"""Sliding-window scores of an up-scaled TTA view (worker.ml layer): mmsegmentation's "slide" inference.

An up-scaled view runs as overlapping windows of the image's own size, so no forward pass is bigger
than the plain one's; the windows' mask-resolution scores are stitched into the view's mask grid and
overlaps averaged. :mod:`worker.ml.tta` decides when a view runs this way.
"""

from __future__ import annotations

import torch

from worker.ml.modeling import class_scores
from worker.ml.resample import resample, resize_axis


def scaled_size(size: int, scale: float) -> int:
    """One side of an image resized by ``scale`` (at least 1 pixel)."""
    return max(1, round(size * scale))


def _offsets(length: int, window: int, step: int) -> list[int]:
    """Window origins covering ``length`` (the last one flush with the end), ``step`` apart."""
    count = max(0, -(-(length - window) // step)) + 1
    return sorted({min(i * step, length - window) for i in range(count)})


def slide_view(
    model: torch.nn.Module, x: torch.Tensor, scale: float, flip: bool, overlap: float
) -> torch.Tensor | None:
    """Scores of the view of ``x`` up-scaled by ``scale`` (flipped when ``flip``), run as windows of
    the image's own size.

    Each window is sampled straight from the image (the whole up-scaled image never exists), its
    mask-resolution scores are stitched into the view's mask grid, and overlaps are averaged. The
    up-scaled size is rounded to whole mask cells (4 px for Mask2Former), so every window starts on
    the grid and the stitching is exact.

    Returns:
        ``(B, N+1, h_v, w_v)``, the view's mask grid, flip undone; None when the image's size is
        not a whole number of mask cells (the caller then runs the view whole and records why).
    """
    if flip:
        x = x.flip(-1)
    h, w = x.shape[-2:]
    plain = (scaled_size(h, scale), scaled_size(w, scale))
    first = class_scores(model(pixel_values=_window(x, (0, 0), plain)))
    b, c, mh, mw = first.shape
    if h % mh or w % mw:
        return None
    kh, kw = h // mh, w // mw
    big = (_grid_length(h, kh, scale), _grid_length(w, kw, scale))
    reuse_first = big == plain  # otherwise it was sampled for another size: redo it
    total = torch.zeros((b, c, big[0] // kh, big[1] // kw), dtype=torch.float32, device=x.device)
    count = torch.zeros(total.shape[-2:], dtype=torch.float32, device=x.device)
    for y0 in _offsets(big[0], h, _step(h, kh, overlap)):
        for x0 in _offsets(big[1], w, _step(w, kw, overlap)):
            if reuse_first and (y0, x0) == (0, 0):
                scores = first
            else:
                scores = class_scores(model(pixel_values=_window(x, (y0, x0), big)))
            total[:, :, y0 // kh : y0 // kh + mh, x0 // kw : x0 // kw + mw] += scores
            count[y0 // kh : y0 // kh + mh, x0 // kw : x0 // kw + mw] += 1
    total /= count
    return total.flip(-1) if flip else total


def _grid_length(size: int, cell: int, scale: float) -> int:
    """The up-scaled length, rounded so that it exceeds ``size`` by whole mask cells."""
    return size + cell * max(0, round((scale - 1.0) * size / cell))


def _step(size: int, cell: int, overlap: float) -> int:
    """Window step: at most ``(1 - overlap)`` of the window, in whole mask cells."""
    return max(cell, int(size * (1.0 - overlap)) // cell * cell)


def _window(x: torch.Tensor, origin: tuple[int, int], big: tuple[int, int]) -> torch.Tensor:
    """The image-sized window at ``origin`` of ``x`` ``(B, 3, h, w)`` resized to ``big``: ``(B, 3, h, w)``."""
    h, w = x.shape[-2:]
    rows = resize_axis(origin[0], origin[0] + h, h, big[0], x.device)
    cols = resize_axis(origin[1], origin[1] + w, w, big[1], x.device)
    return resample(x, rows, cols)
