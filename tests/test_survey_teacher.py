"""The survey benchmark's teacher helpers (``benchmarks/survey_teacher.py``), without training: the
cache key follows the recipe and the data but not the output folder, and the oracle survey counts
each coarse label's pixels by their hidden fine truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from app.domain.mapping import VOID
from app.domain.survey import data_evidence
from worker.demo_scenes import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import survey_teacher as st  # noqa: E402
from mini_direct import write_split  # noqa: E402


def _args(*extra: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, nargs=2, default=[16, 32])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--upscale", type=int, default=1)
    st.add_teacher_args(p)
    return p.parse_args(list(extra))


def test_cache_key_follows_recipe_and_data_not_the_folder(tmp_path: Path) -> None:
    data = {"data_seed": 1234, "size": [16, 32], "source": 60, "val": 20}
    key = st.cache_key(st.teacher_config(tmp_path / "a", _args()), data)
    assert key == st.cache_key(st.teacher_config(tmp_path / "b", _args()), data)
    assert key != st.cache_key(st.teacher_config(tmp_path / "a", _args("--iterations", "7")), data)
    assert key != st.cache_key(st.teacher_config(tmp_path / "a", _args()), {**data, "source": 61})
    config = st.teacher_config(tmp_path, _args())
    assert config.max_iterations == 1500 and config.augment.scale_range == (1.0, 1.5)
    assert config.augment.crop_size == (16, 32)
    assert st.teacher_config(tmp_path, _args("--upscale", "2")).augment.crop_size == (32, 64)


def test_upscaled_split_keeps_the_scene_and_its_class_shares(tmp_path: Path) -> None:
    small = write_split(tmp_path / "a", "extra", 2, np.random.default_rng(5), (16, 32), ["clear"])
    big = write_split(tmp_path / "b", "extra", 2, np.random.default_rng(5), (16, 32), ["clear"], upscale=3)
    assert [p for p, _ in small] == [p for p, _ in big]
    for sub in ("labels", "hidden_fine"):
        a = _png(tmp_path / "a" / "extra" / sub / "0001.png")
        b = _png(tmp_path / "b" / "extra" / sub / "0001.png")
        assert b.shape == (48, 96)
        assert (b[::3, ::3] == a).all()
        assert (np.bincount(b.ravel(), minlength=8) == 9 * np.bincount(a.ravel(), minlength=8)).all()
    assert _png(tmp_path / "b" / "extra" / "images" / "0001.png").shape == (48, 96, 3)


def test_oracle_survey_counts_the_hidden_fine_truth(tmp_path: Path) -> None:
    pairs = [p for p, _ in write_split(tmp_path, "extra", 4, np.random.default_rng(3), (32, 64), ["clear"])]
    stats = st.oracle_stats(tmp_path / "extra", pairs)
    assert stats.images == 4
    fine = np.stack([_png(tmp_path / "extra" / "hidden_fine" / f"{i:04d}.png") for i in range(4)])
    for c, name in enumerate(COARSE_CLASSES):
        expected = np.bincount(fine[FINE_TO_COARSE[fine] == c], minlength=len(FINE_CLASSES) + 1)
        assert stats.labels[name].pixels == expected.tolist()
        assert stats.labels[name].pixels[-1] == 0  # a perfect teacher predicts no void
    edges = {(n, t) for n in COARSE_CLASSES for t in data_evidence(stats, n, min_share=0.001) if t != VOID}
    truth = {(COARSE_CLASSES[c], f) for f, c in enumerate(FINE_TO_COARSE.tolist())}
    assert edges <= truth


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)
