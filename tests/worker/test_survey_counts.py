"""The survey's per-label counts on one band (worker.ml.survey), exactly."""

from __future__ import annotations

import numpy as np
import torch

from worker.ml.survey import _rows, image_counts


def test_image_counts_give_argmax_pixels_and_normalised_mass_per_row() -> None:
    # 3 channels (2 classes + void) over 1 x 4 pixels; rows: label 0, label 0, label 1, unknown
    scores = torch.tensor([[[3.0, 1.0, 0.0, 9.0]], [[1.0, 3.0, 1.0, 0.0]], [[0.0, 0.0, 3.0, 0.0]]])
    rows = torch.tensor([[0, 0, 1, -1]])
    pixels, mass, classes = image_counts(scores, rows, 2)
    assert pixels.tolist() == [[1, 1, 0], [0, 0, 1]]
    # over the 2 real classes only: the third pixel's void (3.0) is passed over for class 1 (1.0)
    assert classes.tolist() == [[1, 1, 0], [0, 1, 0]]
    assert np.allclose(mass.numpy(), [[0.75 + 0.25, 0.25 + 0.75, 0.0], [0.0, 0.25, 0.75]])


def test_rows_look_up_known_values_only() -> None:
    values = np.array([[5, 5, 2], [-1, 9, 2]])
    rows, names = _rows(values, {2: "road", 5: "sky"})
    assert names == ["road", "sky"]
    assert rows.tolist() == [[1, 1, 0], [-1, -1, 0]]
