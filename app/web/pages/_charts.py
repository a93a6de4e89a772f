"""Server-rendered line charts and heatmap shading for the training panel (web layer; no JavaScript).

``line_chart`` turns a few series of ``(x, y)`` points into pixel coordinates for an inline SVG
(``templates/training/_chart.html``): polylines, dots, and "nice" axis ticks. ``shade`` gives the
background and text colour of a confusion-matrix cell from its row share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# Distinguishable on white, colour-blind friendly (Okabe-Ito, darkened a little for contrast).
PALETTE = ("#2456c7", "#c8570b", "#1d7a46", "#a3367f", "#8a6d00", "#0f7c99", "#5a6373")
MARGIN = (44, 12, 24, 30)  # left, right, top, bottom (px inside the viewBox)


@dataclass(slots=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = PALETTE[0]
    dots: bool = False  # validation points are few: draw each one


@dataclass(slots=True)
class PlotSeries:
    name: str
    color: str
    path: str  # SVG polyline points "x,y x,y ..."
    dots: list[tuple[float, float]]
    last: float | None  # the last y value (shown in the legend)


@dataclass(slots=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    series: list[PlotSeries] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]`` (1, 2, 2.5, 5 x 10^k steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}"


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 520,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
    x_max: float | None = None,
) -> Chart:
    """Pixel geometry of a line chart; ``y_range`` fixes the y axis (e.g. 0..1 for mIoU)."""
    left, right, top, bottom = MARGIN[0], width - MARGIN[1], MARGIN[2], height - MARGIN[3]
    chart = Chart(width, height, left, right, top, bottom)
    finite = [(x, y) for s in series for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
    if not finite:
        chart.y_ticks = [(bottom, "0"), (top, "1")]
        return chart
    xs, ys = [p[0] for p in finite], [p[1] for p in finite]
    x_ticks = nice_ticks(0.0, max(max(xs), x_max or 0.0, 1.0), 6)
    y_ticks = nice_ticks(*(y_range or (min(ys), max(ys))), 5)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            round(left + (x - x0) / (x1 - x0) * (right - left), 1),
            round(bottom - (y - y0) / (y1 - y0) * (bottom - top), 1),
        )

    for s in series:
        pts = [px(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        chart.series.append(
            PlotSeries(
                name=s.name,
                color=s.color,
                path=" ".join(f"{x},{y}" for x, y in pts),
                dots=pts if s.dots else [],
                last=s.points[-1][1] if s.points else None,
            )
        )
    chart.x_ticks = [(px(t, y0)[0], _label(t)) for t in x_ticks]
    chart.y_ticks = [(px(x0, t)[1], _label(t)) for t in y_ticks]
    chart.empty = False
    return chart


def shade(share: float) -> tuple[str, str]:
    """(background, text colour) of a heatmap cell for a row share in [0, 1]."""
    share = min(max(share, 0.0), 1.0)
    background = f"rgb(36 86 199 / {share * 0.92 + 0.0:.2f})" if share > 0 else "transparent"
    return background, "#ffffff" if share >= 0.5 else "#1c2230"
