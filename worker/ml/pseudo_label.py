"""Prior-constrained pseudo-labelling of a dataset (or one shard of it) with a teacher (worker.ml layer).

Exact semantics (issue 3): per view ``S = sum_q softmax(class_q) * sigmoid(mask_q)`` at mask
resolution, resized bilinearly straight to H x W; TTA views averaged as a running mean; the label is
``argmax_{c in A(g)} S[c]`` by one gather (void channel -> 255); without priors ``argmax`` over the
N real classes. No DB, no Celery: config objects in, ``on_progress`` callbacks out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from app.domain.jobs import Progress, ProgressCallback
from app.domain.label_codec import void_value
from app.domain.pairing import Pair
from app.domain.priors import CompiledPriors
from app.domain.taxonomy import Taxonomy
from worker.ml.banded import constrained_labels
from worker.ml.checkpoints import LoadedModel
from worker.ml.config import DataConfig, PseudoLabelConfig
from worker.ml.data import PairDataset, Sample, iterate_batches, size_batches, stack_images
from worker.ml.io import image_size, write_atomic
from worker.ml.outputs import (
    Manifest,
    OutputWriter,
    add_view_runs,
    failure_entry,
    merge_sparse_histograms,
    named_histogram,
    output_relpath,
    read_manifests,
    shard_index,
    sparse_histogram,
    write_outputs,
)
from worker.ml.priors import PriorTensors, apply_threshold, value_histogram
from worker.ml.provenance import run_provenance
from worker.ml.tta import View, plan_views, predict_score_maps, tta_views


@dataclass(slots=True)
class PseudoLabelSummary:
    """What a run did; ``to_json()`` is written to ``summary[.<shard>].json``."""

    total: int = 0
    written: int = 0
    skipped_existing: int = 0
    failed: int = 0
    stopped: bool = False
    pixels: int = 0
    void_pixels: int = 0
    non_void_pixels: int = 0
    corrected_pixels: int = 0
    histogram: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    views: tuple[str, ...] = ()
    view_runs: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def void_fraction(self) -> float:
        return self.void_pixels / self.pixels if self.pixels else 0.0

    @property
    def correction_rate(self) -> float:
        return self.corrected_pixels / self.non_void_pixels if self.non_void_pixels else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "written": self.written,
            "skipped_existing": self.skipped_existing,
            "failed": self.failed,
            "stopped": self.stopped,
            "pixels": self.pixels,
            "void_pixels": self.void_pixels,
            "non_void_pixels": self.non_void_pixels,
            "corrected_pixels": self.corrected_pixels,
            "void_fraction": self.void_fraction,
            "correction_rate": self.correction_rate,
            "histogram": self.histogram,
            "errors": self.errors,  # all of them: finalize lists every failed image of the job
            "views": list(self.views),
            "tta_view_runs": self.view_runs,
            "seconds": self.seconds,
            **self.provenance,
        }

    def fold(self, record: dict[str, Any]) -> None:
        """Add one manifest record's statistics (for images written by an earlier, resumed run)."""
        self.pixels += int(record.get("pixels", 0))
        self.void_pixels += int(record.get("void_pixels", 0))
        self.non_void_pixels += int(record.get("non_void_pixels", 0))
        self.corrected_pixels += int(record.get("corrected_pixels", 0))
        self.histogram = merge_sparse_histograms([self.histogram, record.get("histogram", {})])
        add_view_runs(self.view_runs, record.get("tta", []))


@dataclass(frozen=True, slots=True)
class _Run:
    """Everything a batch step needs, resolved once."""

    config: PseudoLabelConfig
    teacher: LoadedModel
    priors: PriorTensors | None
    compiled: CompiledPriors | None
    views: tuple[View, ...]
    device: torch.device
    writer: OutputWriter


def run_pseudo_labeling(
    config: PseudoLabelConfig,
    teacher: LoadedModel,
    pairs: Sequence[Pair],
    data: DataConfig,
    *,
    priors: CompiledPriors | None = None,
    source: Taxonomy | None = None,
    mapping_hash: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PseudoLabelSummary:
    """Pseudo-label ``pairs`` (a whole dataset or a shard slice) into ``config.out_dir``.

    Args:
        config: outputs, TTA, threshold, resume behaviour.
        teacher: the loaded model (eval mode) with its class names and normalisation.
        pairs: image/label pairs relative to ``data.root``.
        data: dataset root, label encoding, decode workers.
        priors: the compiled mapping; required when ``config.use_priors``.
        source: source taxonomy (colours for RGB labels, known values, histogram names).
        mapping_hash: recorded in provenance.
        on_progress: called after every batch with images done / total.
        should_stop: polled between batches; True ends the run early (summary ``stopped``).
    """
    started = time.perf_counter()
    use_priors = config.use_priors and priors is not None
    if config.use_priors and priors is None:
        raise ValueError("use_priors needs compiled priors (or set use_priors=False)")
    device = torch.device(config.inference.device)
    summary = PseudoLabelSummary(total=len(pairs))
    todo = _resume_filter(config, pairs, summary, use_labels=use_priors)
    dataset = _dataset(data, [pairs[i] for i in todo], source, use_labels=use_priors)
    batches, header_errors = size_batches(
        data.root, dataset.pairs, config.inference.batch_size, config.inference.batch_pixels
    )
    manifest = Manifest(config.manifest_path)
    for i, message in header_errors.items():
        _record_failure(summary, manifest, dataset.pairs[i], message, config.shard)
    views = _plan(config, teacher, dataset, batches, device)
    summary.views = tuple(v.name for v in views)
    prior_t = PriorTensors.from_compiled(priors, device) if use_priors and priors is not None else None
    writer = OutputWriter(manifest, config.writer_threads)
    run = _Run(config, teacher, prior_t, priors if use_priors else None, views, device, writer)
    done = summary.skipped_existing + summary.failed
    try:
        for samples in iterate_batches(dataset, batches, data.num_workers):
            if should_stop is not None and should_stop():
                summary.stopped = True
                break
            _process_batch(run, samples, summary)
            done += len(samples)
            if on_progress is not None:
                on_progress(Progress(done, summary.total, f"pseudo-labelled {done}/{summary.total}"))
    finally:
        run.writer.close()
    summary.seconds = time.perf_counter() - started
    _write_summary(config, summary, teacher, views, source, priors if use_priors else None, mapping_hash)
    return summary


def _dataset(
    data: DataConfig, pairs: list[Pair], source: Taxonomy | None, *, use_labels: bool
) -> PairDataset:
    return PairDataset(
        data.root,
        pairs,
        encoding=data.label_encoding,
        colors=source.colors if source else None,
        known_values=source.values if source else None,
        use_labels=use_labels,
        palette=data.label_palette,
        labels_root=data.labels_root,
    )


def _write_summary(
    config: PseudoLabelConfig,
    summary: PseudoLabelSummary,
    teacher: LoadedModel,
    views: tuple[View, ...],
    source: Taxonomy | None,
    priors: CompiledPriors | None,
    mapping_hash: str | None,
) -> None:
    """Attach provenance and write ``summary[.<shard>].json`` atomically."""
    summary.provenance = run_provenance(teacher, config.inference, views, mapping_hash=mapping_hash) | {
        "shard": config.shard,
        "use_priors": priors is not None,
        "any_class_values": list(priors.any_class_values) if priors is not None else [],
        "threshold": config.threshold,
        "finished_at": datetime.now(UTC).isoformat(),
        "histogram_named": _named(summary, source, teacher, priors),
    }
    write_atomic(config.summary_path, json.dumps(summary.to_json(), indent=2, sort_keys=True).encode())


def _resume_filter(
    config: PseudoLabelConfig, pairs: Sequence[Pair], summary: PseudoLabelSummary, *, use_labels: bool
) -> list[int]:
    """Indices still to do; existing outputs are skipped (their old manifest stats folded in)."""
    if config.overwrite:
        return list(range(len(pairs)))
    previous = read_manifests(sorted(config.out_dir.glob("manifest*.jsonl")))
    todo = []
    for i, pair in enumerate(pairs):
        rel = output_relpath(pair.image, pair.label if use_labels else None)
        if (
            (config.out_dir / "labels" / rel).is_file()
            and (not config.write_confidence or (config.out_dir / "confidence" / rel).is_file())
            and (not config.write_teacher or (config.out_dir / "teacher" / rel).is_file())
        ):
            summary.skipped_existing += 1
            if rel in previous:
                summary.fold(previous[rel])
        else:
            todo.append(i)
    return todo


def _record_failure(
    summary: PseudoLabelSummary, manifest: Manifest, pair: Pair, message: str, shard: str | None
) -> None:
    """Count a failed image and record it in the summary's error list and the manifest."""
    entry = failure_entry(pair.image, pair.label, message, shard_index(shard))
    summary.failed += 1
    summary.errors.append(entry)
    manifest.append(
        {
            "image": pair.image,
            "label": pair.label,
            "status": "error",
            "error_type": entry["error_type"],
            "error": message,
        }
    )


def _plan(
    config: PseudoLabelConfig,
    teacher: LoadedModel,
    dataset: PairDataset,
    batches: list[list[int]],
    device: torch.device,
) -> tuple[View, ...]:
    """The TTA views of the run, probed once on the largest batch when TTA is on."""
    inf = config.inference
    views = tta_views(inf.tta, inf.scales, inf.flip)
    if len(views) == 1 or not batches:
        return views
    largest = max(batches, key=lambda b: len(b) * int(np.prod(_size_of(dataset, b[0]))))
    samples = [s for s in (dataset[i] for i in largest) if s.image is not None]
    if not samples:
        return views
    return plan_views(
        teacher.model,
        stack_images(samples, device),
        teacher.normalization,
        views,
        on_oom=inf.on_oom,
        windows=inf.windows,
    )


def _size_of(dataset: PairDataset, index: int) -> tuple[int, int]:
    pair = dataset.pairs[index]
    return image_size(dataset.root / pair.image, pair.image)


def _process_batch(run: _Run, samples: list[Sample], summary: PseudoLabelSummary) -> None:
    """Teacher scores -> constrained labels -> per-image stats -> background writes."""
    good: list[Sample] = []
    for s in samples:
        if s.error is not None or s.image is None:
            _record_failure(summary, run.writer.manifest, s.pair, s.error or "no image", run.config.shard)
        else:
            good.append(s)
    if not good:
        return
    n = run.teacher.num_classes
    maps = predict_score_maps(
        run.teacher.model,
        stack_images(good, run.device),
        run.teacher.normalization,
        run.views,
        run.config.inference.windows,
    )
    index = None
    if run.compiled is not None:
        rows = np.stack([run.compiled.index_of(s.values) for s in good])  # type: ignore[arg-type]
        index = torch.from_numpy(rows).to(run.device)
    result, teacher_map = constrained_labels(maps, index, run.priors, teacher_map=run.config.write_teacher)
    tta = [r.to_json() for r in maps.runs]  # how each view ran, the same for every image of the batch
    del maps
    labels = apply_threshold(result, run.config.threshold, n)
    channel = torch.where(labels == void_value(n), torch.full_like(labels, n), labels)
    for b, sample in enumerate(good):
        stats = _image_stats(
            run, labels[b], result.corrected[b], channel[b], None if index is None else index[b]
        ) | {"tta": tta}
        _add_stats(summary, stats)
        _submit_write(
            run,
            sample,
            labels[b],
            result.confidence[b],
            stats,
            None if teacher_map is None else teacher_map[b],
        )


def _image_stats(
    run: _Run,
    labels: torch.Tensor,
    corrected: torch.Tensor,
    channel: torch.Tensor,
    index: torch.Tensor | None,
) -> dict[str, Any]:
    """Per-image counts: pixels, void, non-void, corrected (constrained != teacher argmax), pixels per
    output class (``class_pixels``: ``{target id | "void": count}`` without zeros, the gallery's
    target-class filter) and, with ground truth, the source x target histogram."""
    n = run.teacher.num_classes
    void = labels == void_value(n)
    non_void = ~void
    per_class = torch.bincount(channel.reshape(-1).long(), minlength=n + 1).tolist()
    stats: dict[str, Any] = {
        "pixels": int(labels.numel()),
        "void_pixels": int(void.sum()),
        "non_void_pixels": int(non_void.sum()),
        "corrected_pixels": int((non_void & corrected).sum()),
        "class_pixels": {("void" if c == n else str(c)): k for c, k in enumerate(per_class) if k},
    }
    if index is not None and run.priors is not None:
        hist = value_histogram(index, channel, run.priors.allowed.shape[0], n + 1)
        stats["histogram"] = sparse_histogram(hist.cpu().numpy(), n)
    return stats


def _add_stats(summary: PseudoLabelSummary, stats: dict[str, Any]) -> None:
    summary.written += 1
    summary.fold(stats)


def _submit_write(
    run: _Run,
    sample: Sample,
    labels: torch.Tensor,
    confidence: torch.Tensor,
    stats: dict[str, Any],
    teacher_map: torch.Tensor | None = None,
) -> None:
    rel = output_relpath(sample.pair.image, sample.pair.label if run.compiled is not None else None)
    labels_np = labels.cpu().numpy()
    conf_np = confidence.cpu().numpy() if run.config.write_confidence else None
    teacher_np = None if teacher_map is None else teacher_map.cpu().numpy()
    n = run.teacher.num_classes
    out_dir = run.config.out_dir

    def job() -> dict[str, Any]:
        files = write_outputs(out_dir, rel, labels_np, n, conf_np, teacher_np)
        return {
            "image": sample.pair.image,
            "label": sample.pair.label,
            "output": rel,
            "status": "ok",
            "files": files,
            "height": int(labels_np.shape[0]),
            "width": int(labels_np.shape[1]),
            "void_fraction": stats["void_pixels"] / max(1, stats["pixels"]),
            "correction_rate": stats["corrected_pixels"] / max(1, stats["non_void_pixels"]),
            "unknown_value_pixels": sample.unknown_value_pixels,
            "unknown_color_pixels": sample.unknown_color_pixels,
            "warnings": list(sample.warnings),
            **stats,
        }

    run.writer.submit(job)


def _named(
    summary: PseudoLabelSummary, source: Taxonomy | None, teacher: LoadedModel, priors: CompiledPriors | None
) -> dict[str, dict[str, int]]:
    if source is None or priors is None:
        return {}
    names = {lb.value: lb.name for lb in source.labels if lb.value >= 0}
    return named_histogram(summary.histogram, names, teacher.class_names, priors.unknown_row)
