"""Joint image/label augmentation for training (worker.ml layer).

One affine resampling does scale, crop and flip at once: every output pixel of the fixed-size crop
is mapped back to a continuous position in the original image, sampled bilinearly for the image
and by nearest neighbour for the label. Its cost depends on the crop size only, whatever the scale,
and areas outside the image become label 255 (ignore) and black pixels. Colour jitter, blur and
noise then touch the image alone. Every random quantity is drawn from a continuous range with the
``numpy.random.Generator`` passed in, so a sample is a pure function of its seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from worker.ml.train.config import AugmentConfig

IGNORE = 255

# RGB <-> YIQ (NTSC); a hue shift is a rotation of the (I, Q) chroma plane.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_GRAY = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


def augment_pair(
    image: torch.Tensor, label: torch.Tensor, config: AugmentConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale + crop + flip + photometric jitter of one training pair.

    Args:
        image: ``(3, H, W)`` uint8 or float tensor on the 0-255 scale.
        label: ``(H, W)`` integer tensor of class ids (255 = ignore).
        config: ranges and probabilities.
        rng: the sample's random generator.

    Returns:
        ``(3, h, w)`` float32 image (0-255) and ``(h, w)`` int64 label, ``(h, w) = config.crop_size``.
    """
    image, label = scale_crop_flip(image, label, config, rng)
    image = color_jitter(image, config, rng)
    if rng.random() < config.blur_prob:
        image = gaussian_blur(image, float(rng.uniform(*config.blur_sigma)))
    if rng.random() < config.noise_prob:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        std = float(rng.uniform(*config.noise_std))
        image = image + std * torch.randn(image.shape, generator=generator)
    return image.clamp_(0.0, 255.0), label


def scale_crop_flip(
    image: torch.Tensor, label: torch.Tensor, config: AugmentConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize, crop ``crop_size`` at a random place, maybe shear and flip, in one resampling.

    The resize factor is drawn from ``scale_range``; with ``crop_fraction`` set, the crop first
    covers a fraction drawn from that range of the image's height and width, resized to
    ``crop_size`` (per axis, so the aspect may change as in the reference), times that factor.
    Shapes as in :func:`augment_pair`. A crop larger than the scaled image is placed at a random
    offset too; the uncovered border is black with label 255.
    """
    height, width = image.shape[-2:]
    crop_h, crop_w = config.crop_size
    scale = float(rng.uniform(*config.scale_range))
    scale_y = scale_x = scale
    if config.crop_fraction is not None:
        fraction = float(rng.uniform(*config.crop_fraction))
        scale_y, scale_x = scale * crop_h / (fraction * height), scale * crop_w / (fraction * width)
    top = _offset(height * scale_y, crop_h, rng)
    left = _offset(width * scale_x, crop_w, rng)
    shear = (
        math.tan(math.radians(float(rng.uniform(-config.shear_deg, config.shear_deg))))
        if config.shear_deg
        else 0.0
    )
    flip = bool(rng.random() < config.hflip_prob)
    # Continuous source coordinates of the crop's pixel centres, normalised to [-1, 1] (align_corners=False).
    ys = (top + torch.arange(crop_h, dtype=torch.float32) + 0.5) / scale_y * (2.0 / height) - 1.0
    xs = (left + torch.arange(crop_w, dtype=torch.float32) + 0.5) / scale_x * (2.0 / width) - 1.0
    if flip:
        xs = xs.flip(0)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
    if shear:
        # x shifts in proportion to the row's distance from the crop's centre row (source pixels).
        rows = (torch.arange(crop_h, dtype=torch.float32) - (crop_h - 1) / 2.0) / scale_y
        grid[..., 0] += (shear * rows * (2.0 / width))[:, None]
    grid = grid[None]
    out_image = F.grid_sample(
        image[None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    # Shift labels by one so that zero padding marks "outside" and becomes 255.
    shifted = (label.to(torch.float32) + 1.0)[None, None]
    out_label = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    out_label = out_label[0, 0].round().to(torch.int64) - 1
    out_label[out_label < 0] = IGNORE
    return out_image[0], out_label


def _offset(scaled: float, crop: int, rng: np.random.Generator) -> float:
    """Top/left of the crop in scaled-image pixels: anywhere the crop stays inside, or covers all."""
    low, high = sorted((0.0, scaled - crop))
    return float(rng.uniform(low, high))


def color_jitter(image: torch.Tensor, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation and hue drawn from continuous ranges.

    Args:
        image: ``(3, H, W)`` float tensor, 0-255.

    Returns:
        ``(3, H, W)`` float tensor (not clamped).
    """
    brightness = rng.uniform(1 - config.brightness, 1 + config.brightness)
    contrast = rng.uniform(1 - config.contrast, 1 + config.contrast)
    saturation = rng.uniform(1 - config.saturation, 1 + config.saturation)
    hue = rng.uniform(-config.hue, config.hue)
    image = image * float(brightness)
    gray = (image * _GRAY).sum(dim=0, keepdim=True)
    image = (image - gray.mean()) * float(contrast) + gray.mean()
    gray = (image * _GRAY).sum(dim=0, keepdim=True)
    image = (image - gray) * float(saturation) + gray
    if hue != 0.0:
        image = rotate_hue(image, float(hue))
    return image


def rotate_hue(image: torch.Tensor, turns: float) -> torch.Tensor:
    """Rotate the hue of ``(3, H, W)`` RGB by ``turns`` (1.0 = 360 degrees) in YIQ space."""
    angle = 2.0 * math.pi * turns
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    matrix = _YIQ_TO_RGB @ rotation @ _RGB_TO_YIQ
    return torch.einsum("ij,jhw->ihw", matrix, image)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a ``(3, H, W)`` float image (reflect padding)."""
    radius = max(1, math.ceil(3.0 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    x = image[:, None]  # (3, 1, H, W): channels as batch
    pad_h, pad_w = min(radius, image.shape[-2] - 1), min(radius, image.shape[-1] - 1)
    x = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    kernel_w = kernel[radius - pad_w : radius + pad_w + 1]
    kernel_h = kernel[radius - pad_h : radius + pad_h + 1]
    x = F.conv2d(x, (kernel_w / kernel_w.sum()).view(1, 1, 1, -1))
    x = F.conv2d(x, (kernel_h / kernel_h.sum()).view(1, 1, -1, 1))
    return x[:, 0]
