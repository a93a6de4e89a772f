"""The ML demo's target classes are painted like the source labels they come from."""

from __future__ import annotations

from worker.demo import EDGES, SOURCE, TARGET


def test_demo_target_colours_match_their_meaning_and_the_source() -> None:
    colors = {lb.name: lb.color for lb in TARGET.labels}
    assert colors["sky"] == "#4682b4"  # steel blue, as the source's sky (was red from a fallback)
    assert colors["drivable"] == "#804080"  # Cityscapes road purple-grey (was blue)
    source = {lb.name: lb.color for lb in SOURCE.labels}
    target_of = {name: t for name, t in EDGES if t >= 0}
    for src, tgt in (("road", 0), ("car", 1), ("tree", 2), ("sky", 3)):
        assert target_of[src] == tgt and source[src] == TARGET.labels[tgt].color
