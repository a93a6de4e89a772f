"""TTA: flip views are flipped back, the running mean equals the mean of views, whole views by default
with a recorded per-view fallback to windows (out of memory, memory budget), OOM views planned once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from worker.ml.modeling import Normalization
from worker.ml.tta import (
    FELL_BACK_BUDGET,
    FELL_BACK_OOM,
    NOT_ON_MASK_GRID,
    View,
    ViewRun,
    Windows,
    plan_views,
    predict_score_maps,
    predict_scores,
    tta_views,
    view_scores,
)

IDENTITY = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


class AsymmetricTeacher(torch.nn.Module):
    """Query 0 -> class 0 with a mask that follows the image's red channel plus a left-to-right ramp;
    query 1 -> class 1 with the opposite. Not flip-invariant, so a missing flip-back shows."""

    def __init__(self, ramp: float = 0.0) -> None:
        super().__init__()
        self.ramp = ramp
        self.calls: list[tuple[int, ...]] = []

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        self.calls.append(tuple(pixel_values.shape))
        b, _, h, w = pixel_values.shape
        red = F.avg_pool2d(pixel_values[:, :1], 2)  # mask resolution = half the input
        ramp = torch.linspace(-1, 1, red.shape[-1]).view(1, 1, 1, -1) * self.ramp
        masks = torch.cat([red + ramp, -red - ramp], dim=1)
        logits = torch.tensor([[8.0, -8.0, -8.0], [-8.0, 8.0, -8.0]]).expand(b, 2, 3)
        return SimpleNamespace(class_queries_logits=logits, masks_queries_logits=masks)


def _image() -> torch.Tensor:
    torch.manual_seed(0)
    img = torch.zeros(1, 3, 8, 12)
    img[..., :, :4] = 3.0  # bright on the left only
    return img + 0.1 * torch.randn(1, 3, 8, 12)


def test_flip_view_is_flipped_back_for_equivariant_teacher() -> None:
    teacher = AsymmetricTeacher(ramp=0.0)
    img = _image()
    orig = view_scores(teacher, img, IDENTITY, View())
    flipped = view_scores(teacher, img, IDENTITY, View(flip=True))
    torch.testing.assert_close(flipped, orig)
    assert orig[0, 0, :, 0].mean() > orig[0, 0, :, -1].mean()  # the input really is asymmetric


def test_flip_view_definition_with_position_dependent_teacher() -> None:
    teacher = AsymmetricTeacher(ramp=2.0)
    img = _image()
    flipped = view_scores(teacher, img, IDENTITY, View(flip=True))
    expected = view_scores(teacher, img.flip(-1), IDENTITY, View()).flip(-1)
    torch.testing.assert_close(flipped, expected)
    assert not torch.allclose(flipped, view_scores(teacher, img, IDENTITY, View()))


def test_scaled_view_returns_full_resolution() -> None:
    teacher = AsymmetricTeacher()
    s = view_scores(teacher, _image(), IDENTITY, View(scale=1.5), Windows(slide=False))
    assert s.shape == (1, 3, 8, 12)
    assert teacher.calls[-1] == (1, 3, 12, 18)


def test_upscaled_views_run_whole_by_default() -> None:
    teacher = AsymmetricTeacher()
    maps = predict_score_maps(teacher, _image(), IDENTITY, [View(scale=2.0)])
    assert teacher.calls == [(1, 3, 16, 24)] and maps.runs == (ViewRun("orig@2", "whole"),)


def test_sliding_windows_are_image_sized_and_cover_the_upscaled_view() -> None:
    teacher = AsymmetricTeacher()
    s = view_scores(teacher, _image(), IDENTITY, View(scale=2.0), Windows(slide=True))
    assert s.shape == (1, 3, 8, 12)
    # 16 x 24 up-scaled, 8 x 12 windows, steps of at most 2/3 of a window -> 3 x 3 windows.
    assert teacher.calls == [(1, 3, 8, 12)] * 9


@pytest.mark.parametrize("scale", [1.25, 1.5, 2.0])
@pytest.mark.parametrize("overlap", [0.0, 1 / 3, 0.5])
def test_sliding_equals_whole_for_a_local_teacher(scale: float, overlap: float) -> None:
    """A teacher whose mask cell depends only on its own 2 x 2 pixels sees the same cells whichever
    window they come from: stitching is exact, so slide == whole."""
    torch.manual_seed(1)
    img = torch.rand(2, 3, 16, 24) * 4
    for flip in (False, True):
        view = View(scale=scale, flip=flip)
        slid = view_scores(AsymmetricTeacher(), img, IDENTITY, view, Windows(slide=True, overlap=overlap))
        whole = view_scores(AsymmetricTeacher(), img, IDENTITY, view, Windows(slide=False))
        torch.testing.assert_close(slid, whole, rtol=1e-5, atol=1e-5)


def test_sliding_with_odd_sizes_runs_the_view_whole_and_says_so() -> None:
    teacher = AsymmetricTeacher()
    img = torch.rand(1, 3, 9, 12)  # 9 rows: not a whole number of 2-px mask cells
    maps = predict_score_maps(teacher, img, IDENTITY, [View(), View(scale=2.0)], Windows(slide=True))
    assert maps.full().shape == (1, 3, 9, 12)
    assert (1, 3, 18, 24) in teacher.calls
    assert maps.runs == (ViewRun("orig@1", "whole"), ViewRun("orig@2", "whole", NOT_ON_MASK_GRID))


def test_score_maps_bands_equal_the_full_mean() -> None:
    teacher = AsymmetricTeacher(ramp=1.0)
    img = torch.rand(2, 3, 16, 24) * 4
    maps = predict_score_maps(teacher, img, IDENTITY, tta_views(True, scales=(0.5, 1.5, 2.0)))
    full = maps.full()
    assert full.shape == maps.shape == (2, 3, 16, 24)
    bands = list(maps.bands(budget_bytes=2 * 3 * 24 * 4 * 5))  # 5 rows a band
    assert [(y0, y1) for y0, y1, _ in bands] == [(0, 5), (5, 10), (10, 15), (15, 16)]
    torch.testing.assert_close(torch.cat([b for _, _, b in bands], dim=2), full)


def test_running_mean_equals_mean_of_views() -> None:
    teacher = AsymmetricTeacher(ramp=1.0)
    img = _image()
    views = tta_views(True, scales=(0.5, 1.5))
    assert [v.name for v in views] == ["orig@1", "flip@1", "orig@0.5", "orig@1.5"]
    expected = torch.stack([view_scores(teacher, img, IDENTITY, v) for v in views]).mean(0)
    torch.testing.assert_close(predict_scores(teacher, img, IDENTITY, views), expected)


def test_tta_off_is_the_original_view_only() -> None:
    assert tta_views(False) == (View(),)
    assert len(tta_views(True)) == 8


class OomAtScale(AsymmetricTeacher):
    """Runs out of memory (as CUDA would) on any input wider than 12 px."""

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        if pixel_values.shape[-1] > 12:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().forward(pixel_values)


def test_whole_view_out_of_memory_falls_back_to_windows_and_is_recorded() -> None:
    views = tta_views(True, scales=(0.5, 2.0))
    maps = predict_score_maps(OomAtScale(ramp=1.0), _image(), IDENTITY, views)
    assert maps.runs == (
        ViewRun("orig@1", "whole"),
        ViewRun("flip@1", "whole"),
        ViewRun("orig@0.5", "whole"),
        ViewRun("orig@2", "windows", FELL_BACK_OOM),
    )
    slide = Windows(slide=True)
    windows = view_scores(AsymmetricTeacher(ramp=1.0), _image(), IDENTITY, View(scale=2.0), slide)
    others = [view_scores(AsymmetricTeacher(ramp=1.0), _image(), IDENTITY, v) for v in views[:3]]
    torch.testing.assert_close(maps.full(), torch.stack([*others, windows]).mean(0))


def test_memory_budget_sends_only_upscaled_views_over_it_to_windows() -> None:
    views = tta_views(True, scales=(0.5, 1.25, 2.0))
    # The 8 x 12 image's own input is 1152 bytes, a floor of the estimate: x1.25 (10 x 15) is
    # about 1.6x that, x2 4x.
    maps = predict_score_maps(AsymmetricTeacher(), _image(), IDENTITY, views, Windows(budget_bytes=1))
    assert [r.key for r in maps.runs] == ["whole"] * 3 + [f"windows ({FELL_BACK_BUDGET})"] * 2
    roomy = predict_score_maps(AsymmetricTeacher(), _image(), IDENTITY, views, Windows(budget_bytes=1 << 40))
    assert [r.key for r in roomy.runs] == ["whole"] * 5


def test_plan_views_skips_or_fails_consistently() -> None:
    """A view that fits neither whole nor as windows (this image is off the 2-px mask grid, so no
    windows) is dropped for the whole run with on_oom="skip", and fails the run with "fail"."""
    views = tta_views(True, scales=(0.5, 2.0))
    odd = torch.rand(1, 3, 9, 12)
    kept = plan_views(OomAtScale(), odd, IDENTITY, views, on_oom="skip")
    assert [v.name for v in kept] == ["orig@1", "flip@1", "orig@0.5"]
    with pytest.raises(torch.OutOfMemoryError):
        plan_views(OomAtScale(), odd, IDENTITY, views, on_oom="fail")
    # On the grid the 2x view falls back to windows and is kept.
    kept = plan_views(OomAtScale(), _image(), IDENTITY, views, on_oom="fail")
    assert [v.name for v in kept] == ["orig@1", "flip@1", "orig@0.5", "orig@2"]
