"""Procedurally generated driving-like scenes (worker layer, numpy only): the experiment demo's domain.

Used by ``unilabel demo ml`` (``worker.demo_experiment``) and by the miniature reproduction
(``benchmarks/mini_reproduction.py``, ``benchmarks/survey_audit.py``).

Each scene has a sky, buildings and sidewalks ("background"), a road in perspective paved with
asphalt (dark, fine grain) or cobble (a stone grid), dashed road markings on asphalt, trees (trunk +
dark crown reaching into the sky), bushes (low, light, speckled) and cars. The fine label map uses
the 8 target classes below; the coarse map merges them into road / vegetation / sky / object.
Everything is a pure function of the generator passed in.

A scene is seen under one of four *conditions*: ``clear`` (the source dataset's only condition),
``fog`` (contrast fading towards a haze colour with distance), ``dusk`` (dark, warm, noisy) and
``rain`` (blurred, desaturated, darker, with streaks). The extra dataset and the test set mix all
four, so the extra data brings appearance the source lacks, as real extra datasets bring other
cities, cameras and weather. None of the conditions changes a label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Rng = np.random.Generator

FINE_CLASSES = ("asphalt", "cobble", "road marking", "tree", "bush", "sky", "car", "background")
COARSE_CLASSES = ("road", "vegetation", "sky", "object")
# fine class id -> coarse class id
FINE_TO_COARSE = np.array([0, 0, 0, 1, 1, 2, 3, 3], dtype=np.uint8)
ASPHALT, COBBLE, MARKING, TREE, BUSH, SKY, CAR, BACKGROUND = range(8)
CONDITIONS = ("clear", "fog", "dusk", "rain")


def make_scene(
    rng: np.random.Generator, height: int = 64, width: int = 128, condition: str = "clear"
) -> tuple[np.ndarray, np.ndarray]:
    """One scene under ``condition`` (one of CONDITIONS).

    Returns:
        ``(H, W, 3)`` uint8 image and ``(H, W)`` uint8 fine label map (ids of FINE_CLASSES).
    """
    image = np.zeros((height, width, 3), dtype=np.float32)
    label = np.full((height, width), BACKGROUND, dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = rng.uniform(0.35, 0.5) * height
    _sky(image, label, yy, horizon, rng)
    _buildings(image, label, yy, xx, horizon, rng)
    _ground(image, yy, horizon, rng)
    _road(image, label, yy, xx, horizon, rng)
    for _ in range(rng.integers(0, 4)):
        _bush(image, label, yy, xx, horizon, rng)
    for _ in range(rng.integers(0, 4)):
        _tree(image, label, yy, xx, horizon, rng)
    for _ in range(rng.integers(0, 3)):
        _car(image, label, yy, xx, horizon, rng)
    noise = _CONDITION_EFFECTS[condition](image, yy, horizon, rng)
    image += rng.normal(0.0, noise, image.shape)  # sensor noise
    return np.clip(image, 0, 255).astype(np.uint8), label


def _clear(image: Array, yy: Array, horizon: float, rng: Rng) -> float:
    return 4.0


def _fog(image: Array, yy: Array, horizon: float, rng: Rng) -> float:
    """Blend towards a haze colour; the blend weakens towards the bottom (near) of the image."""
    height = image.shape[0]
    depth = ((yy - horizon) / max(height - horizon, 1.0)).clip(0, 1)
    alpha = (rng.uniform(0.5, 0.75) * (1.0 - 0.75 * depth))[..., None]
    haze = np.array([rng.uniform(170, 210)] * 3) + np.array([0.0, 3.0, 8.0])
    image[:] = image * (1 - alpha) + haze * alpha
    return 3.0


def _dusk(image: Array, yy: Array, horizon: float, rng: Rng) -> float:
    """Dark and warm, with the stronger noise of a camera at low light."""
    tint = np.array([1.0, rng.uniform(0.7, 0.85), rng.uniform(0.5, 0.65)])
    image[:] = image * rng.uniform(0.3, 0.5) * tint + np.array([12.0, 6.0, 0.0])
    return 9.0


def _rain(image: Array, yy: Array, horizon: float, rng: Rng) -> float:
    """Blurred (wet lens), half desaturated and darker, with bright slanted streaks."""
    blurred = image.copy()
    for axis in (0, 1):  # separable [1, 2, 1] / 4 blur, twice
        for _ in range(2):
            blurred = (np.roll(blurred, 1, axis) + 2 * blurred + np.roll(blurred, -1, axis)) / 4
    gray = blurred @ np.array([0.299, 0.587, 0.114])
    image[:] = 0.75 * (0.5 * blurred + 0.5 * gray[..., None])
    height, width = yy.shape
    xx = np.arange(width)[None, :]
    for _ in range(rng.integers(15, 30)):
        x0, y0, length = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 10)
        streak = (np.abs(xx - x0 - 0.3 * (yy - y0)) < 0.5) & (yy >= y0) & (yy < y0 + length)
        image[streak] = image[streak] * 0.5 + 110.0
    return 6.0


_CONDITION_EFFECTS = {"clear": _clear, "fog": _fog, "dusk": _dusk, "rain": _rain}


def _paint(image: np.ndarray, label: np.ndarray, mask: np.ndarray, color: np.ndarray, cls: int) -> None:
    image[mask] = color
    label[mask] = cls


def _sky(image: Array, label: Array, yy: Array, horizon: float, rng: Rng) -> None:
    mask = yy < horizon
    top = np.array([rng.uniform(60, 120), rng.uniform(120, 170), rng.uniform(200, 250)])
    bottom = np.array([rng.uniform(160, 210), rng.uniform(190, 220), rng.uniform(220, 250)])
    t = (yy / max(horizon, 1.0)).clip(0, 1)[..., None]
    image[mask] = (top * (1 - t) + bottom * t)[mask]
    label[mask] = SKY


def _buildings(image: Array, label: Array, yy: Array, xx: Array, horizon: float, rng: Rng) -> None:
    width = image.shape[1]
    x = rng.uniform(-10, 10)
    while x < width:
        w = rng.uniform(12, 40)
        if rng.random() < 0.7:
            top = horizon - rng.uniform(5, horizon)
            mask = (xx >= x) & (xx < x + w) & (yy >= top) & (yy < horizon + 2)
            color = np.array([rng.uniform(120, 200), rng.uniform(100, 180), rng.uniform(80, 160)])
            _paint(image, label, mask, color, BACKGROUND)
            windows = mask & ((xx - x) % 6 < 2) & ((yy - top) % 7 < 3) & (yy < horizon - 2)
            image[windows] = color * 0.45
        x += w + rng.uniform(0, 12)


def _ground(image: Array, yy: Array, horizon: float, rng: Rng) -> None:
    mask = yy >= horizon
    image[mask] = np.array([rng.uniform(140, 180)] * 3) + rng.normal(0, 6, (int(mask.sum()), 3))


def _road(image: Array, label: Array, yy: Array, xx: Array, horizon: float, rng: Rng) -> None:
    height, width = label.shape
    vanish = rng.uniform(0.35, 0.65) * width
    depth = ((yy - horizon) / max(height - horizon, 1.0)).clip(0, 1)  # 0 at horizon, 1 at bottom
    half = 2 + depth * rng.uniform(0.3, 0.55) * width
    center = vanish + depth * rng.uniform(-0.15, 0.15) * width
    road = (yy >= horizon) & (np.abs(xx - center) < half)
    kind = rng.choice(["asphalt", "cobble", "split"], p=[0.45, 0.35, 0.2])
    cobble = (
        road
        if kind == "cobble"
        else road & (depth > rng.uniform(0.4, 0.7))
        if kind == "split"
        else road & False
    )
    asphalt = road & ~cobble
    grey = rng.uniform(55, 95)
    image[asphalt] = grey + rng.normal(0, 3, (int(asphalt.sum()), 1))
    label[asphalt] = ASPHALT
    period = 2.0 + 3.0 * depth
    stones = ((xx - center) % period < period * 0.7) & (yy % period < period * 0.7)
    base = np.array([rng.uniform(110, 150), rng.uniform(95, 130), rng.uniform(80, 110)])
    image[cobble] = np.where(stones[cobble][:, None], base, base * 0.55)
    label[cobble] = COBBLE
    if kind != "cobble" and rng.random() < 0.85:
        dash = ((yy - horizon) / (1 + 3 * depth)) % 4 < 2
        line = asphalt & (np.abs(xx - center) < 0.5 + 1.5 * depth) & dash
        _paint(image, label, line, np.array([235.0, 235.0, 225.0]), MARKING)


def _ellipse(yy: Array, xx: Array, cy: float, cx: float, ry: float, rx: float, rng: Rng) -> Array:
    wobble = 1.0 + 0.15 * np.sin(xx * rng.uniform(0.3, 0.8) + yy * rng.uniform(0.3, 0.8))
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < wobble


def _tree(image: Array, label: Array, yy: Array, xx: Array, horizon: float, rng: Rng) -> None:
    height, width = label.shape
    cx = rng.choice([rng.uniform(0, 0.3), rng.uniform(0.7, 1.0)]) * width
    base = horizon + rng.uniform(2, 0.35 * (height - horizon))
    tall = rng.uniform(0.35, 0.7) * height
    trunk = (np.abs(xx - cx) < 1.5) & (yy <= base) & (yy > base - tall * 0.6)
    _paint(image, label, trunk, np.array([rng.uniform(80, 110), rng.uniform(55, 75), 35.0]), TREE)
    crown = _ellipse(yy, xx, base - tall * 0.75, cx, tall * 0.35, rng.uniform(6, 14), rng)
    color = np.array([rng.uniform(25, 60), rng.uniform(80, 115), rng.uniform(25, 50)])
    image[crown] = color * rng.uniform(0.8, 1.2, (int(crown.sum()), 1))
    label[crown] = TREE


def _bush(image: Array, label: Array, yy: Array, xx: Array, horizon: float, rng: Rng) -> None:
    height, width = label.shape
    cx = rng.choice([rng.uniform(0, 0.35), rng.uniform(0.65, 1.0)]) * width
    cy = horizon + rng.uniform(1, 0.5 * (height - horizon))
    mask = _ellipse(yy, xx, cy, cx, rng.uniform(3, 7), rng.uniform(6, 16), rng)
    color = np.array([rng.uniform(90, 130), rng.uniform(140, 180), rng.uniform(45, 75)])
    speckle = rng.random(int(mask.sum()))[:, None] < 0.25
    image[mask] = np.where(speckle, color * 0.6, color)
    label[mask] = BUSH


def _car(image: Array, label: Array, yy: Array, xx: Array, horizon: float, rng: Rng) -> None:
    height, width = label.shape
    depth = rng.uniform(0.2, 1.0)
    bottom = horizon + depth * (height - horizon)
    size = 4 + 18 * depth
    cx = rng.uniform(0.2, 0.8) * width
    body = (np.abs(xx - cx) < size) & (yy < bottom) & (yy > bottom - size * 0.8)
    hue = rng.random(3)
    color = 40 + 200 * hue / hue.max()
    _paint(image, label, body, color, CAR)
    window = body & (yy < bottom - size * 0.45) & (np.abs(xx - cx) < size * 0.7)
    image[window] = np.array([40.0, 50.0, 60.0])
    wheels = body & (yy > bottom - size * 0.2) & (np.abs(np.abs(xx - cx) - size * 0.6) < size * 0.2)
    image[wheels] = np.array([20.0, 20.0, 20.0])
