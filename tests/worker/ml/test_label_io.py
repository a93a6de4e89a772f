"""The worker decodes colour-coded labels with the dataset's palette (several colours per value;
unknown colours reported as warnings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.domain.label_codec import UNKNOWN_VALUE, LabelEncoding
from app.domain.pairing import Pair
from worker.ml.data import PairDataset


def test_pair_dataset_decodes_colour_labels_with_the_dataset_palette(tmp_path: Path) -> None:
    colors = np.array([[[255, 0, 0], [200, 0, 0], [135, 206, 255], [9, 9, 9]]], dtype=np.uint8)
    Image.fromarray(colors, mode="RGB").save(tmp_path / "lab.png")
    Image.fromarray(np.zeros((1, 4, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    palette = (("#ff0000", 1), ("#c80000", 1), ("#87ceff", 38))
    dataset = PairDataset(
        tmp_path,
        [Pair("img.png", "lab.png")],
        encoding=LabelEncoding.RGB,
        colors={5: "#ff0000"},  # the taxonomy's colours lose to the dataset's own palette
        known_values=[0, 1, 38],
        palette=palette,
    )
    sample = dataset[0]
    assert sample.error is None and sample.values is not None
    assert sample.values.tolist() == [[1, 1, 38, UNKNOWN_VALUE]]
    assert sample.unknown_color_pixels == 1 and "#090909" in sample.warnings[0]
