"""The paper preset's per-dataset crop fractions and start model are applied, never silently skipped."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain.training_presets import PAPER_START_MODEL, dataset_crop_fraction
from tests.jobs.conftest import approve_version
from tests.jobs.test_train_api import _gt, train_body

Headers = dict[str, str]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("TAS500 mini",), (0.33, 0.66)),
        ((None, "freiburg-forest"), (0.45, 0.8)),
        (("streets", "Freiburg_Forest_v2"), (0.45, 0.8)),
        (("streets", "cityscapes"), None),
        ((), None),
    ],
)
def test_reference_crop_fractions_are_found_by_dataset_or_taxonomy_name(
    names: tuple[str | None, ...], expected: tuple[float, float] | None
) -> None:
    found = dataset_crop_fraction("paper", names)
    assert (found[0] if found else None) == expected
    if found:
        assert "augmentation." in found[1] and "matched" in found[1]
    assert dataset_crop_fraction("quick", names) is None


def _tas500(world: dict[str, Any]) -> dict[str, Any]:
    return dict(
        world["post"](
            "/api/v1/datasets",
            {
                "name": "TAS500 mini",
                "taxonomy_id": world["source"]["id"],
                "root": str(world["root"]),
                "image_pattern": "images/{split}/{stem}.png",
                "label_template": "labels/{split}/{stem}.png",
                "splits": ["train", "val"],
            },
        )
    )


def _submit(client: TestClient, editor: Headers, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 201, r.text
    return dict(r.json()["params"])


def test_paper_preset_gives_tas500_its_reference_crop_and_says_so(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    tas = _tas500(world)
    body = train_body(world)
    body["params"]["train_sets"] = [
        {**_gt(world, split="train"), "dataset_id": tas["id"]},
        _gt(world, split="train", name="streets-explicit", crop_fraction=[0.5, 0.9]),
        _gt(world, split="train", name="streets-plain"),
    ]
    sets = _submit(client, editor, body)["train_sets"]
    assert sets[0]["crop_fraction"] == [0.33, 0.66]
    assert "augmentation.tas500" in sets[0]["crop_fraction_source"]
    assert "TAS500 mini" in sets[0]["crop_fraction_source"]
    assert sets[1]["crop_fraction"] == [0.5, 0.9] and sets[1]["crop_fraction_source"] == "set explicitly"
    assert sets[2]["crop_fraction"] is None and sets[2]["crop_fraction_source"] is None


def test_other_presets_keep_the_recipe_crop_and_a_forged_source_is_replaced(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    tas = _tas500(world)
    body = train_body(world)
    body["params"]["recipe"] = {"preset": "quick"}
    forged = {"crop_fraction_source": "forged", "split": "train"}
    body["params"]["train_sets"] = [{**_gt(world), "dataset_id": tas["id"], **forged}]
    sets = _submit(client, editor, body)["train_sets"]
    assert sets[0]["crop_fraction"] is None and sets[0]["crop_fraction_source"] is None


@pytest.mark.parametrize("fraction", [[0, 0.5], [0.8, 0.5], [0.5, 1.5], [0.5], "x"])
def test_bad_set_crop_fractions_are_refused(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    fraction: Any,
) -> None:
    body = train_body(world)
    body["params"]["train_sets"] = [_gt(world, crop_fraction=fraction)]
    r = client.post("/api/v1/jobs", json=body, headers=editor)
    assert r.status_code == 422, r.text


def test_paper_preset_without_the_paper_start_model_records_the_departure(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    params = _submit(client, editor, train_body(world))
    assert params["start_model_id"] is None
    assert "start_model" in params["recipe"]["overrides"]
    quick = train_body(world)
    quick["params"]["recipe"] = {"preset": "quick"}
    assert "start_model" not in _submit(client, editor, quick)["recipe"]["overrides"]


def test_paper_preset_starts_from_the_registered_paper_checkpoint(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    start = world["post"](
        "/api/v1/models",
        {
            "name": "swin-b",
            "source": "hf_id",
            "spec": PAPER_START_MODEL,
            "taxonomy_id": world["target"]["id"],
        },
    )
    params = _submit(client, editor, train_body(world))
    assert params["start_model_id"] == start["id"]
    assert "start_model" not in params["recipe"]["overrides"]
    chosen = _submit(client, editor, train_body(world, start_model_id=world["model"]["id"]))
    assert chosen["start_model_id"] == world["model"]["id"]


def test_a_set_with_its_own_crop_fraction_is_cropped_with_it() -> None:
    from worker.ml.train.config import AugmentConfig
    from worker.ml.train.datasets import LabeledSet, TrainingMixture

    class Flat:
        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            image = np.zeros((100, 100, 3), np.uint8)
            label = np.zeros((100, 100), np.int64)
            label[:, 50:] = 1  # left half class 0, right half class 1
            return image, label

    lut = np.array([0, 1])
    plain = LabeledSet("plain", Flat(), lut=lut)
    small = LabeledSet("small", Flat(), lut=lut, crop_fraction=(0.1, 0.1))
    augment = AugmentConfig(crop_size=(20, 20), crop_fraction=(1.0, 1.0), hflip_prob=0.0, shear_deg=0.0)
    mixture = TrainingMixture([plain, small], augment)
    for seed in range(20):  # the recipe's whole-image crop always shows both halves
        assert set(mixture[(0, seed)][1].unique().tolist()) - {255} == {0, 1}
    # The set's own 10 x 10 crops of a 100 x 100 image mostly fall inside one half.
    single = [len(set(mixture[(1, s)][1].unique().tolist()) - {255}) == 1 for s in range(20)]
    assert mixture[(1, 0)][1].shape == (20, 20) and sum(single) >= 10
