"""Separable bilinear resampling at explicit source coordinates (worker.ml layer).

``F.interpolate(x, size, mode="bilinear", align_corners=False)`` samples output pixel ``i`` at the
source coordinate ``(i + 0.5) * in / out - 0.5`` (clamped at the borders) and blends the two nearest
source pixels along each axis. Doing the same here with the coordinates in hand lets a caller
resample a *band* of output rows, or a *window* of an up-scaled image, without materialising the
whole resized tensor, and with the same result up to float rounding (a few ULP: the blend order
differs from PyTorch's kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True, slots=True)
class Axis:
    """Sampling of one axis: ``out[j] = x[i0[j]] * w0[j] + x[i1[j]] * w1[j]``; all ``(n_out,)``."""

    i0: torch.Tensor
    i1: torch.Tensor
    w0: torch.Tensor
    w1: torch.Tensor

    @classmethod
    def at(cls, coords: torch.Tensor, size: int, *, dtype: torch.dtype = torch.float32) -> Axis:
        """Blend weights for source ``coords`` (float64, in source pixels) on an axis of ``size``."""
        src = coords.clamp(0.0, float(size - 1))
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp_max(size - 1)
        w1 = (src - i0).to(dtype)
        return cls(i0=i0, i1=i1, w0=1.0 - w1, w1=w1)

    def to(self, device: torch.device) -> Axis:
        return Axis(self.i0.to(device), self.i1.to(device), self.w0.to(device), self.w1.to(device))


def source_coords(start: int, stop: int, in_size: int, out_size: int) -> torch.Tensor:
    """Source coordinates of output pixels ``start..stop-1`` when ``in_size`` pixels are resized to
    ``out_size`` (``align_corners=False``).

    Returns:
        ``(stop - start,)`` float64.
    """
    out = torch.arange(start, stop, dtype=torch.float64)
    return (out + 0.5) * (in_size / out_size) - 0.5


def resize_axis(start: int, stop: int, in_size: int, out_size: int, device: torch.device) -> Axis:
    """:class:`Axis` for output pixels ``start..stop-1`` of a plain resize ``in_size -> out_size``."""
    return Axis.at(source_coords(start, stop, in_size, out_size), in_size).to(device)


def resample(x: torch.Tensor, rows: Axis, cols: Axis) -> torch.Tensor:
    """Bilinear samples of ``x`` ``(..., h, w)`` at ``rows`` x ``cols``: ``(..., len(rows), len(cols))``.

    Rows first, on the small input, so the work on the output grid is one select-and-blend.
    """
    x = _blend(x, rows, dim=-2)
    return _blend(x, cols, dim=-1)


def resample_rows_resize_cols(x: torch.Tensor, rows: Axis, width: int) -> torch.Tensor:
    """Bilinear samples of ``x`` ``(B, C, h, w)`` at ``rows``, plainly resized to ``width`` columns:
    ``(B, C, len(rows), width)``.

    The rows are blended on the small input, then PyTorch's vectorised kernel resizes the columns
    (its row axis keeps its size, an exact identity): much faster on a CPU than gathering along
    the innermost axis.
    """
    x = _blend(x, rows, dim=-2)
    return F.interpolate(x, size=(x.shape[-2], width), mode="bilinear", align_corners=False)


def _blend(x: torch.Tensor, axis: Axis, dim: int) -> torch.Tensor:
    shape = [1] * x.dim()
    shape[dim] = -1
    a = x.index_select(dim, axis.i0).mul_(axis.w0.view(shape))
    b = x.index_select(dim, axis.i1).mul_(axis.w1.view(shape))
    return a.add_(b)
