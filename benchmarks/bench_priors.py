"""Benchmark: applying dataset priors to one 1024x2048 frame (N=34 + void, 66-label source).

unilabel's vectorised gather (``worker.ml.priors.constrained_argmax``) against a reference-style
loop that builds one boolean mask per source label and per allowed class, as the paper's code does
(data-priors: a correction mask filled label by label, multiplied into the softmax, renormalised,
argmax). Both get the same class scores and label map; the outputs must be identical.

Run: ``.venv/bin/python benchmarks/bench_priors.py [--repeats 5] [--device cpu]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.priors import CompiledPriors, compile_priors  # noqa: E402
from app.domain.taxonomy import Taxonomy  # noqa: E402
from benchmarks._common import REFERENCE_DIR, emit, median_cpu_seconds, median_seconds  # noqa: E402
from worker.ml.priors import (  # noqa: E402
    PriorTensors,
    constrained_argmax,
    constrained_argmax_dense,
    constrained_channels,
    source_rows,
)


def load_problem() -> tuple[Taxonomy, CompiledPriors, str]:
    """Mapillary Vistas (66 labels) -> the paper's 34-class off-road taxonomy, or a synthetic twin."""
    from app.domain.reference_csv import (
        parse_labels_csv,
        parse_master_labels_csv,
        target_taxonomy_from_master,
    )

    folder = REFERENCE_DIR / "mapillary-vistas"
    if folder.is_dir():
        source = parse_labels_csv((folder / "labels.csv").read_text(), "mapillary-vistas")
        master = parse_master_labels_csv((folder / "master_labels_offroad.csv").read_text())
        target = target_taxonomy_from_master(master, "offroad")
        return (
            source,
            compile_priors(master.mapping, source, target),
            "mapillary-vistas -> offroad (reference files)",
        )
    return _synthetic_problem()


def _synthetic_problem() -> tuple[Taxonomy, CompiledPriors, str]:
    from app.domain.mapping import VOID, OntologyMapping
    from app.domain.taxonomy import Label, class_list_taxonomy

    rng = np.random.default_rng(0)
    source = Taxonomy("synthetic-66", tuple(Label(v, f"label{v}") for v in range(66)))
    target = class_list_taxonomy("synthetic-34", [(i, f"class{i}") for i in range(34)])
    edges = set()
    for v in range(66):
        k = 1 if v >= 10 else int(rng.integers(2, 5))
        for t in rng.choice(np.array([*range(34), VOID]), size=k, replace=False):
            edges.add((f"label{v}", int(t)))
    return source, compile_priors(OntologyMapping(frozenset(edges)), source, target), "synthetic 66 -> 34"


def make_frame(
    source: Taxonomy, n: int, height: int, width: int, device: str
) -> tuple[np.ndarray, torch.Tensor]:
    """A blocky label map (regions of 32x32 px) over the source values, and smooth random scores."""
    rng = np.random.default_rng(1)
    values = np.array(source.values)
    coarse = rng.choice(values, size=(height // 32, width // 32))
    labels = np.kron(coarse, np.ones((32, 32), dtype=coarse.dtype)).astype(np.uint8)
    small = torch.rand(1, n + 1, height // 4, width // 4, generator=torch.Generator().manual_seed(2))
    scores = F.interpolate(small.to(device), size=(height, width), mode="bilinear", align_corners=False)
    return labels, scores


def reference_loop(
    scores: torch.Tensor, labels: np.ndarray, compiled: CompiledPriors, source: Taxonomy
) -> torch.Tensor:
    """One boolean mask per source label and per allowed class (the paper's style), then argmax."""
    n1 = scores.shape[1]
    correction = np.zeros((n1, *labels.shape), dtype=np.float32)
    for value in source.values:
        label_mask = labels == value
        for channel in np.flatnonzero(compiled.allowed[value]):
            correction[channel][label_mask] = 1.0
    corrected = scores * torch.from_numpy(correction).to(scores.device)[None]
    corrected = corrected / corrected.sum(dim=1, keepdim=True)
    channel = corrected.argmax(dim=1)
    return torch.where(channel == n1 - 1, torch.full_like(channel, 255), channel)


def unilabel(
    scores: torch.Tensor, labels: np.ndarray, compiled: CompiledPriors, priors: PriorTensors
) -> torch.Tensor:
    """Labels only (what the reference computes): source rows, then the constrained argmax."""
    index = torch.from_numpy(source_rows(labels, compiled)).to(scores.device)[None]
    channel = constrained_channels(scores, index, priors)
    return torch.where(channel == priors.num_classes, torch.full_like(channel, 255), channel)


def unilabel_full(
    scores: torch.Tensor, labels: np.ndarray, compiled: CompiledPriors, priors: PriorTensors
) -> torch.Tensor:
    """What a pseudo-labelling step computes: labels plus confidence and the correction mask."""
    index = torch.from_numpy(source_rows(labels, compiled)).to(scores.device)[None]
    return constrained_argmax(scores, index, priors).labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    args = parser.parse_args()
    source, compiled, problem = load_problem()
    n = compiled.num_classes
    labels, scores = make_frame(source, n, args.height, args.width, args.device)
    priors = PriorTensors.from_compiled(compiled, args.device)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    t_ref, ref_times, ref_out = median_seconds(
        lambda: (reference_loop(scores, labels, compiled, source), sync())[0], args.repeats
    )
    t_uni, uni_times, uni_out = median_seconds(
        lambda: (unilabel(scores, labels, compiled, priors), sync())[0], args.repeats
    )
    t_full, _, full_out = median_seconds(
        lambda: (unilabel_full(scores, labels, compiled, priors), sync())[0], args.repeats
    )
    index = torch.from_numpy(compiled.index_of(labels)).to(args.device)[None]
    t_dense, _, dense_out = median_seconds(
        lambda: (constrained_argmax_dense(scores, index, priors), sync())[0], args.repeats
    )
    dense_labels = torch.where(dense_out == n, torch.full_like(dense_out, 255), dense_out)
    cpu_ref = median_cpu_seconds(lambda: reference_loop(scores, labels, compiled, source), args.repeats)
    cpu_uni = median_cpu_seconds(lambda: unilabel(scores, labels, compiled, priors), args.repeats)
    ambiguous = float((priors.single[index] < 0).float().mean())
    emit(
        "priors",
        {
            "problem": problem,
            "frame": [args.height, args.width],
            "num_classes": n,
            "source_labels": len(source.labels),
            "ambiguous_pixel_share": round(ambiguous, 3),
            "identical_output": bool(
                torch.equal(ref_out, uni_out.long())
                and torch.equal(ref_out, dense_labels)
                and torch.equal(ref_out, full_out)
            ),
            "median_s": {
                "reference_loop": round(t_ref, 4),
                "unilabel": round(t_uni, 4),
                "unilabel_with_confidence_and_stats": round(t_full, 4),
                "unilabel_dense_gather": round(t_dense, 4),
            },
            "speedup": round(t_ref / t_uni, 1),
            "speedup_with_confidence_and_stats": round(t_ref / t_full, 1),
            "speedup_dense": round(t_ref / t_dense, 1),
            "median_cpu_s": {"reference_loop": round(cpu_ref, 4), "unilabel": round(cpu_uni, 4)},
            "speedup_cpu_time": round(cpu_ref / cpu_uni, 1),
            "runs_s": {
                "reference_loop": [round(t, 4) for t in ref_times],
                "unilabel": [round(t, 4) for t in uni_times],
            },
            "repeats": args.repeats,
            "device": args.device,
        },
    )


if __name__ == "__main__":
    main()
