"""Generated palettes for labels imported without colours: deterministic, distinct, around given ones."""

from __future__ import annotations

import itertools

from app.domain.palettes import generated_colors


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _distance(a: str, b: str) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b), strict=True)) ** 0.5)


def test_colours_are_deterministic_and_only_for_wanted_positions() -> None:
    wanted = [True, False, True, True]
    first = generated_colors(wanted)
    assert first == generated_colors(wanted)
    assert sorted(first) == [0, 2, 3]
    assert all(c.startswith("#") and len(c) == 7 for c in first.values())


def test_forty_colours_are_pairwise_far_apart() -> None:
    colors = list(generated_colors([True] * 40).values())
    assert len(set(colors)) == 40
    assert min(_distance(a, b) for a, b in itertools.combinations(colors, 2)) >= 40
    assert "#000000" not in colors  # black stays for void/ignored labels


def test_colours_keep_away_from_the_ones_the_file_gave() -> None:
    free = generated_colors([True])[0]
    moved = generated_colors([True], taken=[free.upper()])[0]
    assert moved != free and _distance(moved, free) >= 40


def test_nothing_wanted_gives_nothing() -> None:
    assert generated_colors([]) == {} and generated_colors([False, False]) == {}
