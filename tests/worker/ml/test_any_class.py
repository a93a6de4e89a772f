"""A dataset's "any class allowed" pixel values (an ego-vehicle mask): every real class, never void."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.domain.errors import InvalidInput
from app.domain.priors import CompiledPriors
from app.domain.taxonomy import Taxonomy
from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig
from worker.ml.data import resolve_pairs
from worker.ml.priors import (
    PriorTensors,
    constrained_argmax,
    constrained_argmax_dense,
    constrained_channels,
    reference_constrained_argmax,
)
from worker.ml.pseudo_label import run_pseudo_labeling


def _scores(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    return (rng.integers(0, 4, (n + 1, h, w)) / 4).astype(np.float32)


def test_any_class_rows_allow_every_real_class_and_not_void(compiled: CompiledPriors) -> None:
    n = compiled.num_classes
    extended = compiled.with_any_class([0, 5, 300])
    assert extended.any_class_values == (0, 5, 300)
    for value in (0, 5, 300):
        row = extended.allowed[extended.index_of(np.array(value))]
        assert row[:n].all() and not row[n]
        assert extended.hard_map(np.array([value]))[0] == 255  # ambiguous in the lookup table
    # other rows unchanged, unknown values still void only, the unknown row is still last
    assert np.array_equal(extended.allowed[1:5], compiled.allowed[1:5])
    assert extended.index_of(np.array(301)) == extended.unknown_row == extended.allowed.shape[0] - 1
    assert not extended.allowed[extended.unknown_row, :n].any()
    assert compiled.with_any_class([]) is compiled
    with pytest.raises(InvalidInput):
        compiled.with_any_class([-1])


@pytest.mark.parametrize("seed", range(4))
def test_gather_equals_per_pixel_reference(seed: int, compiled: CompiledPriors) -> None:
    extended = compiled.with_any_class([6, 300])
    rng = np.random.default_rng(seed)
    values = rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, 7, 200, 300, 301]), size=(2, 13, 19))
    scores = np.stack([_scores(rng, compiled.num_classes, 13, 19) for _ in range(2)])
    priors = PriorTensors.from_compiled(extended)
    assert priors.has_any_class
    # the any-class rows do not widen every ambiguous pixel's gather to N channels
    assert priors.choices.shape[1] == PriorTensors.from_compiled(compiled).choices.shape[1] == 2
    index = torch.from_numpy(extended.index_of(values))
    res = constrained_argmax(torch.from_numpy(scores), index, priors)
    for b in range(2):
        expected = reference_constrained_argmax(scores[b], values[b], extended)
        assert np.array_equal(res.labels[b].numpy(), expected)
    dense = constrained_argmax_dense(torch.from_numpy(scores), index, priors)
    assert torch.equal(res.channel, dense)
    assert torch.equal(constrained_channels(torch.from_numpy(scores), index, priors).long(), dense)
    any_px = np.isin(values, [6, 300])
    plain = scores[:, : compiled.num_classes].argmax(axis=1)
    assert np.array_equal(res.labels.numpy()[any_px], plain[any_px])
    assert not res.corrected.numpy()[any_px].any()
    real = scores[:, : compiled.num_classes]
    expected_conf = np.where(real.sum(1) > 0, real.max(1) / np.maximum(real.sum(1), 1e-12), 0)
    assert np.allclose(res.confidence.numpy()[any_px], expected_conf[any_px])


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_run_labels_any_class_pixels_with_the_teachers_argmax(  # type: ignore[no-untyped-def]
    teacher, make_dataset, tmp_path: Path, compiled: CompiledPriors, source: Taxonomy
) -> None:
    root = make_dataset(n=3)
    found = resolve_pairs(
        root, image_pattern="images/{split}/{stem}.png", label_template="labels/{split}/{stem}_labelids.png"
    )
    pairs = list(found.pairs)

    def run(out: str, priors: CompiledPriors) -> dict[str, object]:
        config = PseudoLabelConfig(
            out_dir=tmp_path / out, inference=InferenceConfig(batch_size=2), write_teacher=True
        )
        run_pseudo_labeling(config, teacher, pairs, DataConfig(root=root), priors=priors, source=source)
        data: dict[str, object] = json.loads((tmp_path / out / "summary.json").read_text())
        return data

    plain = run("plain", compiled)
    summary = run("any", compiled.with_any_class([0, 6]))
    assert plain["any_class_values"] == [] and summary["any_class_values"] == [0, 6]
    for pair in pairs:
        rel = Path(pair.label).with_suffix(".png")  # type: ignore[arg-type]
        gt = _read(root / pair.label)  # type: ignore[operator]
        teacher_map = _read(tmp_path / "any" / "teacher" / rel)  # the plain argmax over N classes
        before = _read(tmp_path / "plain" / "labels" / rel)
        after = _read(tmp_path / "any" / "labels" / rel)
        any_px = np.isin(gt, [0, 6])
        assert any_px.any() and (before[any_px] == 255).all()  # void before: unlabeled / unknown
        # per pixel: the teacher's argmax on any-class pixels, the unchanged prior label elsewhere
        assert np.array_equal(after, np.where(any_px, teacher_map, before))
