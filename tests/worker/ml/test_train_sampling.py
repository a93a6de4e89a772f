"""Weighted sampling over training sets: proportions, process sharding and resumable streams."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from worker.ml.train.sampling import SetMixture, WeightedStreamSampler, set_counts

# Chi-square critical values at p = 0.001 (df 2 and 3): a correct sampler fails 1 in 1000 seeds;
# the seeds are fixed, so the test is deterministic.
CHI2_CRIT = {2: 13.816, 3: 16.266}


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def test_each_set_gets_its_weight_share_of_draws_whatever_its_size() -> None:
    mixture = SetMixture(sizes=(10, 1000, 37), weights=(1.0, 1.0, 2.0))
    _, indices = mixture.draw(40_000, np.random.default_rng(7))
    counts = set_counts([(int(i), 0) for i in indices], mixture)
    expected = 40_000 * np.array([0.25, 0.25, 0.5])
    assert _chi_square(counts, expected) < CHI2_CRIT[2]


def test_samples_within_a_set_are_uniform() -> None:
    mixture = SetMixture(sizes=(4, 3), weights=(0.0, 1.0))
    _, indices = mixture.draw(30_000, np.random.default_rng(3))
    assert indices.min() >= 4  # the zero-weight set is never drawn
    counts = np.bincount(indices - 4, minlength=3)
    assert _chi_square(counts, np.full(3, 10_000.0)) < CHI2_CRIT[2]


def test_stream_sampler_proportions_with_weighted_sets() -> None:
    mixture = SetMixture(sizes=(60, 600, 6000, 5), weights=(3.0, 1.0, 1.0, 1.0))
    sampler = WeightedStreamSampler(mixture, micro_batch_size=4, micro_batches_per_epoch=50, seed=11)
    keys = list(itertools.islice(iter(sampler), 24_000))
    counts = set_counts(keys, mixture)
    assert _chi_square(counts, 24_000 * np.array([0.5, 1 / 6, 1 / 6, 1 / 6])) < CHI2_CRIT[3]


def test_processes_take_disjoint_interleaved_draws() -> None:
    mixture = SetMixture(sizes=(50, 50), weights=(1.0, 1.0))
    common = {"micro_batch_size": 2, "micro_batches_per_epoch": 5, "seed": 0}
    single = WeightedStreamSampler(mixture, world_size=1, **{**common, "micro_batches_per_epoch": 10})
    rank0 = WeightedStreamSampler(mixture, rank=0, world_size=2, **common)
    rank1 = WeightedStreamSampler(mixture, rank=1, world_size=2, **common)
    everything = single.epoch_keys(0)
    assert rank0.epoch_keys(0) == everything[0::2]
    assert rank1.epoch_keys(0) == everything[1::2]


def test_stream_started_at_a_micro_batch_continues_the_same_sequence() -> None:
    mixture = SetMixture(sizes=(7, 9), weights=(1.0, 2.0))
    full = list(
        itertools.islice(
            iter(WeightedStreamSampler(mixture, micro_batch_size=3, micro_batches_per_epoch=4, seed=5)), 60
        )
    )
    resumed = WeightedStreamSampler(
        mixture, micro_batch_size=3, micro_batches_per_epoch=4, seed=5, start_micro_batch=6
    )
    assert list(itertools.islice(iter(resumed), 42)) == full[18:]
    assert full[:12] != full[12:24]  # epochs differ


@pytest.mark.parametrize(
    ("sizes", "weights"),
    [
        ((5,), (1.0, 1.0)),
        ((5, 5), (0.0, 0.0)),
        ((5, 0), (1.0, 1.0)),
        ((5,), (-1.0,)),
        ((5,), (float("nan"),)),
    ],
)
def test_invalid_mixtures_are_rejected(sizes: tuple[int, ...], weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        SetMixture(sizes=sizes, weights=weights)
