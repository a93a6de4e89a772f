"""Configuration objects of the ML jobs (worker.ml layer); ``worker.tasks`` builds them from job params."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.domain.label_codec import LabelEncoding, Palette
from worker.ml.tta import PAPER_SCALES, Windows


@dataclass(frozen=True, slots=True)
class DataConfig:
    """How to read one dataset's files.

    Attributes:
        root: dataset root; pair paths are relative to it.
        label_encoding: encoding of the ground-truth label files.
        num_workers: DataLoader worker processes decoding images/labels (0 = in the main process).
        label_palette: the dataset's own palette for ``rgb`` labels (a preset's, e.g. A2D2's
            class_list.json); None decodes them with the source taxonomy's colours.
        labels_root: where label paths start when not at ``root`` (labels converted from a native
            format into ``<data_dir>/converted/dataset-<id>``).
    """

    root: Path
    label_encoding: LabelEncoding = LabelEncoding.IDS8
    num_workers: int = 0
    label_palette: Palette | None = None
    labels_root: Path | None = None


# A batch holds at most this many pixels (at scale 1): a 512 x 512 image's worth, so big images run
# one by one whatever the batch size, and small ones share a forward pass (whose fixed cost
# dominates on a CPU).
BATCH_PIXELS = 512 * 512


@dataclass(frozen=True, slots=True)
class InferenceConfig:
    """Teacher inference settings shared by pseudo-labelling and evaluation.

    Attributes:
        device: torch device string ("cpu", "cuda", "cuda:1").
        batch_size: at most this many images per forward pass (only images of equal size are
            batched, and never more pixels than ``batch_pixels`` per batch: 1024 x 2048 images run
            one by one, the demo's 96 x 128 ones eight at a time). Outputs do not depend on it: a
            Mask2Former in eval mode treats each image of a batch on its own.
        batch_pixels: the pixel budget of one batch at scale 1 (``None``: no budget).
        tta: enable test-time augmentation (flip + ``scales``).
        scales: the extra TTA scales (the paper's by default).
        flip: include the horizontal flip view when ``tta``.
        on_oom: "fail" or "skip" a TTA view that does not fit in memory even as windows (decided
            once per run).
        windows: how views larger than the image run: whole by default (the paper's TTA), falling
            back view by view to sliding windows of the image's size on out-of-memory or over
            ``windows.budget_bytes``; ``Windows(slide=True)`` runs them all as windows.
    """

    device: str = "cpu"
    batch_size: int = 1
    batch_pixels: int | None = BATCH_PIXELS
    tta: bool = False
    scales: tuple[float, ...] = PAPER_SCALES
    flip: bool = True
    on_oom: str = "fail"
    windows: Windows = Windows()


@dataclass(frozen=True, slots=True)
class PseudoLabelConfig:
    """Settings of one pseudo-labelling run (or shard).

    Attributes:
        out_dir: outputs go to ``out_dir/labels/<label relpath>.png`` (``<image relpath>`` without GT),
            ``out_dir/confidence/...``, ``out_dir/manifest[.<shard>].jsonl``,
            ``out_dir/summary[.<shard>].json``.
        use_priors: constrain with the mapping's allowed sets (needs ground truth and priors).
        write_confidence: also write the confidence PNG.
        write_teacher: also write the unconstrained teacher argmax (``out_dir/teacher/...``): what
            the teacher predicts without priors, for reviewing where the priors corrected it.
        threshold: confidence below which the label becomes void (None = off).
        overwrite: rewrite existing outputs instead of skipping them (resume).
        shard: tag of this shard (manifest/summary file suffix) when a run is split.
        writer_threads: threads encoding and writing PNGs while the model runs.
    """

    out_dir: Path
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    use_priors: bool = True
    write_confidence: bool = False
    write_teacher: bool = False
    threshold: float | None = None
    overwrite: bool = False
    shard: str | None = None
    writer_threads: int = 2

    @property
    def manifest_path(self) -> Path:
        suffix = f".{self.shard}" if self.shard else ""
        return self.out_dir / f"manifest{suffix}.jsonl"

    @property
    def summary_path(self) -> Path:
        suffix = f".{self.shard}" if self.shard else ""
        return self.out_dir / f"summary{suffix}.json"


@dataclass(frozen=True, slots=True)
class EvaluateConfig:
    """Settings of one evaluation run (``ignore_index`` pixels of the mapped GT are skipped)."""

    inference: InferenceConfig = field(default_factory=InferenceConfig)
    ignore_index: int = 255
