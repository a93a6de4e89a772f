"""Survey a teacher on labelled images, without priors (worker.ml layer).

One forward pass per image (a single view, no TTA). For every ground-truth source label present in
an image it records over the teacher's N classes + void (the null class, index N):

* ``pixels``: the label's pixels whose arg-max over the N+1 scores is each class;
* ``classes``: the same pixels by their arg-max over the N real classes only (void's column 0):
  the prediction without priors everywhere else (void, no-object, often outscores a class the
  teacher is unsure of; see :mod:`app.domain.survey`);
* ``mass``: the sum over the label's pixels of the scores normalised over the N+1 channels.

The counts are made on the device, band by band, with one ``bincount``/``index_add_`` per band
(see :class:`worker.ml.tta.ScoreMaps`); the pure side is :mod:`app.domain.survey`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from app.domain.jobs import Progress, ProgressCallback
from app.domain.pairing import Pair
from app.domain.taxonomy import Taxonomy
from worker.ml.checkpoints import LoadedModel
from worker.ml.config import DataConfig
from worker.ml.data import PairDataset, iterate_batches, size_batches, stack_images
from worker.ml.tta import View, predict_score_maps


@dataclass(slots=True)
class SurveyRun:
    """What one call surveyed: images ok/failed, errors, seconds (forward passes included)."""

    surveyed: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False


def image_counts(
    scores: torch.Tensor, rows: torch.Tensor, num_rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Arg-max pixel counts, normalised score mass and class arg-max counts per row of one band.

    Args:
        scores: ``(C, h, W)`` non-negative scores over the N classes + void (C = N+1).
        rows: ``(h, W)`` int64 row index per pixel, ``-1`` = not a known source label.
        num_rows: number of rows (source labels).

    Returns:
        ``(num_rows, C)`` int64 pixel counts by the arg-max over all C channels, ``(num_rows, C)``
        float64 score mass, and ``(num_rows, C)`` int64 pixel counts by the arg-max over the N
        real classes (its last column, void, is 0).
    """
    c = scores.shape[0]
    flat = scores.reshape(c, -1)
    every = rows.reshape(-1)
    keep = every >= 0
    if bool(keep.all()):  # the common case: no copy of the band
        r, s = every, flat
    else:
        r, s = every[keep], flat[:, keep]
    if c > 1:  # one max over the classes; void wins the full arg-max only when strictly higher
        best, named = s[: c - 1].max(dim=0)  # (ties go to the lowest index, as in max over all C)
        arg = torch.where(s[c - 1] > best, torch.full_like(named, c - 1), named)
    else:
        named = arg = torch.zeros(s.shape[1], dtype=torch.int64, device=s.device)
    pixels = torch.bincount(r * c + arg, minlength=num_rows * c).reshape(num_rows, c)
    classes = torch.bincount(r * c + named, minlength=num_rows * c).reshape(num_rows, c)
    # summed in float32 within the band (a band holds at most about 2 MiB of scores), float64 after
    probs = s / s.sum(dim=0, keepdim=True).clamp_min(1e-12)
    mass = torch.zeros((num_rows, c), dtype=probs.dtype, device=scores.device)
    mass.index_add_(0, r, probs.t())
    return pixels, mass.to(torch.float64), classes


def _rows(values: np.ndarray, names: dict[int, str]) -> tuple[np.ndarray, list[str]]:
    """``(H, W)`` row index per pixel (-1: not a known label) and the row names, by one look-up."""
    found = np.unique(values)
    present = [int(v) for v in found if int(v) in names]
    lut = np.full(int(found.max()) + 1 if found.size else 1, -1, dtype=np.int64)
    for i, v in enumerate(present):
        lut[v] = i
    safe = np.where(values >= 0, values, 0).astype(np.int64)
    rows = np.where(values >= 0, lut[safe], -1)
    return rows, [names[v] for v in present]


def survey_images(
    teacher: LoadedModel,
    pairs: Sequence[Pair],
    data: DataConfig,
    *,
    source: Taxonomy,
    device: str,
    on_image: Callable[[dict[str, Any]], None],
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SurveyRun:
    """Survey ``pairs``; ``on_image`` gets one record per image (``status`` "ok" or "error").

    An "ok" record: ``{"image", "status": "ok", "labels": {name: {"pixels", "classes", "mass"}}}``
    (lists of N+1 numbers each).
    """
    started = time.perf_counter()
    names = {lb.value: lb.name for lb in source.labels if lb.value >= 0}
    dataset = PairDataset(
        data.root,
        pairs,
        encoding=data.label_encoding,
        colors=source.colors,
        palette=data.label_palette,
        labels_root=data.labels_root,
    )
    batches, header_errors = size_batches(data.root, dataset.pairs, 1)
    run = SurveyRun()
    for i, msg in header_errors.items():
        run.failed += 1
        on_image({"image": dataset.pairs[i].image, "status": "error", "error": msg})
    views = (View(),)
    for samples in iterate_batches(dataset, batches, data.num_workers):
        if should_stop is not None and should_stop():
            run.stopped = True
            break
        for sample in samples:
            if sample.error is not None or sample.values is None or sample.image is None:
                run.failed += 1
                err = sample.error or "no ground truth"
                run.errors.append({"image": sample.pair.image, "error": err})
                on_image({"image": sample.pair.image, "status": "error", "error": err})
                continue
            maps = predict_score_maps(
                teacher.model, stack_images([sample], device), teacher.normalization, views
            )
            rows_np, labels = _rows(sample.values, names)
            rows = torch.from_numpy(rows_np).to(device)
            c = teacher.num_classes + 1
            pixels = torch.zeros((len(labels), c), dtype=torch.int64, device=device)
            mass = torch.zeros((len(labels), c), dtype=torch.float64, device=device)
            classes = torch.zeros((len(labels), c), dtype=torch.int64, device=device)
            for y0, y1, band in maps.bands():
                p, m, k = image_counts(band[0], rows[y0:y1], len(labels))
                pixels += p
                mass += m
                classes += k
            px, ms, ks = pixels.cpu().tolist(), mass.cpu().tolist(), classes.cpu().tolist()
            record = {
                "image": sample.pair.image,
                "status": "ok",
                "labels": {
                    n: {"pixels": px[i], "classes": ks[i], "mass": [round(x, 3) for x in ms[i]]}
                    for i, n in enumerate(labels)
                },
            }
            on_image(record)
            run.surveyed += 1
        if on_progress is not None:
            done = run.surveyed + run.failed
            on_progress(Progress(done, len(pairs), f"surveyed {done}/{len(pairs)}"))
    run.seconds = time.perf_counter() - started
    return run
