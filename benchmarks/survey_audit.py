"""Data evidence on the miniature reproduction's domain (issue 15): survey, suggestions, audit, cost.

1. A toy teacher is trained on the fine *source* set (8 classes, ``mini_reproduction``'s recipe
   with the values of :mod:`survey_teacher`), cached in ``<out>/teacher-<key>`` (key: the training
   config and data) so that a re-run reuses it, or taken from ``--teacher``. Its own quality (IoU
   per fine class on the extra scenes' hidden fine truth) is reported, and so is an *oracle*
   survey (the hidden truth itself: what a perfect teacher would show).
2. It surveys ``--images`` images of the coarse *extra* set (road / vegetation / sky / object),
   picked by :func:`app.domain.survey.stratified_sample`, through :func:`worker.ml.survey.survey_images`
   (the survey job's code, one forward pass per image, no TTA).
3. **Suggestions** from the data evidence alone (no names, no other mappings): every edge that
   :func:`app.domain.survey.data_evidence` gives (share of the label's pixels by the arg-max over the
   real classes at least ``min_share`` and, by default, a contrast of at least ``DATA_MIN_CONTRAST``
   against the other labels; also without the contrast), against the true coarse -> fine mapping
   (8 edges): precision and recall per ``min_share`` (the default ``DATA_MIN_SHARE`` is 0.005).
4. **Audit** of the true mapping with 5 deliberately corrupted edges: how many corruptions the
   audit flags, and how many findings point at an uncorrupted edge (false flags).
5. **Cost**: the survey's wall time vs the bare forward passes of the same images (read + forward +
   arg-max, batch 1, same device), both after a warm-up image; best of ``--rounds`` alternating
   rounds (the machine is shared: the minimum is the least disturbed).

Usage (results in docs/benchmarks.md)::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/survey_audit.py --out /tmp/survey-bench
    # steps 3-4 again from a stored survey (no teacher, no cost): <out>/survey_stats.json
    .venv/bin/python benchmarks/survey_audit.py --stats /tmp/survey-bench/survey_stats.json --out /tmp/x
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from mini_direct import taxonomies, write_split  # noqa: E402
from survey_teacher import add_teacher_args, oracle_stats, teacher_quality, trained_teacher  # noqa: E402

from app.domain.audit import AuditThresholds, audit_mapping  # noqa: E402
from app.domain.mapping import VOID, OntologyMapping  # noqa: E402
from app.domain.pairing import Pair  # noqa: E402
from app.domain.survey import DATA_MIN_CONTRAST, SurveyStats, data_evidence, stratified_sample  # noqa: E402
from worker.demo_scenes import COARSE_CLASSES, CONDITIONS, FINE_CLASSES, FINE_TO_COARSE  # noqa: E402
from worker.ml.checkpoints import LoadedModel, load_model  # noqa: E402
from worker.ml.config import DataConfig  # noqa: E402
from worker.ml.data import PairDataset  # noqa: E402
from worker.ml.io import read_png  # noqa: E402
from worker.ml.survey import survey_images  # noqa: E402
from worker.ml.train import LabeledSet  # noqa: E402
from worker.ml.train.datasets import DatasetPairs  # noqa: E402
from worker.ml.tta import View, predict_score_maps  # noqa: E402

SHARES = [0.005, 0.01, 0.02, 0.05, 0.1]  # the min_share values swept
TRUE_EDGES = {(COARSE_CLASSES[c], f) for f, c in enumerate(FINE_TO_COARSE.tolist())}
F = {n: i for i, n in enumerate(FINE_CLASSES)}
# (what is done, the label, the edge that is wrong) — one corrupted edge each.
CORRUPTIONS = (
    ("vegetation -> car instead of tree + bush", "vegetation", F["car"]),
    ("sky -> void instead of sky", "sky", VOID),
    ("road also -> sky", "road", F["sky"]),
    ("object also -> cobble", "object", F["cobble"]),
    ("road also -> bush", "road", F["bush"]),
)


def corrupted_mapping() -> OntologyMapping:
    m = OntologyMapping(frozenset(TRUE_EDGES))
    m = m.with_targets("vegetation", [F["car"]]).with_targets("sky", [VOID])
    return m.with_edge("road", F["sky"]).with_edge("object", F["cobble"]).with_edge("road", F["bush"])


def survey(teacher: LoadedModel, root: Path, pairs: list[Pair], device: str) -> tuple[SurveyStats, float]:
    _, coarse, *_ = taxonomies()
    stats = SurveyStats(FINE_CLASSES)

    def add(record: dict[str, Any]) -> None:
        if record["status"] == "ok":
            for name, row in record["labels"].items():
                stats.add(name, row["pixels"], row["mass"], classes=row.get("classes"))
            stats.images += 1

    survey_images(
        teacher, pairs[:1], DataConfig(root=root), source=coarse, device=device, on_image=lambda r: None
    )
    tic = time.perf_counter()
    survey_images(teacher, pairs, DataConfig(root=root), source=coarse, device=device, on_image=add)
    return stats, time.perf_counter() - tic


def bare_forward(teacher: LoadedModel, root: Path, pairs: list[Pair], device: str) -> float:
    """Read each image, one forward pass, arg-max over the classes (what any inference pays)."""
    views = (View(),)

    def one(pair: Pair) -> None:
        image = read_png(root / pair.image)
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].to(device)
        maps = predict_score_maps(teacher.model, x, teacher.normalization, views)
        maps.full()[:, : teacher.num_classes].argmax(1).cpu()

    one(pairs[0])
    tic = time.perf_counter()
    for pair in pairs:
        one(pair)
    return time.perf_counter() - tic


def _edges(
    stats: SurveyStats, min_share: float, basis: str, min_contrast: float, thin: bool = True
) -> set[tuple[str, int]]:
    """Suggested non-void edges: the data evidence (arg-max share), or the score-mass share."""
    if basis == "argmax":
        return {
            (n, t)
            for n in COARSE_CLASSES
            for t in data_evidence(stats, n, min_share=min_share, min_contrast=min_contrast, thin=thin)
            if t != VOID
        }
    return {
        (n, t)
        for n in COARSE_CLASSES
        if n in stats.labels
        for t, share in enumerate(stats.labels[n].mass_shares()[: len(FINE_CLASSES)])
        if share >= min_share
    }


def suggestion_scores(
    stats: SurveyStats,
    shares: list[float],
    basis: str = "argmax",
    min_contrast: float = DATA_MIN_CONTRAST,
    thin: bool = True,
) -> list[dict[str, Any]]:
    rows = []
    for min_share in shares:
        edges = _edges(stats, min_share, basis, min_contrast, thin)
        hit = len(edges & TRUE_EDGES)
        rows.append(
            {
                "min_share": min_share,
                "suggested": len(edges),
                "precision": round(hit / len(edges), 3) if edges else 0.0,
                "recall": round(hit / len(TRUE_EDGES), 3),
                "missed": sorted(f"{n}->{FINE_CLASSES[t]}" for n, t in TRUE_EDGES - edges),
                "wrong": sorted(f"{n}->{FINE_CLASSES[t]}" for n, t in edges - TRUE_EDGES),
            }
        )
    return rows


def audit_scores(stats: SurveyStats, thresholds: AuditThresholds = AuditThresholds()) -> dict[str, Any]:
    report = audit_mapping(corrupted_mapping(), COARSE_CLASSES, stats, thresholds)
    flagged, false_flags = [], []
    for f in report.findings:
        hits = [c[0] for c in CORRUPTIONS if c[1] == f.source_name and c[2] in (f.target, *f.remove)]
        if hits:
            flagged.extend(hits)
        else:
            false_flags.append(f"{f.kind} {f.source_name}: {f.message}")
    return {
        "corrupted": len(CORRUPTIONS),
        "flagged": sorted(set(flagged)),
        "not_flagged": sorted({c[0] for c in CORRUPTIONS} - set(flagged)),
        "false_flags": false_flags,
        "findings": [f"{f.kind} {f.source_name}: {f.message}" for f in report.findings],
    }


def pick(root: Path, pairs: list[Pair], images: int, seed: int) -> list[Pair]:
    """The survey's sample: ``stratified_sample`` over the coarse label histograms."""
    hists = []
    for pair in pairs:
        values, counts = np.unique(read_png(root / str(pair.label)), return_counts=True)
        hists.append({COARSE_CLASSES[int(v)]: int(c) for v, c in zip(values, counts, strict=True)})
    return [pairs[i] for i in stratified_sample(hists, images, seed=seed)]


def oracle_result(oracle: SurveyStats) -> dict[str, Any]:
    """Suggestions and audit from a perfect teacher's survey: the ceiling on this domain."""
    return {
        "oracle_suggestions": suggestion_scores(oracle, SHARES),
        "oracle_suggestions_without_thin_tier": suggestion_scores(oracle, SHARES, thin=False),
        "oracle_suggestions_without_contrast": suggestion_scores(
            oracle, SHARES, min_contrast=0.0, thin=False
        ),
        "oracle_audit": audit_scores(oracle),
        "oracle_shares": {n: [round(s, 4) for s in r.shares()] for n, r in oracle.labels.items()},
    }


def evidence_result(stats: SurveyStats) -> dict[str, Any]:
    """Steps 3-4 of one survey: suggestions (with and without the contrast, by score mass) and audit."""
    return {
        "suggestions": suggestion_scores(stats, SHARES),  # the thin tier included (the default)
        "suggestions_without_thin_tier": suggestion_scores(stats, SHARES, thin=False),
        "suggestions_without_contrast": suggestion_scores(stats, SHARES, min_contrast=0.0, thin=False),
        "suggestions_by_score_mass": suggestion_scores(stats, SHARES, "mass"),
        "audit": audit_scores(stats),  # the default thresholds
        "audit_unused_max_0.05": audit_scores(stats, AuditThresholds(unused_max=0.05)),
        "shares": {n: [round(s, 3) for s in r.shares()] for n, r in stats.labels.items()},
    }


def write_result(out: Path, result: dict[str, Any], stats: SurveyStats) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    (out / "survey_stats.json").write_text(json.dumps(stats.to_json(), indent=2))
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/survey-bench"))
    p.add_argument("--teacher", type=Path, default=None, help="a trained fine teacher (skips training)")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--size", type=int, nargs=2, default=[64, 128], metavar=("H", "W"))
    p.add_argument(
        "--upscale",
        type=int,
        default=1,
        help="write every scene this many times larger (a camera of higher resolution; 1 = as generated)",
    )
    add_teacher_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="cost: best of this many rounds of each")
    p.add_argument(
        "--stats",
        type=Path,
        default=None,
        help="a stored survey (<out>/survey_stats.json): only suggestions and audit from it",
    )
    p.add_argument(
        "--oracle-only",
        action="store_true",
        help="no teacher: only the perfect teacher's survey (the ceiling)",
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.stats is not None:
        stored = SurveyStats.from_json(json.loads(args.stats.read_text()))
        write_result(args.out, {"stats": str(args.stats), **evidence_result(stored)}, stored)
        return
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(1234)
    root = args.out / "data"
    size = tuple(args.size)
    up = args.upscale
    source = write_split(root, "source", 60, rng, size, ["clear"], up)
    val = write_split(root, "val", 20, rng, size, list(CONDITIONS), up)
    extra = write_split(root, "extra", max(args.images, 200), rng, size, list(CONDITIONS), up)
    picked = pick(root / "extra", [p for p, _ in extra], args.images, args.seed)
    oracle = oracle_stats(root / "extra", picked)
    if args.oracle_only:
        write_result(args.out, oracle_result(oracle), oracle)
        return
    tic = time.perf_counter()
    teacher_dir, teacher_info = args.teacher, {"dir": str(args.teacher), "cached": True}
    if teacher_dir is None:
        _, _, identity, _, _ = taxonomies()
        src = LabeledSet(
            "source", DatasetPairs(PairDataset(root / "source", [p for p, _ in source])), lut=identity.lut
        )
        vs = LabeledSet("val", DatasetPairs(PairDataset(root / "val", [p for p, _ in val])), lut=identity.lut)
        data = {"data_seed": 1234, "size": list(size), "source": len(source), "val": len(val)}
        if up > 1:  # (absent at 1, so that the teachers cached before this option keep their key)
            data["upscale"] = up
        teacher_dir, teacher_info = trained_teacher(args.out, args, data, src, vs)
    train_s = time.perf_counter() - tic
    teacher = load_model(teacher_dir, device=args.device)
    stats, survey_times, forward_times = None, [], []
    for _ in range(args.rounds):  # alternate, so that load on a shared machine hits both alike
        stats, seconds = survey(teacher, root / "extra", picked, args.device)
        survey_times.append(seconds)
        forward_times.append(bare_forward(teacher, root / "extra", picked, args.device))
    assert stats is not None
    survey_s, forward_s = min(survey_times), min(forward_times)
    result = {
        "images": len(picked),
        "device": args.device,
        "teacher": {**teacher_info, "checkpoint": str(teacher_dir), "train_s": round(train_s, 1)},
        "teacher_quality": teacher_quality(teacher, root / "extra", extra, args.device),
        "survey_s": round(survey_s, 3),
        "bare_forward_s": round(forward_s, 3),
        "survey_over_forward": round(survey_s / forward_s, 3),
        "survey_rounds_s": [round(t, 3) for t in survey_times],
        "forward_rounds_s": [round(t, 3) for t in forward_times],
        **evidence_result(stats),
        **oracle_result(oracle),
    }
    write_result(args.out, result, stats)


if __name__ == "__main__":
    main()
