"""Plain TTA is the paper's TTA: a real (random, tiny) Mask2Former through ``run_pseudo_labeling``
against a straightforward reference implementation, on a many-to-many mapping; per-image provenance
of how every view ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from app.domain.priors import CompiledPriors
from app.domain.taxonomy import Taxonomy
from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig
from worker.ml.data import resolve_pairs
from worker.ml.pseudo_label import run_pseudo_labeling
from worker.ml.tta import FELL_BACK_BUDGET, NOT_ON_MASK_GRID, Windows

SCALES = (0.5, 0.75, 1.25, 1.5, 1.75, 2.0)


def _reference_scores(model: torch.nn.Module, image: np.ndarray, mean: Any, std: Any) -> torch.Tensor:
    """The paper's TTA, written out: for the original, one flip and every scale, resize the image,
    run the model, ``S = sum_q softmax(class_q) * sigmoid(mask_q)`` (N+1 channels), undo the flip,
    resize bilinearly to H x W; the arithmetic mean over the 8 views. Returns ``(N+1, H, W)``."""
    h, w = image.shape[:2]
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    total = torch.zeros(0)
    views = [(1.0, False), (1.0, True), *((s, False) for s in SCALES)]
    for scale, flip in views:
        v = (
            x
            if scale == 1.0
            else F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear")
        )
        if flip:
            v = v.flip(-1)
        with torch.no_grad():
            out = model(pixel_values=v)
        probs = out.class_queries_logits.softmax(-1)  # (1, Q, N+1)
        masks = out.masks_queries_logits.sigmoid()  # (1, Q, h, w)
        scores = torch.einsum("bqc,bqhw->bchw", probs, masks)
        if flip:
            scores = scores.flip(-1)
        scores = F.interpolate(scores, size=(h, w), mode="bilinear", align_corners=False)[0]
        total = scores if total.numel() == 0 else total + scores
    return total / len(views)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if im.mode not in ("L", "P", "I;16") else im)


def _run(
    teacher: Any, root: Path, out: Path, compiled: CompiledPriors, source: Taxonomy, windows: Windows
) -> None:
    pairs = list(
        resolve_pairs(
            root,
            image_pattern="images/{split}/{stem}.png",
            label_template="labels/{split}/{stem}_labelids.png",
        ).pairs
    )
    config = PseudoLabelConfig(out_dir=out, inference=InferenceConfig(tta=True, windows=windows))
    run_pseudo_labeling(config, teacher, pairs, DataConfig(root=root), priors=compiled, source=source)


def test_plain_tta_equals_the_papers_whole_view_tta_on_a_many_to_many_mapping(
    teacher: Any, make_dataset: Any, tmp_path: Path, compiled: CompiledPriors, source: Taxonomy
) -> None:
    # vehicle -> {road, car}, grass -> {vegetation, void}; road and vehicle share road: many-to-many
    assert compiled.allowed.sum(axis=1).max() >= 2
    root = make_dataset(n=3, size=(48, 64))
    _run(teacher, root, tmp_path / "out", compiled, source, Windows())
    _run(teacher, root, tmp_path / "win", compiled, source, Windows(slide=True))
    n = teacher.num_classes
    compared = differing = ties = windows_differ = 0
    for stem in ("img000", "img001", "img002"):
        image = _read(root / "images/train" / f"{stem}.png")
        gt = _read(root / "labels/train" / f"{stem}_labelids.png")
        scores = _reference_scores(
            teacher.model, image, teacher.normalization.mean, teacher.normalization.std
        )
        allowed = torch.from_numpy(compiled.allowed[compiled.index_of(gt)]).permute(2, 0, 1)  # (N+1, H, W)
        masked = torch.where(allowed, scores, torch.tensor(-1.0))
        top2 = masked.topk(2, dim=0).values
        channel = masked.argmax(0)
        expected = torch.where(channel == n, torch.tensor(255), channel).numpy()
        # An exact tie (top two allowed scores equal up to float rounding) may go either way.
        decided = ((top2[0] - top2[1]) > 1e-5 * top2[0].abs().clamp_min(1e-6)).numpy()
        got = _read(tmp_path / "out/labels/labels/train" / f"{stem}_labelids.png")
        compared += int(decided.sum())
        ties += int((~decided).sum())
        differing += int((got != expected)[decided].sum())
        win = _read(tmp_path / "win/labels/labels/train" / f"{stem}_labelids.png")
        windows_differ += int((win != expected).sum())
    assert differing == 0 and ties <= 0.001 * (compared + ties)
    assert windows_differ > 0  # the comparison can tell: windows are not the paper's TTA
    records = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        assert [(r["mode"], r["reason"]) for r in record["tta"]] == [("whole", None)] * 8
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["tta_upscaled_views"] == "whole"
    assert summary["tta_view_runs"]["orig@2"] == {"whole": 3}


def test_manifest_records_how_each_view_ran_per_image(
    teacher: Any, make_dataset: Any, tmp_path: Path, compiled: CompiledPriors, source: Taxonomy
) -> None:
    """A budget no up-scaled view fits (40 x 56 and 48 x 56 images, on the 4-px mask grid), and
    windows asked for images off the grid (42 x 56, 50 x 56), which must say they ran whole."""
    root = make_dataset(n=3, size=(40, 56))
    _run(teacher, root, tmp_path / "budget", compiled, source, Windows(budget_bytes=1))
    records = [json.loads(x) for x in (tmp_path / "budget/manifest.jsonl").read_text().splitlines()]
    for record in records:
        ways = {r["view"]: (r["mode"], r["reason"]) for r in record["tta"]}
        assert ways["orig@1"] == ways["flip@1"] == ways["orig@0.5"] == ("whole", None)
        assert ways["orig@2"] == ways["orig@1.25"] == ("windows", FELL_BACK_BUDGET)
    summary = json.loads((tmp_path / "budget/summary.json").read_text())
    assert summary["tta_view_runs"]["orig@1.5"] == {f"windows ({FELL_BACK_BUDGET})": 3}
    assert summary["tta_memory_budget_bytes"] == 1

    odd = make_dataset(n=3, size=(42, 56), seed=1)  # rewrites the same folder: 42 x 56 and 50 x 56
    _run(teacher, odd, tmp_path / "odd", compiled, source, Windows(slide=True))
    records = [json.loads(x) for x in (tmp_path / "odd/manifest.jsonl").read_text().splitlines()]
    for record in records:
        ways = {r["view"]: (r["mode"], r["reason"]) for r in record["tta"]}
        assert ways["orig@2"] == ("whole", NOT_ON_MASK_GRID) and ways["orig@0.5"] == ("whole", None)
    summary = json.loads((tmp_path / "odd/summary.json").read_text())
    assert summary["tta_upscaled_views"] == "sliding windows"
    assert summary["tta_view_runs"]["orig@1.75"] == {f"whole ({NOT_ON_MASK_GRID})": 3}
