"""Reference colour palettes of the paper's three target taxonomies. Pure layer.

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

from collections.abc import Iterable

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
