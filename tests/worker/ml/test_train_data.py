"""Training data: label mapping, Mask2Former targets without void, joint augmentation, the mixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.domain.priors import CompiledPriors
from worker.ml.train.augment import augment_pair, gaussian_blur, rotate_hue, scale_crop_flip
from worker.ml.train.config import AugmentConfig
from worker.ml.train.datasets import ArrayPairs, LabeledSet, TrainingMixture, map_labels
from worker.ml.train.targets import batch_targets, label_to_targets


class TestTargets:
    def test_void_is_never_a_class_and_its_pixels_are_in_no_mask(self) -> None:
        label = torch.tensor([[0, 0, 255], [2, 255, 2]])
        masks, classes = label_to_targets(label, num_classes=3)
        assert classes.tolist() == [0, 2]
        assert masks.shape == (2, 2, 3)
        assert masks.sum(0)[label == 255].sum() == 0
        assert torch.equal(masks[1].bool(), label == 2)

    def test_all_void_image_gives_no_targets(self) -> None:
        masks, classes = label_to_targets(torch.full((4, 5), 255), num_classes=3)
        assert masks.shape == (0, 4, 5) and classes.numel() == 0

    def test_out_of_range_values_raise_instead_of_training_a_fake_class(self) -> None:
        with pytest.raises(ValueError, match=r"\[3\]"):
            label_to_targets(torch.tensor([[0, 3]]), num_classes=3)

    def test_batch_targets_returns_one_entry_per_image(self) -> None:
        masks, classes = batch_targets(torch.tensor([[[0, 1]], [[255, 1]]]), num_classes=2)
        assert [c.tolist() for c in classes] == [[0, 1], [1]]
        assert [m.shape[0] for m in masks] == [2, 1]


def test_ground_truth_is_mapped_with_the_lookup_table(compiled: CompiledPriors) -> None:
    raw = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [300, -1, 1, 4]])
    mapped = map_labels(raw, compiled.lut)
    # the domain's own hard map is the reference (ambiguous/void/unmapped/unknown -> 255)
    assert np.array_equal(mapped, compiled.hard_map(raw).astype(np.int64))
    assert set(np.unique(mapped)) <= {0, 1, 2, 3, 255}
    assert mapped[0, 2] == 255  # "vehicle" is ambiguous (car | road)


class TestAugment:
    def _pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        label = torch.zeros(40, 60, dtype=torch.int64)
        label[:, 30:] = 1
        label[:5] = 255
        image = torch.stack(
            [label.clamp(max=1) * 200, torch.full_like(label, 50), torch.full_like(label, 90)]
        )
        return image.to(torch.uint8), label

    def test_identity_settings_return_the_input(self) -> None:
        image, label = self._pair()
        config = AugmentConfig(crop_size=(40, 60), scale_range=(1.0, 1.0), hflip_prob=0.0)
        out_image, out_label = scale_crop_flip(image, label, config, np.random.default_rng(0))
        assert torch.equal(out_label, label)
        assert torch.allclose(out_image, image.float(), atol=1e-3)

    def test_flip_mirrors_image_and_label_together(self) -> None:
        image, label = self._pair()
        config = AugmentConfig(crop_size=(40, 60), scale_range=(1.0, 1.0), hflip_prob=1.0)
        out_image, out_label = scale_crop_flip(image, label, config, np.random.default_rng(0))
        assert torch.equal(out_label, label.flip(-1))
        assert torch.allclose(out_image, image.float().flip(-1), atol=1e-3)

    def test_labels_are_resampled_nearest_and_padding_is_ignore(self) -> None:
        image, label = self._pair()
        config = AugmentConfig(crop_size=(64, 64), scale_range=(0.5, 0.9))
        for seed in range(10):
            out_image, out_label = augment_pair(image, label, config, np.random.default_rng(seed))
            assert out_image.shape == (3, 64, 64) and out_label.shape == (64, 64)
            assert set(out_label.unique().tolist()) <= {0, 1, 255}
            assert (out_label == 255).any()  # a smaller scaled image leaves an ignore border
            assert out_image.min() >= 0.0 and out_image.max() <= 255.0
            # image and label stay aligned: class-1 pixels are the red ones
            red = out_image[0] > 150
            assert (red & (out_label == 0)).float().mean() < 0.02

    def test_same_seed_same_sample_and_ranges_are_continuous(self) -> None:
        image, label = self._pair()
        config = AugmentConfig(crop_size=(32, 32), blur_prob=0.5, noise_prob=0.5)
        a = augment_pair(image, label, config, np.random.default_rng(42))
        b = augment_pair(image, label, config, np.random.default_rng(42))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        means = {
            round(float(augment_pair(image, label, config, np.random.default_rng(s))[0].mean()), 3)
            for s in range(30)
        }
        assert len(means) == 30  # no accidental two-value choices

    def test_hue_rotation_by_a_full_turn_is_identity_and_blur_keeps_mean(self) -> None:
        image = torch.rand(3, 8, 9) * 255
        assert torch.allclose(rotate_hue(image, 1.0), image, atol=1e-3)
        gray = torch.full((3, 8, 9), 77.0)
        assert torch.allclose(rotate_hue(gray, 0.3), gray, atol=1e-3)
        assert torch.allclose(gaussian_blur(gray, 1.2), gray, atol=1e-3)


def test_mixture_serves_fixed_size_crops_in_target_ids() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (30, 40, 3), dtype=np.uint8) for _ in range(3)]
    raw = [np.full((30, 40), 7), np.full((30, 40), 1), np.full((30, 40), 9)]
    lut = np.array([0, 1, 255, 255, 255, 255, 255, 2])
    gt = LabeledSet("gt", ArrayPairs(images[:2], raw[:2]), lut=lut)
    pseudo = LabeledSet("pseudo", ArrayPairs(images[2:], [np.full((30, 40), 255)]), kind="pseudo_labels")
    mixture = TrainingMixture([gt, pseudo], AugmentConfig(crop_size=(16, 16), scale_range=(1.0, 1.0)))
    assert len(mixture) == 3
    assert mixture.locate(2) == (1, 0)
    _, label = mixture[(0, 1)]
    assert label.shape == (16, 16) and set(label.unique().tolist()) == {2}
    _, label = mixture[(2, 1)]
    assert set(label.unique().tolist()) == {255}
    with pytest.raises(ValueError, match="lookup table"):
        LabeledSet("gt", ArrayPairs(images, raw))
