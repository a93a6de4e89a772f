"""Teacher class scores of test-time augmentation views, averaged band by band (worker.ml layer).

Each view's scores stay at its mask resolution (:class:`ScoreMaps`); the mean over views at the
image's resolution is formed a band of rows at a time by the consumers (pseudo-labelling,
evaluation), so neither the views nor their full-resolution mean are ever stacked. Views larger than
the image run as sliding windows of the image's size (:class:`Windows`), so TTA needs no bigger
forward pass than a plain prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worker.ml.modeling import Normalization, class_scores
from worker.ml.resample import resample, resample_rows_resize_cols, resize_axis

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


@dataclass(frozen=True, slots=True)
class Windows:
    """How up-scaled views are run.

    Attributes:
        slide: run a view larger than the image as overlapping windows of the image's own size
            (mmsegmentation's "slide" inference), so no forward pass is bigger than the plain
            one's; False runs the whole up-scaled image at once ("whole").
        overlap: the minimum overlap of neighbouring windows, as a fraction of the window.
    """

    slide: bool = True
    overlap: float = 1 / 3


@dataclass(slots=True)
class ScoreMaps:
    """Every view's class scores at its mask resolution, flips undone, for an image of ``size``.

    The mean over views at full resolution is produced a band of rows at a time (:meth:`band`), so
    no ``(B, N+1, H, W)`` tensor has to exist: each view's map is resized bilinearly straight to
    the image size (``align_corners=False``) and the views are averaged, band by band.

    Attributes:
        size: ``(H, W)`` of the images.
        maps: one ``(B, N+1, h_v, w_v)`` float32 tensor per view, covering the whole image.
    """

    size: tuple[int, int]
    maps: list[torch.Tensor]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        b, c = self.maps[0].shape[:2]
        return (b, c, *self.size)

    def band(self, y0: int, y1: int) -> torch.Tensor:
        """Mean over views of the scores of image rows ``y0..y1-1``: ``(B, N+1, y1-y0, W)`` float32."""
        height, width = self.size
        total: torch.Tensor | None = None
        for m in self.maps:
            rows = resize_axis(y0, y1, m.shape[-2], height, m.device)
            part = resample_rows_resize_cols(m, rows, width)
            total = part if total is None else total.add_(part)
        assert total is not None
        return total.div_(len(self.maps)) if len(self.maps) > 1 else total

    def full(self) -> torch.Tensor:
        """The whole ``(B, N+1, H, W)`` mean (tests, small images)."""
        return self.band(0, self.size[0])

    def band_rows(self, budget_bytes: int | None = None) -> int:
        """Rows per band so that one band's scores take about ``budget_bytes`` (default: 2 MiB on
        the CPU, to stay in cache; 256 MiB on a GPU, where fewer, larger kernels are faster)."""
        b, c, _, w = self.shape
        if budget_bytes is None:
            budget_bytes = (256 << 20) if self.maps[0].is_cuda else (2 << 20)
        return max(1, min(self.size[0], budget_bytes // (b * c * w * 4)))

    def bands(self, budget_bytes: int | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(y0, y1, band)`` over the whole image."""
        step = self.band_rows(budget_bytes)
        for y0 in range(0, self.size[0], step):
            y1 = min(self.size[0], y0 + step)
            yield y0, y1, self.band(y0, y1)


def _scaled_size(size: int, scale: float) -> int:
    return max(1, round(size * scale))


def _whole_view(model: torch.nn.Module, x: torch.Tensor, view: View) -> torch.Tensor:
    """``(B, N+1, h, w)`` mask-resolution scores of the whole (resized) view, flip undone."""
    h, w = x.shape[-2:]
    if view.scale != 1.0:
        size = (_scaled_size(h, view.scale), _scaled_size(w, view.scale))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if view.flip:
        x = x.flip(-1)
    scores = class_scores(model(pixel_values=x))
    return scores.flip(-1) if view.flip else scores


def _offsets(length: int, window: int, step: int) -> list[int]:
    """Window origins covering ``length`` (the last one flush with the end), ``step`` apart."""
    count = max(0, -(-(length - window) // step)) + 1
    return sorted({min(i * step, length - window) for i in range(count)})


def _slide_view(model: torch.nn.Module, x: torch.Tensor, view: View, overlap: float) -> torch.Tensor:
    """Scores of an up-scaled view, run as windows of the image's own size.

    Each window is sampled straight from the image (the whole up-scaled image never exists), its
    mask-resolution scores are stitched into the view's mask grid, and overlaps are averaged. The
    up-scaled size is rounded to whole mask cells (4 px for Mask2Former), so every window starts on
    the grid and the stitching is exact. An image whose size is not a whole number of mask cells
    runs the view whole instead.

    Returns:
        ``(B, N+1, h_v, w_v)``, the view's mask grid, flip undone.
    """
    if view.flip:
        x = x.flip(-1)
    h, w = x.shape[-2:]
    plain = (_scaled_size(h, view.scale), _scaled_size(w, view.scale))
    first = class_scores(model(pixel_values=_window(x, (0, 0), plain)))
    b, c, mh, mw = first.shape
    if h % mh or w % mw:
        log.debug("image %dx%d is not a whole number of mask cells: view %s runs whole", h, w, view.name)
        scores = _whole_view(model, x, View(view.scale))
        return scores.flip(-1) if view.flip else scores
    kh, kw = h // mh, w // mw
    big = (_grid_length(h, kh, view.scale), _grid_length(w, kw, view.scale))
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
    return total.flip(-1) if view.flip else total


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


def _view_map(model: torch.nn.Module, x: torch.Tensor, view: View, windows: Windows) -> torch.Tensor:
    if windows.slide and view.scale > 1.0:
        return _slide_view(model, x, view, windows.overlap)
    return _whole_view(model, x, view)


@torch.inference_mode()
def predict_score_maps(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    windows: Windows = Windows(),
) -> ScoreMaps:
    """Every view's mask-resolution scores of a batch (see :class:`ScoreMaps`).

    The views run largest first, so the biggest forward pass happens while the fewest maps are
    held.

    Args:
        images: ``(B, 3, H, W)`` uint8/float on the 0-255 scale, on the model's device.
    """
    if not views:
        raise ValueError("at least one view")
    x = normalization.apply(images)
    order = sorted(range(len(views)), key=lambda i: -views[i].scale)
    maps: dict[int, torch.Tensor] = {}
    for i in order:
        maps[i] = _view_map(model, x, views[i], windows)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    return ScoreMaps(size, [maps[i] for i in range(len(views))])


@torch.inference_mode()
def view_scores(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    view: View,
    windows: Windows = Windows(),
) -> torch.Tensor:
    """Class scores of one view, aligned with the input image: ``(B, N+1, H, W)`` float32."""
    return predict_score_maps(model, images, normalization, [view], windows).full()


@torch.inference_mode()
def predict_scores(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    windows: Windows = Windows(),
) -> torch.Tensor:
    """Mean of the views' scores at full resolution, ``(B, N+1, H, W)`` float32 (small images and
    tests; the pipelines consume :class:`ScoreMaps` band by band instead)."""
    return predict_score_maps(model, images, normalization, views, windows).full()


def plan_views(
    model: torch.nn.Module,
    probe_images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    *,
    on_oom: str = "fail",
    windows: Windows = Windows(),
) -> tuple[View, ...]:
    """Decide once, before any output is written, which views fit in memory.

    Runs each view on ``probe_images`` (the largest batch the run will see). With
    ``on_oom="skip"`` a view that runs out of memory is dropped for the whole run; with
    ``"fail"`` the error propagates. The caller records the returned views in provenance.
    """
    kept: list[View] = []
    for view in views:
        try:
            predict_score_maps(model, probe_images, normalization, [view], windows)
            kept.append(view)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            if not _is_oom(exc) or on_oom != "skip" or view == View():
                raise
            log.warning("TTA view %s does not fit in memory; skipped for the whole run", view.name)
        finally:
            if probe_images.is_cuda:
                torch.cuda.empty_cache()
    return tuple(kept)
