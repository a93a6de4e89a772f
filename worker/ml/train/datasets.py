"""Training and validation sets in the target taxonomy (worker.ml layer).

Two kinds of training set:

* *ground truth*: a dataset labelled in its own taxonomy, mapped to the target classes with the
  mapping's lookup table (``app.domain.priors.CompiledPriors.lut``): labels with exactly one target
  become that class; ambiguous (several targets), void and unmapped labels, and values outside the
  table, become 255 (ignore);
* *pseudo-labels*: the output of a pseudo-label run, already in target ids; its 255 (void) stays
  ignore.

A :class:`TrainingMixture` concatenates the sets and serves augmented crops for keys
``(index, augmentation_seed)`` drawn by :class:`worker.ml.train.sampling.WeightedStreamSampler`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from app.domain.pairing import Pair
from worker.ml.data import PairDataset
from worker.ml.io import read_image, read_png
from worker.ml.outputs import output_relpath
from worker.ml.train.augment import augment_pair
from worker.ml.train.config import AugmentConfig
from worker.ml.train.sampling import SampleKey, SetMixture

IGNORE = 255
SetKind = Literal["ground_truth", "pseudo_labels"]


class PairSource(Protocol):
    """Anything indexable that yields ``(image, label)``: image ``(H, W, 3)`` uint8 array (or PIL
    image, or ``(3, H, W)`` tensor), label ``(H, W)`` integer array of raw label values."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, Any]: ...


@dataclass(slots=True)
class ArrayPairs:
    """In-memory pairs (tests, the miniature reproduction)."""

    images: Sequence[np.ndarray]
    labels: Sequence[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[index], self.labels[index]


class DatasetPairs:
    """Ground-truth pairs of a registered dataset, decoded by :class:`worker.ml.data.PairDataset`
    (any label encoding). A bad file raises ``ValueError`` naming it: scan datasets before training."""

    def __init__(self, dataset: PairDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.dataset[index]
        if sample.error is not None or sample.image is None or sample.values is None:
            raise ValueError(f"training pair {sample.pair.image}: {sample.error or 'no label'}")
        return sample.image, sample.values


@dataclass(slots=True)
class PseudoLabelPairs:
    """Images of an extra dataset with the label PNGs of a finished pseudo-label run.

    Attributes:
        image_root: the extra dataset's root; ``pairs`` are relative to it.
        run_dir: the pseudo-label run's ``out_dir`` (labels under ``labels/<rel>.png``).
        pairs: the dataset's image/label pairs, as given to the pseudo-label run.
    """

    image_root: Path
    run_dir: Path
    pairs: Sequence[Pair]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[index]
        image = read_image(self.image_root / pair.image, pair.image)
        return image, read_png(pseudo_label_path(self.run_dir, pair))


def pseudo_label_path(run_dir: Path, pair: Pair) -> Path:
    """Where a pseudo-label run wrote ``pair``'s label: mirroring the label's relative path (runs with
    priors) or the image's (runs without ground truth)."""
    for rel in (output_relpath(pair.image, pair.label), output_relpath(pair.image, None)):
        path = run_dir / "labels" / rel
        if path.is_file():
            return path
    raise ValueError(f"no pseudo-label for {pair.image} in {run_dir} (unfinished run?)")


@dataclass(slots=True)
class LabeledSet:
    """One training or validation set, delivering labels in target ids (255 = ignore).

    Attributes:
        name: shown in logs and metrics.
        source: the raw pairs.
        kind: ``ground_truth`` (raw values mapped through ``lut``) or ``pseudo_labels`` (as is).
        weight: share of draws when used for training (see :mod:`worker.ml.train.sampling`).
        lut: ``(L,)`` int array, raw value -> target class or 255; values ``>= L`` become 255.
            Required for ground truth, ignored for pseudo-labels.
        provenance: recorded with the trained model (dataset id, pseudo-label run, mapping hash).
        crop_fraction: this set's (min, max) crop fraction instead of the recipe's, or ``None``.
    """

    name: str
    source: PairSource
    kind: SetKind = "ground_truth"
    weight: float = 1.0
    lut: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    crop_fraction: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.kind == "ground_truth" and self.lut is None:
            raise ValueError(f"ground-truth set {self.name!r} needs the mapping's lookup table")

    def __len__(self) -> int:
        return len(self.source)

    def pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(3, H, W)`` uint8 image and ``(H, W)`` int64 label in target ids (255 = ignore)."""
        image, raw = self.source[index]
        image_t = as_image_tensor(image)
        label = np.asarray(raw).astype(np.int64, copy=False)
        if label.shape != tuple(image_t.shape[-2:]):
            raise ValueError(
                f"{self.name}[{index}]: label {label.shape} != image {tuple(image_t.shape[-2:])}"
            )
        if self.kind == "ground_truth":
            label = map_labels(label, self.lut)  # type: ignore[arg-type]
        return image_t, torch.from_numpy(np.ascontiguousarray(label))


def map_labels(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Raw label values -> target ids with a lookup table, in one vectorised gather.

    Args:
        values: ``(H, W)`` integer array.
        lut: ``(L,)`` integer array; values outside ``[0, L)`` map to 255.

    Returns:
        ``(H, W)`` int64 array.
    """
    table = np.append(np.asarray(lut, dtype=np.int64), IGNORE)  # extra last entry: out of range
    index = np.where((values >= 0) & (values < len(lut)), values, len(lut))
    return table[index]


def as_image_tensor(image: Any) -> torch.Tensor:
    """``(3, H, W)`` uint8 tensor from an ``(H, W, 3)`` array, a PIL image or a ``(3, H, W)`` tensor."""
    if isinstance(image, torch.Tensor):
        return image if image.shape[0] == 3 else image.permute(2, 0, 1)
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {array.shape}")
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, copy=True)  # torch wants writable, contiguous memory
    return torch.from_numpy(array).permute(2, 0, 1)


class TrainingMixture(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The concatenation of training sets, returning augmented fixed-size crops.

    Indexed by :data:`SampleKey` ``(index, augmentation_seed)``; the same key always gives the same
    sample, whichever process or DataLoader worker loads it.
    """

    def __init__(self, sets: Sequence[LabeledSet], augment: AugmentConfig, mode: str = "by_weight") -> None:
        self.sets = list(sets)
        self.augment = augment
        self.mixture = SetMixture(
            sizes=tuple(len(s) for s in sets), weights=tuple(s.weight for s in sets), mode=mode
        )
        self._offsets = self.mixture.offsets
        # A set with its own crop fraction (the paper's TAS500 / Freiburg Forest) augments with it.
        self._augments = [
            augment if s.crop_fraction is None else replace(augment, crop_fraction=s.crop_fraction)
            for s in self.sets
        ]

    def __len__(self) -> int:
        return int(sum(self.mixture.sizes))

    def locate(self, index: int) -> tuple[int, int]:
        """Concatenation index -> (set id, index within that set)."""
        set_id = int(np.searchsorted(self._offsets, index, side="right") - 1)
        return set_id, index - int(self._offsets[set_id])

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        """``(3, h, w)`` float32 image (0-255) and ``(h, w)`` int64 label, ``(h, w)`` = crop size."""
        index, seed = key
        set_id, within = self.locate(index)
        image, label = self.sets[set_id].pair(within)
        return augment_pair(image, label, self._augments[set_id], np.random.default_rng(seed))


def collate_crops(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack crops: ``(B, 3, h, w)`` float32 images and ``(B, h, w)`` int64 labels."""
    return torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
