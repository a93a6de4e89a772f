"""Separable bilinear resampling equals ``F.interpolate`` (align_corners=False), for any output band.

Up to float rounding: PyTorch computes source coordinates in float32, we in float64 (differences of a
few 1e-6 on 0..1 data)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from worker.ml.resample import resample, resample_rows_resize_cols, resize_axis


@pytest.mark.parametrize(
    ("small", "big"),
    [((4, 6), (16, 24)), ((17, 23), (67, 91)), ((40, 40), (37, 53)), ((7, 9), (100, 3)), ((5, 5), (5, 5))],
)
def test_resample_matches_interpolate(small: tuple[int, int], big: tuple[int, int]) -> None:
    x = torch.rand(2, 5, *small, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
    device = torch.device("cpu")
    rows = resize_axis(0, big[0], small[0], big[0], device)
    cols = resize_axis(0, big[1], small[1], big[1], device)
    torch.testing.assert_close(resample(x, rows, cols), expected, rtol=1e-4, atol=1e-5)
    # Any band of output rows is the same band of the whole resize.
    y0, y1 = big[0] // 3, big[0] // 3 + max(1, big[0] // 4)
    band = resample(x, resize_axis(y0, y1, small[0], big[0], device), cols)
    torch.testing.assert_close(band, expected[:, :, y0:y1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("small", "big"), [((4, 6), (16, 24)), ((17, 23), (67, 91)), ((40, 40), (37, 53))])
def test_rows_then_column_resize_matches_interpolate(small: tuple[int, int], big: tuple[int, int]) -> None:
    x = torch.rand(1, 3, *small, generator=torch.Generator().manual_seed(1))
    expected = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
    y0, y1 = 1, big[0] - 1
    rows = resize_axis(y0, y1, small[0], big[0], torch.device("cpu"))
    band = resample_rows_resize_cols(x, rows, big[1])
    torch.testing.assert_close(band, expected[:, :, y0:y1], rtol=1e-4, atol=1e-5)
