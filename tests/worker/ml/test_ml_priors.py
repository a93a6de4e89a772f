"""Prior-constrained argmax: one gather equals the per-pixel reference, never leaves A(g)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.domain.label_codec import decode_label
from app.domain.mapping import VOID, OntologyMapping
from app.domain.priors import CompiledPriors, compile_priors
from app.domain.taxonomy import Label, Taxonomy, class_list_taxonomy
from worker.ml.priors import (
    PriorTensors,
    apply_threshold,
    constrained_argmax,
    constrained_argmax_dense,
    reference_constrained_argmax,
    value_histogram,
)


def _scores(rng: np.random.Generator, n: int, h: int, w: int, levels: int = 4) -> np.ndarray:
    """Coarsely quantised scores so that ties are frequent (ties must go to the lowest index)."""
    return (rng.integers(0, levels, (n + 1, h, w)) / levels).astype(np.float32)


def _run(scores: np.ndarray, values: np.ndarray, compiled: CompiledPriors) -> np.ndarray:
    index = torch.from_numpy(compiled.index_of(values))[None]
    out = constrained_argmax(torch.from_numpy(scores)[None], index, PriorTensors.from_compiled(compiled))
    return out.labels[0].numpy()


@pytest.mark.parametrize("seed", range(4))
def test_gather_equals_reference_ids8(seed: int, compiled: CompiledPriors) -> None:
    rng = np.random.default_rng(seed)
    values = rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, 7, 200, 255]), size=(12, 17))
    scores = _scores(rng, compiled.num_classes, 12, 17)
    assert np.array_equal(
        _run(scores, values, compiled), reference_constrained_argmax(scores, values, compiled)
    )


def _wide_source(
    rng: np.random.Generator, n_labels: int, max_value: int
) -> tuple[Taxonomy, Taxonomy, CompiledPriors]:
    values = sorted(rng.choice(np.arange(max_value), size=n_labels, replace=False).tolist())
    source = Taxonomy(
        "wide", tuple(Label(int(v), f"l{v}", f"#{int(v) * 2654435 % 0xFFFFFF:06x}") for v in values)
    )
    target = class_list_taxonomy("t", [(i, f"c{i}") for i in range(6)])
    edges = set()
    for v in values:
        kind = rng.integers(0, 4)
        if kind == 0:
            continue  # unmapped -> void only
        targets = rng.choice(np.array([0, 1, 2, 3, 4, 5, VOID]), size=int(kind), replace=False)
        edges.update((f"l{v}", int(t)) for t in targets)
    return source, target, compile_priors(OntologyMapping(frozenset(edges)), source, target)


def test_gather_equals_reference_ids16() -> None:
    rng = np.random.default_rng(10)
    source, _, compiled = _wide_source(rng, 40, 3000)
    pool = np.array([*source.values, 2999, 12, 65535])
    raw = rng.choice(pool, size=(10, 11)).astype(np.uint16)
    values = decode_label(raw, "ids16").values
    scores = _scores(rng, 6, 10, 11)
    assert np.array_equal(
        _run(scores, values, compiled), reference_constrained_argmax(scores, values, compiled)
    )


def test_gather_equals_reference_panoptic() -> None:
    rng = np.random.default_rng(11)
    source, _, compiled = _wide_source(rng, 30, 65)
    classes = rng.choice(np.array([*source.values, 64]), size=(9, 13))
    raw = (classes * 1000 + rng.integers(0, 999, (9, 13))).astype(np.uint16)
    values = decode_label(raw, "panoptic16").values
    assert np.array_equal(values, classes)
    scores = _scores(rng, 6, 9, 13)
    assert np.array_equal(
        _run(scores, values, compiled), reference_constrained_argmax(scores, values, compiled)
    )


def test_gather_equals_reference_rgb_with_unknown_colours() -> None:
    rng = np.random.default_rng(12)
    source, _, compiled = _wide_source(rng, 20, 250)
    palette = [tuple(bytes.fromhex(c[1:])) for c in source.colors.values()] + [(1, 2, 3)]
    rgb = np.array(palette, dtype=np.uint8)[rng.integers(0, len(palette), (8, 14))]
    decoded = decode_label(rgb, "rgb", colors=source.colors)
    assert decoded.unknown_color_pixels > 0
    scores = _scores(rng, 6, 8, 14)
    out = _run(scores, decoded.values, compiled)
    assert np.array_equal(out, reference_constrained_argmax(scores, decoded.values, compiled))
    assert np.all(out[decoded.values == -1] == 255)


@pytest.mark.parametrize("seed", range(3))
def test_never_outside_allowed_and_single_targets_relabelled(seed: int, compiled: CompiledPriors) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 10, (20, 20))
    scores = rng.random((compiled.num_classes + 1, 20, 20), dtype=np.float32)
    out = _run(scores, values, compiled)
    channel = np.where(out == 255, compiled.num_classes, out)
    rows = compiled.index_of(values)
    assert np.all(compiled.allowed[rows, channel])
    single = compiled.lut[rows] != 255
    assert single.any()
    assert np.array_equal(out[single], compiled.lut[rows][single])


def test_void_only_rows_always_void(compiled: CompiledPriors) -> None:
    values = np.array([[0, 5, 6, 999, -1]])  # void edge, unmapped, no label, unknown, undecodable
    scores = np.ones((compiled.num_classes + 1, 1, 5), dtype=np.float32)
    scores[-1] = 0.0  # void is the weakest channel and still wins
    assert _run(scores, values, compiled).tolist() == [[255] * 5]


def test_ties_go_to_lowest_index(compiled: CompiledPriors) -> None:
    values = np.array([[2, 7]])  # vehicle -> {road 0, car 1}; grass -> {vegetation 2, void}
    scores = np.full((compiled.num_classes + 1, 1, 2), 0.5, dtype=np.float32)
    assert _run(scores, values, compiled).tolist() == [[0, 2]]


def test_no_prior_mode_is_argmax_over_real_classes() -> None:
    scores = torch.tensor([[0.1, 0.3, 0.9], [0.2, 0.1, 0.0]]).T.reshape(
        1, 3, 1, 2
    )  # void channel largest at px 0
    out = constrained_argmax(scores, None, None)
    assert out.labels.tolist() == [[[1, 0]]]
    torch.testing.assert_close(out.confidence, torch.tensor([[[0.75, 2 / 3]]]))


def test_confidence_and_threshold(compiled: CompiledPriors) -> None:
    values = np.array([[2]])
    scores = np.zeros((compiled.num_classes + 1, 1, 1), dtype=np.float32)
    scores[:, 0, 0] = [0.3, 0.1, 5.0, 5.0, 5.0]  # only road/car allowed
    index = torch.from_numpy(compiled.index_of(values))[None]
    res = constrained_argmax(torch.from_numpy(scores)[None], index, PriorTensors.from_compiled(compiled))
    assert res.labels.item() == 0
    assert res.confidence.item() == pytest.approx(0.75)
    assert apply_threshold(res, 0.8, 4).item() == 255
    assert apply_threshold(res, 0.7, 4).item() == 0


def test_value_histogram_counts_pairs() -> None:
    index = torch.tensor([[0, 0, 2], [2, 2, 1]])
    channel = torch.tensor([[1, 1, 0], [3, 0, 3]])
    hist = value_histogram(index, channel, rows=3, channels=4)
    assert hist.tolist() == [[0, 2, 0, 0], [0, 0, 0, 1], [2, 0, 0, 1]]


@pytest.mark.parametrize("seed", range(3))
def test_fast_path_equals_dense_formula_and_reports_corrections(seed: int, compiled: CompiledPriors) -> None:
    rng = np.random.default_rng(seed)
    values = torch.from_numpy(compiled.index_of(rng.integers(0, 10, (2, 16, 24))))
    scores = torch.from_numpy(_scores(rng, compiled.num_classes, 16, 24 * 2)).reshape(5, 16, 2, 24)
    scores = scores.permute(2, 0, 1, 3).contiguous()  # (B=2, N+1, H, W)
    priors = PriorTensors.from_compiled(compiled)
    res = constrained_argmax(scores, values, priors)
    assert torch.equal(res.channel, constrained_argmax_dense(scores, values, priors))
    plain = scores[:, : compiled.num_classes].argmax(dim=1)
    top = scores.gather(1, res.channel.unsqueeze(1)).squeeze(1)
    best = scores[:, : compiled.num_classes].amax(dim=1)
    non_void = res.channel != compiled.num_classes
    assert torch.equal(res.corrected, non_void & (top < best))
    # Away from exact ties, "corrected" is "differs from the teacher's plain argmax".
    untied = (scores[:, : compiled.num_classes] == best.unsqueeze(1)).sum(1) == 1
    assert torch.equal((res.corrected & untied), (non_void & (res.channel != plain) & untied))


def test_source_rows_shortcut_for_8_bit_labels(compiled: CompiledPriors) -> None:
    from worker.ml.priors import source_rows

    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(source_rows(values, compiled).astype(np.int64), compiled.index_of(values))
    wide = np.array([[0, 300, -1]], dtype=np.int32)
    assert np.array_equal(source_rows(wide, compiled), compiled.index_of(wide))
    index = torch.from_numpy(source_rows(values, compiled))[None]  # uint8 rows work directly
    scores = torch.rand(1, compiled.num_classes + 1, 16, 16)
    priors = PriorTensors.from_compiled(compiled)
    assert torch.equal(
        constrained_argmax(scores, index, priors).channel,
        constrained_argmax_dense(scores, index.long(), priors),
    )
