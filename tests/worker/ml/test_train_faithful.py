"""Faithful-by-default training: the paper's mixture, crop fraction and shear, non-finite losses,
the progress message before the first logged loss, and the recipe presets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app.domain.jobs import Progress
from app.domain.training_presets import PRESETS
from app.schemas.training import TrainRecipe
from worker.ml.train import ArrayPairs, AugmentConfig, LabeledSet, TrainConfig, train
from worker.ml.train.augment import scale_crop_flip
from worker.ml.train.loop import NonFiniteLoss
from worker.ml.train.sampling import SetMixture, set_counts

NAMES = ("road", "car", "sky")
CHI2_CRIT_DF1 = 10.828  # p = 0.001


def _scenes(count: int, *, nan: bool = False) -> ArrayPairs:
    images, labels = [], []
    for i in range(count):
        label = np.full((48, 64), 2, dtype=np.int64)
        label[20:] = 0
        label[25:40, 10 + i : 26 + i] = 1
        image = np.stack([label * 60.0 + 20.0] * 3, axis=-1)
        if nan:
            image[:] = np.nan  # a broken decoder or a corrupt float image: the loss becomes NaN
        images.append(image if nan else image.astype(np.uint8))
        labels.append(label)
    return ArrayPairs(images, labels)


def _config(tmp_path: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "output_dir": tmp_path / "run",
        "class_names": NAMES,
        "max_iterations": 2,
        "batch_size": 2,
        "samples_per_epoch": 4,
        "log_every": 1,
        "augment": AugmentConfig(crop_size=(48, 64), scale_range=(1.0, 1.0)),
    }
    values.update(overrides)
    return TrainConfig(**values)


def test_by_size_draws_each_set_in_proportion_to_its_size() -> None:
    mixture = SetMixture(sizes=(10, 90), weights=(1.0, 1.0), mode="by_size")
    _, indices = mixture.draw(20_000, np.random.default_rng(1))
    counts = set_counts([(int(i), 0) for i in indices], mixture)
    expected = 20_000 * np.array([0.1, 0.9])
    assert float(((counts - expected) ** 2 / expected).sum()) < CHI2_CRIT_DF1
    by_weight = SetMixture(sizes=(10, 90), weights=(1.0, 1.0), mode="by_weight")
    assert by_weight.probabilities.tolist() == [0.5, 0.5]
    assert SetMixture(
        sizes=(10, 90), weights=(2.0, 1.0), mode="by_size"
    ).probabilities.tolist() == pytest.approx([20 / 110, 90 / 110])


def test_crop_fraction_takes_that_share_of_the_image_and_resizes_it() -> None:
    label = torch.arange(100, dtype=torch.int64).repeat(80, 1)  # value = column
    image = torch.zeros(3, 80, 100)
    config = AugmentConfig(
        crop_size=(40, 50), crop_fraction=(0.5, 0.5), scale_range=(1.0, 1.0), hflip_prob=0.0
    )
    _, out = scale_crop_flip(image, label, config, np.random.default_rng(0))
    assert out.shape == (40, 50)
    assert (out != 255).all()  # the crop stays inside the image
    columns = out[0]
    assert 48 <= int(columns.max() - columns.min()) <= 50  # half of the 100 columns, resized to 50


def test_shear_slants_vertical_edges() -> None:
    label = torch.zeros(200, 200, dtype=torch.int64)
    label[:, 100:] = 1
    config = AugmentConfig(crop_size=(200, 200), scale_range=(1.0, 1.0), hflip_prob=0.0, shear_deg=10.0)
    _, out = scale_crop_flip(torch.zeros(3, 200, 200), label, config, np.random.default_rng(3))
    edge_top = int((out[0] == 1).nonzero()[0])
    edge_bottom = int((out[-1] == 1).nonzero()[0])
    assert edge_top != edge_bottom  # a vertical edge is no longer vertical
    straight = AugmentConfig(crop_size=(200, 200), scale_range=(1.0, 1.0), hflip_prob=0.0)
    _, flat = scale_crop_flip(torch.zeros(3, 200, 200), label, straight, np.random.default_rng(3))
    assert int((flat[0] == 1).nonzero()[0]) == int((flat[-1] == 1).nonzero()[0])


def test_progress_before_the_first_logged_loss_shows_the_steps_loss_not_nan(tmp_path: Path) -> None:
    # The demo's "loss nan at iteration 2": with log_every 10 the message printed a NaN placeholder
    # until the first logging window closed.
    progress: list[Progress] = []
    train_set = LabeledSet("train", _scenes(4), kind="pseudo_labels")
    train(_config(tmp_path, log_every=10), [train_set], on_progress=progress.append)
    assert [p.current for p in progress] == [1, 2]
    assert all("nan" not in p.message for p in progress), [p.message for p in progress]


def test_non_finite_losses_are_skipped_counted_and_stop_the_run(tmp_path: Path) -> None:
    broken = LabeledSet("broken", _scenes(4, nan=True), kind="pseudo_labels")
    config = _config(tmp_path, max_iterations=10, max_nonfinite_steps=3)
    with pytest.raises(NonFiniteLoss, match="NaN or infinite for 3 consecutive iterations"):
        train(config, [broken])
    records = [r for r in _records(tmp_path / "run") if r["kind"] == "train"]
    assert [r["step"] for r in records] == [1, 2]
    assert [r["train/skipped_steps"] for r in records] == [1.0, 1.0]
    assert records[-1]["train/nonfinite_steps_total"] == 2.0


def test_a_skipped_step_leaves_the_weights_alone(tmp_path: Path) -> None:
    from worker.ml.checkpoints import load_model, save_checkpoint
    from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config

    torch.manual_seed(0)
    start = build_mask2former(tiny_config(dict(enumerate(NAMES))))
    save_checkpoint(start, tmp_path / "start", class_names=NAMES, normalization=IMAGENET_NORMALIZATION)
    broken = LabeledSet("broken", _scenes(4, nan=True), kind="pseudo_labels")
    config = _config(tmp_path, max_iterations=2, start_model=str(tmp_path / "start"), max_nonfinite_steps=5)
    result = train(config, [broken])  # both steps skipped, fewer than the limit in a row
    assert result.final_step == 2 and result.nonfinite_steps == 2
    before = start.state_dict()
    after = load_model(result.last_checkpoint / "model").model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == ["criterion.empty_weight"]  # the no-object weight set by the recipe, not a step


def _records(run: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_paper_preset_values_are_in_the_recipe_and_cited() -> None:
    paper = PRESETS["paper"]
    recipe = TrainRecipe()  # no preset named: the paper's
    assert recipe.preset == "paper" and recipe.overrides == []
    for key, value in paper.values.items():
        got = getattr(recipe, key)
        assert (tuple(got) if isinstance(got, tuple | list) else got) == value, key
        assert paper.sources[key].startswith("UniBwTAS/data-priors@"), key
    assert recipe.epochs == 100 and recipe.early_stopping_patience == 15 and recipe.mixture == "by_size"
    assert recipe.crop_size == (750, 1536) and recipe.fitness == "paper" and recipe.norm_weight_decay == 0.05


def test_explicit_fields_override_a_preset_and_are_recorded() -> None:
    quick = TrainRecipe.model_validate({"preset": "quick", "lr": 1e-3, "crop_size": [96, 128]})
    assert quick.max_iterations == PRESETS["quick"].values["max_iterations"]
    assert quick.lr == 1e-3 and quick.overrides == ["lr"]  # crop_size equals quick's: no override
    again = TrainRecipe.model_validate_json(quick.model_dump_json())
    assert again == quick  # stored params re-validate to the same recipe
    config = quick.config_values()
    assert config["augment"]["crop_size"] == [96, 128] and config["mixture"] == "by_size"
    assert TrainConfig.from_json({**config, "output_dir": "x", "class_names": ["a"]}).augment.crop_fraction
