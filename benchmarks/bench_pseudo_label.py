"""Benchmark: pseudo-labelling throughput divided by the bare teacher forward throughput.

Same images, same model, same device. "Bare forward" is ``model(pixel_values)`` on images already
decoded and on the device; "pseudo-labelling" is the whole ``run_pseudo_labeling``: decode PNGs,
forward, class scores resized to full resolution, priors, statistics, PNG encoding and atomic
writes, manifest and summary. Goal: ratio >= 0.9.

Run: ``.venv/bin/python benchmarks/bench_pseudo_label.py [--images 8] [--height 512 --width 1024]
[--model tiny|base] [--workers 1] [--batch-size 1] [--device cpu]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.pairing import Pair  # noqa: E402
from benchmarks._common import emit  # noqa: E402
from benchmarks.bench_priors import load_problem  # noqa: E402
from worker.ml.checkpoints import LoadedModel  # noqa: E402
from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig  # noqa: E402
from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, count_parameters, tiny_config  # noqa: E402
from worker.ml.pseudo_label import run_pseudo_labeling  # noqa: E402


def base_config(id2label: dict[int, str]):  # type: ignore[no-untyped-def]
    """Swin-B-sized Mask2Former (embed 128, depths [2,2,18,2], 100 queries, hidden 256), random weights."""
    from transformers import Mask2FormerConfig, SwinConfig

    backbone = SwinConfig(
        embed_dim=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=12,
        drop_path_rate=0.0,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return Mask2FormerConfig(
        backbone_config=backbone, id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )


def write_dataset(
    root: Path, source_values: tuple[int, ...], count: int, size: tuple[int, int]
) -> list[Pair]:
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(count):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        coarse = rng.choice(np.array(source_values), size=(size[0] // 32, size[1] // 32))
        lab = np.kron(coarse, np.ones((32, 32), dtype=coarse.dtype)).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"{i:04d}.png", compress_level=1)
        Image.fromarray(lab).save(root / "labels" / f"{i:04d}.png", compress_level=1)
        pairs.append(Pair(f"images/{i:04d}.png", f"labels/{i:04d}.png"))
    return pairs


def bare_forward(
    teacher: LoadedModel, root: Path, pairs: list[Pair], device: str, batch: int
) -> tuple[float, float]:
    """(wall, CPU-time) images per second of the forward pass alone (inputs decoded and on the device)."""
    images = [torch.from_numpy(np.array(Image.open(root / p.image))).permute(2, 0, 1) for p in pairs]
    inputs = [
        IMAGENET_NORMALIZATION.apply(torch.stack(images[i : i + batch]).to(device))
        for i in range(0, len(images), batch)
    ]
    with torch.inference_mode():
        teacher.model(pixel_values=inputs[0])  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        for x in inputs:
            teacher.model(pixel_values=x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - t0), len(images) / (time.process_time() - c0)


def pseudo_label(
    teacher: LoadedModel, root: Path, pairs: list[Pair], compiled, source, args, out: Path
) -> float:  # type: ignore[no-untyped-def]
    config = PseudoLabelConfig(
        out_dir=out,
        inference=InferenceConfig(device=args.device, batch_size=args.batch_size),
        overwrite=True,
        writer_threads=args.writer_threads,
    )
    data = DataConfig(root=root, num_workers=args.workers)
    run_pseudo_labeling(config, teacher, pairs[:1], data, priors=compiled, source=source)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_pseudo_labeling(config, teacher, pairs, data, priors=compiled, source=source)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert summary.written == len(pairs), summary.errors
    return len(pairs) / elapsed, len(pairs) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--model", choices=("tiny", "base"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--writer-threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source, compiled, problem = load_problem()
    id2label = {i: f"class{i}" for i in range(compiled.num_classes)}
    torch.manual_seed(0)
    config = tiny_config(id2label) if args.model == "tiny" else base_config(id2label)
    model = build_mask2former(config).eval().to(args.device)
    teacher = LoadedModel(model, tuple(id2label.values()), IMAGENET_NORMALIZATION, "random", args.model, "-")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        pairs = write_dataset(root, source.values, args.images, (args.height, args.width))
        bare, full = [], []
        for _ in range(args.repeats):  # interleaved, so machine load hits both alike
            bare.append(bare_forward(teacher, root, pairs, args.device, args.batch_size))
            full.append(pseudo_label(teacher, root, pairs, compiled, source, args, Path(tmp) / "out"))
    ratios = [f[0] / b[0] for f, b in zip(full, bare, strict=True)]
    cpu_ratios = [f[1] / b[1] for f, b in zip(full, bare, strict=True)]
    emit(
        "pseudo_label_throughput",
        {
            "problem": problem,
            "model": args.model,
            "parameters": count_parameters(model),
            "images": args.images,
            "size": [args.height, args.width],
            "batch_size": args.batch_size,
            "decode_workers": args.workers,
            "writer_threads": args.writer_threads,
            "device": args.device,
            "bare_forward_img_per_s": [round(v[0], 3) for v in bare],
            "pseudo_label_img_per_s": [round(v[0], 3) for v in full],
            "ratio_per_repeat": [round(r, 3) for r in ratios],
            "median_ratio": round(float(np.median(ratios)), 3),
            "cpu_time_ratio_per_repeat": [round(r, 3) for r in cpu_ratios],
            "median_cpu_time_ratio": round(float(np.median(cpu_ratios)), 3),
            "note": "CPU time counts this process only: decode workers are excluded unless --workers 0",
        },
    )


if __name__ == "__main__":
    main()
