"""Teacher class scores of test-time augmentation views, averaged band by band (worker.ml layer).

Each view's scores stay at its mask resolution (:class:`ScoreMaps`); the mean over views at the
image's resolution is formed a band of rows at a time by the consumers (pseudo-labelling,
evaluation), so neither the views nor their full-resolution mean are ever stacked. Every view runs
whole by default (the paper's TTA). Views larger than the image can run as sliding windows of the
image's size instead (:class:`Windows`): when asked, or, view by view, when a whole view runs out of
memory or its estimated memory exceeds a budget (:mod:`worker.ml.sliding`, measured with
:mod:`worker.ml.memory_peak`). How each view ran is recorded (:class:`ViewRun`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from worker.ml.memory_peak import measure_peak
from worker.ml.modeling import Normalization, class_scores
from worker.ml.resample import resample_rows_resize_cols, resize_axis
from worker.ml.sliding import scaled_size, slide_view

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
        slide: run every view larger than the image as overlapping windows of the image's own size
            (mmsegmentation's "slide" inference), so no forward pass is bigger than the plain
            one's. A window sees less context than the whole view, so the scores differ from the
            paper's. False (the default) runs each view whole, falling back to windows view by view
            only when the whole view does not fit.
        overlap: the minimum overlap of neighbouring windows, as a fraction of the window.
        budget_bytes: an up-scaled whole view whose estimated memory (see
            :func:`estimate_view_bytes`) exceeds this runs as windows instead; None = no budget
            (only an out-of-memory error makes a view fall back).
    """

    slide: bool = False
    overlap: float = 1 / 3
    budget_bytes: int | None = None


WHOLE = "whole"
WINDOWS = "windows"
FELL_BACK_OOM = "fell back: OOM"
FELL_BACK_BUDGET = "fell back: budget"
NOT_ON_MASK_GRID = "windows asked, image not a multiple of the mask stride"


@dataclass(frozen=True, slots=True)
class ViewRun:
    """How one view of one batch actually ran: ``mode`` is "whole" or "windows"; ``reason`` says
    why when it is not what was asked (:data:`FELL_BACK_OOM`, :data:`FELL_BACK_BUDGET`,
    :data:`NOT_ON_MASK_GRID`), else None."""

    view: str
    mode: str
    reason: str | None = None

    @property
    def key(self) -> str:
        """``"whole"``, ``"windows"`` or ``"windows (fell back: OOM)"`` and the like."""
        return self.mode if self.reason is None else f"{self.mode} ({self.reason})"

    def to_json(self) -> dict[str, Any]:
        return {"view": self.view, "mode": self.mode, "reason": self.reason}


@dataclass(slots=True)
class ScoreMaps:
    """Every view's class scores at its mask resolution, flips undone, for an image of ``size``.

    The mean over views at full resolution is produced a band of rows at a time (:meth:`band`), so
    no ``(B, N+1, H, W)`` tensor has to exist: each view's map is resized bilinearly straight to
    the image size (``align_corners=False``) and the views are averaged, band by band.

    Attributes:
        size: ``(H, W)`` of the images.
        maps: one ``(B, N+1, h_v, w_v)`` float32 tensor per view, covering the whole image.
        runs: how each view ran, in the order of ``maps`` (the same for every image of the batch).
    """

    size: tuple[int, int]
    maps: list[torch.Tensor]
    runs: tuple[ViewRun, ...] = field(default=())

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


def _whole_view(model: torch.nn.Module, x: torch.Tensor, view: View) -> torch.Tensor:
    """``(B, N+1, h, w)`` mask-resolution scores of the whole (resized) view, flip undone."""
    h, w = x.shape[-2:]
    if view.scale != 1.0:
        size = (scaled_size(h, view.scale), scaled_size(w, view.scale))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if view.flip:
        x = x.flip(-1)
    scores = class_scores(model(pixel_values=x))
    return scores.flip(-1) if view.flip else scores


def _view_map(
    model: torch.nn.Module,
    x: torch.Tensor,
    view: View,
    windows: Windows,
    estimate: Callable[[View], int] | None,
) -> tuple[torch.Tensor, ViewRun]:
    """One view's mask-resolution scores and how it ran: whole, or (up-scaled views only) as
    windows when asked, over the memory budget, or after a whole attempt ran out of memory."""
    if view.scale <= 1.0:  # never bigger than the plain prediction: windows could not help
        return _whole_view(model, x, view), ViewRun(view.name, WHOLE)
    if windows.slide:
        return _windows_or_whole(model, x, view, windows, None)
    needs = estimate(view) if windows.budget_bytes is not None and estimate is not None else None
    if needs is not None and windows.budget_bytes is not None and needs > windows.budget_bytes:
        log.info("TTA view %s: estimated %d MiB > budget: windows", view.name, needs >> 20)
        return _windows_or_whole(model, x, view, windows, FELL_BACK_BUDGET)
    oom: BaseException | None = None
    try:
        return _whole_view(model, x, view), ViewRun(view.name, WHOLE)
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if not _is_oom(exc):
            raise
        oom = exc
    # Outside the handler, so the failed attempt's frames (and tensors) are already released.
    if x.is_cuda:
        torch.cuda.empty_cache()
    log.warning("TTA view %s ran out of memory whole: it runs as windows of the image's size", view.name)
    scores = slide_view(model, x, view.scale, view.flip, windows.overlap)
    if scores is None:  # the image is off the mask grid: no windows possible, and whole does not fit
        raise oom
    return scores, ViewRun(view.name, WINDOWS, FELL_BACK_OOM)


def _windows_or_whole(
    model: torch.nn.Module, x: torch.Tensor, view: View, windows: Windows, reason: str | None
) -> tuple[torch.Tensor, ViewRun]:
    scores = slide_view(model, x, view.scale, view.flip, windows.overlap)
    if scores is not None:
        return scores, ViewRun(view.name, WINDOWS, reason)
    why = NOT_ON_MASK_GRID if reason is None else f"{reason}, but {NOT_ON_MASK_GRID}"
    log.debug("TTA view %s runs whole: %s", view.name, why)
    return _whole_view(model, x, view), ViewRun(view.name, WHOLE, why)


def estimate_view_bytes(reference_bytes: int, reference_size: tuple[int, int], view: View) -> int:
    """Estimated peak memory of a whole ``view`` of an image of ``reference_size`` ``(H, W)``.

    Mask2Former's activations (Swin's window attention, the deformable pixel decoder, the masked
    attention over a fixed number of queries) grow linearly with the pixels, so the measured peak
    of the image at scale 1 (``reference_bytes``) is scaled by the view's area.
    """
    h, w = reference_size
    scaled = scaled_size(h, view.scale) * scaled_size(w, view.scale)
    return int(reference_bytes * scaled / (h * w))


def _order(views: Sequence[View], calibrate: bool) -> list[int]:
    """Largest view first, so the biggest forward pass happens while the fewest maps are held; with
    a memory budget the views not bigger than the image go first, to measure the reference peak."""
    if calibrate:
        return sorted(range(len(views)), key=lambda i: (views[i].scale > 1.0, -views[i].scale))
    return sorted(range(len(views)), key=lambda i: -views[i].scale)


@torch.inference_mode()
def predict_score_maps(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    views: Sequence[View],
    windows: Windows = Windows(),
) -> ScoreMaps:
    """Every view's mask-resolution scores of a batch (see :class:`ScoreMaps`), and how each ran.

    With a memory budget (``windows.budget_bytes``) the first view is measured and every up-scaled
    view's peak estimated from it (:func:`estimate_view_bytes`); one over the budget runs as
    windows. A whole up-scaled view that runs out of memory is retried as windows. Both are
    recorded in :attr:`ScoreMaps.runs`; no view is ever dropped here.

    Args:
        images: ``(B, 3, H, W)`` uint8/float on the 0-255 scale, on the model's device.
    """
    if not views:
        raise ValueError("at least one view")
    x = normalization.apply(images)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    calibrate = windows.budget_bytes is not None and not windows.slide
    reference: list[int] = []  # the estimated peak of the batch at scale 1, once measured

    def estimate(view: View) -> int:
        return estimate_view_bytes(reference[0], size, view) if reference else 0

    maps: dict[int, tuple[torch.Tensor, ViewRun]] = {}
    for i in _order(views, calibrate):
        view = views[i]
        if calibrate and not reference:
            maps[i], peak = measure_peak(partial(_view_map, model, x, view, windows, None), x.device)
            vh, vw = scaled_size(size[0], view.scale), scaled_size(size[1], view.scale)
            # at least the view's own input: a floor where the measurement sees nothing
            per_pixel = max(peak, x.shape[0] * 3 * vh * vw * x.element_size()) / (vh * vw)
            reference.append(int(per_pixel * size[0] * size[1]))
        else:
            maps[i] = _view_map(model, x, view, windows, estimate)
    ordered = [maps[i] for i in range(len(views))]
    return ScoreMaps(size, [m for m, _ in ordered], tuple(r for _, r in ordered))


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

    Runs each view on ``probe_images`` (the largest batch the run will see). An up-scaled view
    falls back to windows rather than failing (:func:`predict_score_maps`), so only a view that
    does not fit even so reaches this: with ``on_oom="skip"`` it is dropped for the whole run (and
    logged); with ``"fail"`` the error propagates. The caller records the returned views in
    provenance.
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
