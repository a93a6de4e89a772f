"""Weighted sampling over several training sets (worker.ml layer).

Two semantics (also in docs/training.md), chosen by ``mode``:

* ``by_size`` (the paper's: its DataLoader shuffled the concatenation of all sets): every image is
  equally likely, times its set's weight, so set ``i`` is drawn with probability
  ``w_i n_i / sum_j w_j n_j``. With all weights 1 a set's share is its share of the images.
* ``by_weight``: each training set ``i`` has a weight ``w_i >= 0``. Every draw
first picks a set with probability ``w_i / sum_j w_j`` and then one of its samples uniformly, with
replacement. A set's weight is therefore its expected *share of draws*, independent of its size: a
60-image source set with weight 1 and a 6,000-image pseudo-label set with weight 1 each make up half
of every batch on average. (Per-sample weights ``w_i / (sum_j w_j * n_i)`` in a
``WeightedRandomSampler`` over the concatenation give the same distribution.) A set with weight 0
is never drawn.

An *epoch* is ``samples_per_epoch`` draws (default: the sum of the set sizes). The draws of epoch
``e`` are a pure function of ``(seed, e)``; each draw also carries its own augmentation seed. Under
``P`` processes, process ``r`` takes every ``P``-th draw starting at ``r``, so processes never
share a draw. The stream can start at any micro-batch, which is how a resumed run continues with
exactly the samples it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

SampleKey = tuple[int, int]  # (index into the concatenation, augmentation seed)


@dataclass(frozen=True, slots=True)
class SetMixture:
    """Sizes and weights of the training sets, in concatenation order."""

    sizes: tuple[int, ...]
    weights: tuple[float, ...]
    mode: str = "by_weight"  # or "by_size"

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.weights) or not self.sizes:
            raise ValueError("need one weight per training set, and at least one set")
        if any(w < 0 or not np.isfinite(w) for w in self.weights):
            raise ValueError(f"set weights must be finite and >= 0, got {self.weights}")
        if not any(w > 0 and n > 0 for w, n in zip(self.weights, self.sizes, strict=True)):
            raise ValueError("at least one non-empty set needs a positive weight")
        if any(w > 0 and n == 0 for w, n in zip(self.weights, self.sizes, strict=True)):
            raise ValueError(f"a set with positive weight is empty: sizes {self.sizes}")
        if self.mode not in ("by_size", "by_weight"):
            raise ValueError(f"mixture mode must be by_size or by_weight, got {self.mode!r}")

    @property
    def probabilities(self) -> np.ndarray:
        """``(S,)`` float64: probability that a draw comes from each set."""
        weights = np.asarray(self.weights, dtype=np.float64)
        if self.mode == "by_size":
            weights = weights * np.asarray(self.sizes, dtype=np.float64)
        probabilities: np.ndarray = weights / weights.sum()
        return probabilities

    @property
    def offsets(self) -> np.ndarray:
        """``(S,)`` int64: index of each set's first sample in the concatenation."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    def draw(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``count`` samples.

        Returns:
            ``(count,)`` int64 set ids and ``(count,)`` int64 indices into the concatenation.
        """
        set_ids = rng.choice(len(self.sizes), size=count, p=self.probabilities)
        sizes = np.asarray(self.sizes, dtype=np.int64)[set_ids]
        within = np.minimum((rng.random(count) * sizes).astype(np.int64), sizes - 1)
        return set_ids.astype(np.int64), self.offsets[set_ids] + within


class WeightedStreamSampler(Sampler[SampleKey]):
    """An endless stream of ``(index, augmentation_seed)`` keys for one process.

    Args:
        mixture: set sizes and weights.
        micro_batch_size: samples per process per forward pass.
        micro_batches_per_epoch: forward passes per process per epoch.
        seed: run seed.
        rank: this process's index.
        world_size: number of processes.
        start_micro_batch: first micro-batch to yield (resume).
    """

    def __init__(
        self,
        mixture: SetMixture,
        *,
        micro_batch_size: int,
        micro_batches_per_epoch: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_micro_batch: int = 0,
    ) -> None:
        self.mixture = mixture
        self.micro_batch_size = micro_batch_size
        self.micro_batches_per_epoch = micro_batches_per_epoch
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_micro_batch = start_micro_batch

    @property
    def draws_per_epoch(self) -> int:
        """Global draws per epoch (all processes together)."""
        return self.micro_batches_per_epoch * self.micro_batch_size * self.world_size

    def epoch_keys(self, epoch: int) -> list[SampleKey]:
        """This process's keys for one epoch, in order."""
        rng = np.random.default_rng([self.seed, epoch])
        _, indices = self.mixture.draw(self.draws_per_epoch, rng)
        seeds = rng.integers(0, 2**63 - 1, size=self.draws_per_epoch, dtype=np.int64)
        mine = slice(self.rank, None, self.world_size)
        return list(zip(indices[mine].tolist(), seeds[mine].tolist(), strict=True))

    def __iter__(self) -> Iterator[SampleKey]:
        epoch, position = divmod(self.start_micro_batch, self.micro_batches_per_epoch)
        skip = position * self.micro_batch_size
        while True:
            yield from self.epoch_keys(epoch)[skip:]
            epoch, skip = epoch + 1, 0


def micro_batches_per_epoch(samples_per_epoch: int, micro_batch_size: int, world_size: int) -> int:
    """Forward passes per process per epoch (at least one; the last partial batch is dropped)."""
    return max(1, samples_per_epoch // (micro_batch_size * world_size))


def set_counts(keys: Sequence[SampleKey], mixture: SetMixture) -> np.ndarray:
    """``(S,)`` int64: how many of ``keys`` fall in each set (for logging and tests)."""
    indices = np.asarray([k[0] for k in keys], dtype=np.int64)
    set_ids = np.searchsorted(mixture.offsets, indices, side="right") - 1
    return np.bincount(set_ids, minlength=len(mixture.sizes)).astype(np.int64)
