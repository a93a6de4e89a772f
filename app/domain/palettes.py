"""Reference colour palettes of the paper's three target taxonomies, and generated ones. Pure layer.

A target taxonomy whose class list equals one of these (ids 0..N-1 in this order, names exactly)
gets its colours on import, so that pseudo-labels look like the paper's figures.

Source: ``ColorMap.COLORMAP_CITYSCAPES`` / ``COLORMAP_MAPILLARY`` / ``COLORMAP_OFFROAD`` in
``utils.py`` of UniBwTAS/data-priors (commit 3c08b51), the palettes of the paper's figures (the void
entry dropped). The Cityscapes colours are the trainId colours of cityscapesScripts'
``helpers/labels.py``; the Mapillary ones are those of the Mapillary Vistas ``config.json`` for the
63 classes the authors keep; the offroad ones are the authors' own. Class names as in their
``master_labels_{cityscapes,mapillary,offroad}.csv``.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence

REFERENCE_PALETTES: dict[str, tuple[tuple[str, str], ...]] = {
    "cityscapes": (
        ("road", "#804080"),
        ("sidewalk", "#f423e8"),
        ("building", "#464646"),
        ("wall", "#66669c"),
        ("fence", "#be9999"),
        ("pole", "#999999"),
        ("traffic light", "#faaa1e"),
        ("traffic sign", "#dcdc00"),
        ("vegetation", "#6b8e23"),
        ("terrain", "#98fb98"),
        ("sky", "#4682b4"),
        ("person", "#dc143c"),
        ("rider", "#ff0000"),
        ("car", "#00008e"),
        ("truck", "#000046"),
        ("bus", "#003c64"),
        ("train", "#005064"),
        ("motorcycle", "#0000e6"),
        ("bicycle", "#770b20"),
    ),
    "mapillary": (
        ("animal--bird", "#a52a2a"),
        ("animal--ground-animal", "#00c000"),
        ("construction--barrier--curb", "#c4c4c4"),
        ("construction--barrier--fence", "#be9999"),
        ("construction--barrier--guard-rail", "#b4a5b4"),
        ("construction--barrier--other-barrier", "#66669c"),
        ("construction--barrier--wall", "#66669c"),
        ("construction--flat--bike-lane", "#8040ff"),
        ("construction--flat--crosswalk-plain", "#8c8cc8"),
        ("construction--flat--curb-cut", "#aaaaaa"),
        ("construction--flat--parking", "#faaaa0"),
        ("construction--flat--pedestrian-area", "#606060"),
        ("construction--flat--rail-track", "#e6968c"),
        ("construction--flat--road", "#804080"),
        ("construction--flat--service-lane", "#6e6e6e"),
        ("construction--flat--sidewalk", "#f423e8"),
        ("construction--structure--bridge", "#966464"),
        ("construction--structure--building", "#464646"),
        ("construction--structure--tunnel", "#96785a"),
        ("human--person", "#dc143c"),
        ("human--rider--bicyclist", "#ff0000"),
        ("human--rider--motorcyclist", "#ff0000"),
        ("human--rider--other-rider", "#ff0000"),
        ("marking--crosswalk-zebra", "#c88080"),
        ("marking--general", "#ffff80"),
        ("nature--mountain", "#40aa40"),
        ("nature--sand", "#804040"),
        ("nature--sky", "#4682b4"),
        ("nature--snow", "#ffffff"),
        ("nature--terrain", "#98fb98"),
        ("nature--vegetation", "#6b8e23"),
        ("nature--water", "#00aa1e"),
        ("object--banner", "#ffff80"),
        ("object--bench", "#fa001e"),
        ("object--bike-rack", "#000000"),
        ("object--billboard", "#dcdcdc"),
        ("object--catch-basin", "#aaaaaa"),
        ("object--cctv-camera", "#de2828"),
        ("object--fire-hydrant", "#64aa1e"),
        ("object--junction-box", "#282828"),
        ("object--mailbox", "#212121"),
        ("object--manhole", "#aaaaaa"),
        ("object--phone-booth", "#00008e"),
        ("object--pothole", "#aaaaaa"),
        ("object--street-light", "#d2aa64"),
        ("object--support--pole", "#999999"),
        ("object--support--traffic-sign-frame", "#808080"),
        ("object--support--utility-pole", "#00008e"),
        ("object--traffic-light", "#faaa1e"),
        ("object--traffic-sign--back", "#c0c0c0"),
        ("object--traffic-sign--front", "#dcdc00"),
        ("object--trash-can", "#b4a5b4"),
        ("object--vehicle--bicycle", "#770b20"),
        ("object--vehicle--boat", "#00008e"),
        ("object--vehicle--bus", "#003c64"),
        ("object--vehicle--car", "#00008e"),
        ("object--vehicle--caravan", "#00005a"),
        ("object--vehicle--motorcycle", "#0000e6"),
        ("object--vehicle--on-rails", "#005064"),
        ("object--vehicle--other-vehicle", "#804040"),
        ("object--vehicle--trailer", "#00006e"),
        ("object--vehicle--truck", "#000046"),
        ("object--vehicle--wheeled-slow", "#0000c0"),
    ),
    "offroad": (
        ("asphalt", "#804080"),
        ("rough_drivable", "#db8e46"),
        ("cobble", "#9bf2ef"),
        ("sidewalk", "#f423e8"),
        ("building", "#464646"),
        ("wall", "#66669c"),
        ("fence", "#be9999"),
        ("pole", "#999999"),
        ("traffic_light", "#faaa1e"),
        ("traffic_sign", "#dcdc00"),
        ("tree", "#82c850"),
        ("non_drivable_veg", "#cfbe00"),
        ("crops", "#0086ed"),
        ("water", "#443c91"),
        ("high_grass", "#008004"),
        ("low_grass", "#88d941"),
        ("guard_rail", "#c2ffed"),
        ("sky", "#4682b4"),
        ("person", "#dc143c"),
        ("rider", "#ff0000"),
        ("car", "#00008e"),
        ("truck", "#000046"),
        ("bus", "#003c64"),
        ("trailer", "#0aa6d8"),
        ("caravan", "#300018"),
        ("on_rails", "#005064"),
        ("motorcycle", "#0000e6"),
        ("bicycle", "#770b20"),
        ("road_marking", "#f6b464"),
        ("bridge", "#404cf5"),
        ("tunnel", "#e37500"),
        ("rock", "#5a6b3d"),
        ("snow", "#26fff1"),
        ("animal", "#965d00"),
    ),
}


def reference_palette(classes: Iterable[tuple[int, str]]) -> tuple[str, dict[int, str]] | None:
    """(palette name, class id -> ``#rrggbb``) when ``classes`` is exactly a reference class list."""
    wanted = tuple(classes)
    for key, palette in REFERENCE_PALETTES.items():
        if wanted == tuple(enumerate(name for name, _ in palette)):
            return key, {i: color for i, (_, color) in enumerate(palette)}
    return None


GOLDEN_RATIO_CONJUGATE = 0.618033988749895
# (saturation, value) levels cycled with the hue so that neighbours differ in more than hue
_TONES = ((0.65, 0.90), (0.85, 0.60), (0.45, 0.75), (0.95, 0.85), (0.40, 0.50))
IGNORE_COLOR = "#000000"  # void / ignored labels: black, as in the Cityscapes table
_MIN_DISTANCE = 40.0  # RGB distance under which a generated colour counts as a repeat


def _distance(a: str, b: str) -> float:
    pa = (int(a[1:3], 16), int(a[3:5], 16), int(a[5:7], 16))
    pb = (int(b[1:3], 16), int(b[3:5], 16), int(b[5:7], 16))
    return float(sum((x - y) ** 2 for x, y in zip(pa, pb, strict=True)) ** 0.5)


def _hsv(h: float, s: float, v: float) -> str:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def generated_colors(wanted: Sequence[bool], *, taken: Iterable[str] = ()) -> dict[int, str]:
    """Colours for the positions where ``wanted[i]`` is true: deterministic and far apart.

    Hues step by the golden ratio (each new hue falls in the largest gap left so far) and the
    saturation/value cycle through five tones; a candidate closer than ``_MIN_DISTANCE`` to a
    colour already used (``taken``: the colours the file did give, or one generated before) is
    skipped. Past 64 tries the farthest one tried is taken, so lists of more than about 40 labels
    get closer colours. The same ``wanted`` and ``taken`` give the same colours (a re-import matches).
    """
    used = [c.lower() for c in taken]
    out: dict[int, str] = {}
    step = 0
    for position, want in enumerate(wanted):
        if not want:
            continue
        best, best_gap = "", -1.0
        for _attempt in range(64):
            s, v = _TONES[step % len(_TONES)]
            candidate = _hsv(0.07 + step * GOLDEN_RATIO_CONJUGATE, s, v)
            step += 1
            gap = min((_distance(candidate, c) for c in used), default=float("inf"))
            if gap > best_gap:
                best, best_gap = candidate, gap
            if gap >= _MIN_DISTANCE:
                break
        out[position] = best
        used.append(best)
    return out
