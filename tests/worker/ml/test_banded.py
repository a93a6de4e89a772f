"""Band-by-band labels equal the whole-image constrained argmax (same per-pixel semantics)."""

from __future__ import annotations

import numpy as np
import torch

from app.domain.mapping import OntologyMapping
from app.domain.priors import compile_priors
from app.domain.taxonomy import class_list_taxonomy
from worker.ml.banded import argmax_labels, constrained_labels
from worker.ml.priors import PriorTensors, constrained_argmax
from worker.ml.tta import ScoreMaps


def _maps(seed: int = 0) -> ScoreMaps:
    g = torch.Generator().manual_seed(seed)
    # Two views at different mask resolutions, as TTA produces (channel 4 = void).
    small = [torch.rand(2, 5, 5, 7, generator=g), torch.rand(2, 5, 9, 13, generator=g)]
    return ScoreMaps((19, 27), small)


def _priors() -> tuple[PriorTensors, np.ndarray]:
    target = class_list_taxonomy("t", enumerate(["a", "b", "c", "d"]))
    source = class_list_taxonomy("s", enumerate(["ab", "c", "void", "cd"]))
    mapping = OntologyMapping.from_edges(
        [("ab", 0), ("ab", 1), ("c", 2), ("void", 255), ("cd", 2), ("cd", 3)]
    )
    compiled = compile_priors(mapping, source, target)
    values = np.random.default_rng(1).integers(0, 6, (2, 19, 27))  # 4, 5: unknown values
    return PriorTensors.from_compiled(compiled), np.asarray(compiled.index_of(values))


def test_banded_constrained_labels_equal_the_whole_image() -> None:
    maps = _maps()
    priors, rows = _priors()
    index = torch.from_numpy(rows)
    whole = constrained_argmax(maps.full(), index, priors)
    for budget in (1, 2 * 5 * 27 * 4 * 4, None):  # 1 row a band, 4 rows a band, default
        banded, teacher = constrained_labels(maps, index, priors, teacher_map=True, band_bytes=budget)
        assert torch.equal(banded.labels, whole.labels)
        assert torch.equal(banded.channel, whole.channel)
        assert torch.equal(banded.corrected, whole.corrected)
        torch.testing.assert_close(banded.confidence, whole.confidence)
        assert teacher is not None and torch.equal(teacher, maps.full()[:, :4].argmax(1))
    assert set(whole.labels.unique().tolist()) <= {0, 1, 2, 3, 255}


def test_banded_no_prior_mode_and_plain_argmax() -> None:
    maps = _maps(3)
    banded, teacher = constrained_labels(maps, None, None, band_bytes=1)
    assert teacher is None
    expected = maps.full()[:, :4].argmax(1)
    assert torch.equal(banded.labels, expected)
    assert not banded.corrected.any()
    assert torch.equal(argmax_labels(maps, 4, band_bytes=1), expected)


def test_ties_go_to_the_lowest_class_in_every_argmax() -> None:
    small = torch.rand(1, 5, 5, 7, generator=torch.Generator().manual_seed(5))
    small[:, 2] = small[:, 1] = small[:, :4].amax(dim=1) + 1  # classes 1 and 2 tie everywhere
    maps = ScoreMaps((19, 27), [small])
    banded, teacher = constrained_labels(maps, None, None, teacher_map=True, band_bytes=1)
    assert teacher is not None and bool((teacher == 1).all()) and bool((banded.labels == 1).all())
    assert bool((argmax_labels(maps, 4) == 1).all())
