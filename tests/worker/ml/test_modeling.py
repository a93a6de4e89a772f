"""Tiny Mask2Former: size, output shapes, class-score formula, loss/backward, normalisation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from worker.ml.modeling import (
    PAPER_NORMALIZATION,
    Normalization,
    build_mask2former,
    class_scores,
    count_parameters,
    tiny_config,
)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return build_mask2former(tiny_config({0: "a", 1: "b", 2: "c"})).eval()


def test_tiny_config_is_about_1_5m_parameters(model) -> None:  # type: ignore[no-untyped-def]
    assert 1.0e6 < count_parameters(model) < 2.0e6
    assert model.config.num_labels == 3
    assert model.config.num_queries == 24


def test_class_scores_shapes_and_resize(model) -> None:  # type: ignore[no-untyped-def]
    with torch.inference_mode():
        out = model(pixel_values=torch.randn(2, 3, 40, 56))
    at_mask = class_scores(out)
    assert at_mask.shape == (2, 4, *out.masks_queries_logits.shape[-2:])
    full = class_scores(out, (40, 56))
    assert full.shape == (2, 4, 40, 56)
    assert torch.all(full >= 0)


def test_class_scores_formula_matches_explicit_sum() -> None:
    torch.manual_seed(1)
    cls = torch.randn(1, 5, 3)  # Q=5, N=2 (+ no-object)
    masks = torch.randn(1, 5, 4, 6)
    s = class_scores(SimpleNamespace(class_queries_logits=cls, masks_queries_logits=masks))
    expected = torch.zeros(1, 3, 4, 6)
    for q in range(5):
        p = cls[0, q].softmax(-1)
        for c in range(3):
            expected[0, c] += p[c] * masks[0, q].sigmoid()
    torch.testing.assert_close(s, expected)


def test_class_scores_resize_is_bilinear_align_corners_false() -> None:
    cls = torch.zeros(1, 1, 2)
    masks = torch.randn(1, 1, 3, 5)
    s = class_scores(SimpleNamespace(class_queries_logits=cls, masks_queries_logits=masks), (9, 10))
    ref = torch.nn.functional.interpolate(
        class_scores(SimpleNamespace(class_queries_logits=cls, masks_queries_logits=masks)),
        size=(9, 10),
        mode="bilinear",
        align_corners=False,
    )
    torch.testing.assert_close(s, ref)


def test_loss_and_backward(model) -> None:  # type: ignore[no-untyped-def]
    model.train()
    try:
        out = model(
            pixel_values=torch.randn(1, 3, 64, 64),
            mask_labels=[torch.zeros(2, 64, 64).index_fill_(1, torch.arange(32), 1.0)],
            class_labels=[torch.tensor([0, 2])],
        )
        out.loss.backward()
        assert torch.isfinite(out.loss)
    finally:
        model.eval()


def test_normalization_apply_and_json() -> None:
    x = torch.full((1, 3, 2, 2), 80.85)
    y = PAPER_NORMALIZATION.apply(x)
    assert y[0, 0].abs().max() < 1e-5
    assert Normalization.from_json(PAPER_NORMALIZATION.to_json()) == PAPER_NORMALIZATION
    unit = Normalization.from_unit_scale([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert unit.mean == (127.5, 127.5, 127.5) and unit.std == (63.75, 63.75, 63.75)
    with pytest.raises(ValueError):
        Normalization.from_json({"mean": [1, 2], "std": [1, 1, 1]})
