"""Benchmark: peak memory and time of TTA with 8 views (orig, flip, 6 scales).

Modes: ``one`` (the original view), ``eight`` (8 whole views, the default and the paper's TTA),
``eight-windows`` (8 views, up-scaled views as sliding windows of the image's size),
``stacked`` (the reference's way: every view's full-resolution scores stacked, then averaged),
``bare`` (each view's bare forward pass alone, resize and flip included, no scores kept: the
per-view peaks and times the whole-view goals divide by). All but ``bare`` run the teacher and
turn the scores into labels, band by band, as the pipelines do.

Whole-view goals (issue 13): peak of ``eight`` <= 1.25 x the peak of the largest view's bare forward
(x2), and time of ``eight`` <= 1.05 x the sum of the views' bare forward times.

Each measurement runs in a fresh subprocess. On CPU the peak is the process's resident-set high-water
mark (``VmHWM``, reset through ``/proc/self/clear_refs``) above the resident size after setup; on
CUDA it is ``torch.cuda.max_memory_allocated`` above the allocation after setup. For contrast the
script also measures the reference's way (all views' full-resolution scores stacked, then averaged).
Older goal (windows): 8 views / 1 view <= 1.5.

Run: ``.venv/bin/python benchmarks/bench_tta_memory.py [--height 512 --width 1024] [--classes 34]
[--device cpu]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit  # noqa: E402


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _fake_teacher(classes: int):  # type: ignore[no-untyped-def]
    """A teacher with Mask2Former's outputs (24 queries, masks at 1/4 resolution) and almost no
    activations of its own, so the measured peak is what the TTA score handling needs."""
    from types import SimpleNamespace

    import torch

    class Fake(torch.nn.Module):
        def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
            b, _, h, w = pixel_values.shape
            g = torch.Generator(device=pixel_values.device).manual_seed(h * w)
            return SimpleNamespace(
                class_queries_logits=torch.randn(b, 24, classes + 1, generator=g, device=pixel_values.device),
                masks_queries_logits=torch.randn(
                    b, 24, h // 4, w // 4, generator=g, device=pixel_values.device
                ),
            )

    return Fake()


def _model(teacher: str, classes: int, device: str):  # type: ignore[no-untyped-def]
    from worker.ml.modeling import build_mask2former, tiny_config

    names = {i: str(i) for i in range(classes)}
    if teacher == "fake":
        return _fake_teacher(classes)
    if teacher == "base":
        from benchmarks.bench_pseudo_label import base_config

        return build_mask2former(base_config(names)).eval().to(device)
    return build_mask2former(tiny_config(names)).eval().to(device)


def _peak_start(device: str) -> int:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return int(torch.cuda.memory_allocated())
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def _peak_end(device: str, base: int) -> int:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated()) - base
    return _status_kib("VmHWM") * 1024 - base


def _bare(teacher: str, height: int, width: int, classes: int, device: str) -> dict[str, object]:
    """Each TTA view's bare forward pass (normalise, resize, flip, model; nothing kept), one at a
    time in this process, largest first: its own peak above the start and its time."""
    import ctypes

    import torch
    import torch.nn.functional as F

    from worker.ml.modeling import IMAGENET_NORMALIZATION
    from worker.ml.tta import tta_views

    torch.manual_seed(0)
    model = _model(teacher, classes, device)
    images = torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8, device=device)
    with torch.inference_mode():
        model(pixel_values=F.interpolate(images.float(), size=(64, 128)))
    peaks: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for view in sorted(tta_views(True), key=lambda v: -v.scale):
        if not device.startswith("cuda"):
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # so reused heap pages show in the peak again
        base = _peak_start(device)
        started = time.perf_counter()
        with torch.inference_mode():
            x = IMAGENET_NORMALIZATION.apply(images)
            if view.scale != 1.0:
                size = (round(height * view.scale), round(width * view.scale))
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            if view.flip:
                x = x.flip(-1)
            out = model(pixel_values=x)
            del out, x
        seconds[view.name] = round(time.perf_counter() - started, 3)
        peaks[view.name] = round(_peak_end(device, base) / 2**20, 1)
    return {
        "view_peak_mib": peaks,
        "view_seconds": seconds,
        "peak_mib": 0.0,
        "seconds": sum(seconds.values()),
    }


def child(mode: str, teacher: str, height: int, width: int, classes: int, device: str) -> dict[str, float]:
    """Measure one configuration in this (fresh) process: the teacher's scores of every view, then
    the labels (argmax over the real classes), as pseudo-labelling and evaluation consume them."""
    import torch
    import torch.nn.functional as F

    from worker.ml.banded import argmax_labels
    from worker.ml.modeling import IMAGENET_NORMALIZATION
    from worker.ml.tta import Windows, predict_score_maps, tta_views, view_scores

    if mode == "bare":
        return _bare(teacher, height, width, classes, device)  # type: ignore[return-value]
    torch.manual_seed(0)
    model = _model(teacher, classes, device)
    images = torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8, device=device)
    views = tta_views(mode != "one")
    with torch.inference_mode():  # warm-up at a small size so lazy inits do not count
        model(pixel_values=F.interpolate(images.float(), size=(64, 128)))
    base = _peak_start(device)
    started = time.perf_counter()
    with torch.inference_mode():
        if mode == "stacked":  # the reference's way: every view at full resolution, stacked
            whole = Windows(slide=False)
            stack = torch.stack([view_scores(model, images, IMAGENET_NORMALIZATION, v, whole) for v in views])
            labels = stack.mean(0)[:, :classes].argmax(1)
        else:
            windows = Windows(slide=mode == "eight-windows")
            maps = predict_score_maps(model, images, IMAGENET_NORMALIZATION, views, windows)
            labels = argmax_labels(maps, classes)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = _peak_end(device, base)
    full = classes + 1
    return {
        "peak_mib": peak / 2**20,
        "scores_mib": full * height * width * 4 / 2**20,
        "views": len(views),
        "labels": int(labels.numel()),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=34)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--teacher", default="tiny", help=argparse.SUPPRESS)
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["one", "eight", "eight-windows", "stacked", "bare"],
        choices=("one", "eight", "eight-windows", "stacked", "bare"),
        help="what to measure ('one' is always measured: the ratios divide by it)",
    )
    parser.add_argument(
        "--teachers",
        nargs="+",
        default=["fake", "tiny"],
        choices=("fake", "tiny", "base"),
        help="fake: Mask2Former-shaped outputs without activations; tiny: 1.4 M parameters; "
        "base: Swin-B-sized, 107 M (slow on a CPU)",
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.teacher, args.height, args.width, args.classes, args.device)))
        return
    report: dict[str, object] = {
        "size": [args.height, args.width],
        "num_classes": args.classes,
        "device": args.device,
    }
    for teacher in args.teachers:
        results = {}
        for mode in dict.fromkeys(["one", *args.modes]):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--teacher",
                teacher,
                "--height",
                str(args.height),
                "--width",
                str(args.width),
                "--classes",
                str(args.classes),
                "--device",
                args.device,
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
        one = results["one"]["peak_mib"]
        report[teacher] = {
            "peak_mib": {k: round(v["peak_mib"], 1) for k, v in results.items() if k != "bare"},
            "seconds": {k: round(v["seconds"], 2) for k, v in results.items() if k != "bare"},
            "full_resolution_scores_mib": round(results["one"]["scores_mib"], 1),
            "ratio_over_1_view": {
                k: round(v["peak_mib"] / one, 2) for k, v in results.items() if k not in ("one", "bare")
            },
        }
        if "bare" in results and "eight" in results:
            bare = results["bare"]
            report[teacher] |= {
                "bare_view_peak_mib": bare["view_peak_mib"],
                "bare_view_seconds": bare["view_seconds"],
                "whole_peak_over_largest_bare_view": round(
                    results["eight"]["peak_mib"] / max(bare["view_peak_mib"].values()), 3
                ),
                "whole_seconds_over_sum_of_bare_views": round(
                    results["eight"]["seconds"] / sum(bare["view_seconds"].values()), 3
                ),
            }
    emit("tta_memory", report)


if __name__ == "__main__":
    main()
