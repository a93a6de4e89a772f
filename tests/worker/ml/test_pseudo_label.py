"""Pseudo-labelling runs: priors respected, outputs/manifest/summary, resume, corrupt inputs, shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.domain.jobs import Progress
from app.domain.pairing import Pair
from app.domain.priors import CompiledPriors
from app.domain.taxonomy import Taxonomy
from worker.ml import outputs
from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig
from worker.ml.data import resolve_pairs
from worker.ml.outputs import merge_summaries
from worker.ml.pseudo_label import run_pseudo_labeling

PATTERN = ("images/{split}/{stem}.png", "labels/{split}/{stem}_labelids.png")


def _pairs(root: Path) -> list[Pair]:
    result = resolve_pairs(root, image_pattern=PATTERN[0], label_template=PATTERN[1])
    return list(result.pairs)


def _run(teacher, root: Path, out: Path, compiled, source, **kwargs):  # type: ignore[no-untyped-def]
    inference = kwargs.pop("inference", InferenceConfig(batch_size=2))
    data = kwargs.pop("data", DataConfig(root=root))
    pairs = kwargs.pop("pairs", None) or _pairs(root)
    run_kwargs = {k: kwargs.pop(k) for k in ("on_progress", "should_stop") if k in kwargs}
    config = PseudoLabelConfig(out_dir=out, inference=inference, **kwargs)
    return run_pseudo_labeling(
        config, teacher, pairs, data, priors=compiled, source=source, mapping_hash="abc", **run_kwargs
    )


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_outputs_respect_priors_and_are_recorded(
    teacher, make_dataset, tmp_path: Path, compiled: CompiledPriors, source: Taxonomy
) -> None:
    root = make_dataset(n=4)
    progress: list[Progress] = []
    summary = _run(
        teacher, root, tmp_path / "out", compiled, source, write_confidence=True, on_progress=progress.append
    )
    assert (summary.written, summary.failed, summary.skipped_existing) == (4, 0, 0)
    assert progress[-1].current == progress[-1].total == 4
    for pair in _pairs(root):
        rel = Path(pair.label).with_suffix(".png")  # type: ignore[arg-type]
        out = _read(tmp_path / "out" / "labels" / rel)
        gt = _read(root / pair.label)  # type: ignore[operator]
        assert out.dtype == np.uint8 and out.shape == gt.shape
        channel = np.where(out == 255, compiled.num_classes, out)
        rows = compiled.index_of(gt)
        assert np.all(compiled.allowed[rows, channel])
        single = compiled.lut[rows] != 255
        assert np.array_equal(out[single], compiled.lut[rows][single])
        assert (tmp_path / "out" / "confidence" / rel).is_file()
    records = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert all(r["unknown_value_pixels"] > 0 for r in records)  # value 6 is in no label
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["mapping_hash"] == "abc" and data["model"]["checksum"] == teacher.checksum
    assert data["tta_views"] == ["orig@1"] and data["normalization"] == teacher.normalization.to_json()
    assert sum(sum(t.values()) for t in data["histogram"].values()) == data["pixels"]
    assert set(data["histogram_named"]["road"]) == {"road"}
    assert set(data["histogram_named"]["vehicle"]) <= {"road", "car"}
    assert set(data["histogram_named"]["thing"]) == {"void"}


def test_resume_after_crash_writes_each_image_once(
    teacher,
    make_dataset,
    tmp_path: Path,
    compiled: CompiledPriors,
    source: Taxonomy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_dataset(n=6)
    written: list[str] = []
    real = outputs.write_atomic

    def counting(path: Path, data: bytes, **kw: object) -> None:
        written.append(path.relative_to(tmp_path / "out").as_posix())
        real(path, data)

    monkeypatch.setattr(outputs, "write_atomic", counting)

    def crash(p: Progress) -> None:
        if p.current >= 2:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        _run(teacher, root, tmp_path / "out", compiled, source, on_progress=crash)
    first = len(written)
    assert 0 < first < 6
    summary = _run(teacher, root, tmp_path / "out", compiled, source)
    assert summary.skipped_existing == first and summary.written == 6 - first
    assert sorted(written) == sorted(set(written)) and len(written) == 6
    full = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert full["pixels"] == sum(_read(root / p.label).size for p in _pairs(root))  # type: ignore[operator]
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_overwrite_rewrites_everything(teacher, make_dataset, tmp_path: Path, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=2)
    _run(teacher, root, tmp_path / "out", compiled, source)
    again = _run(teacher, root, tmp_path / "out", compiled, source, overwrite=True)
    assert again.written == 2 and again.skipped_existing == 0


def test_failed_write_leaves_no_partial_file(
    teacher,
    make_dataset,
    tmp_path: Path,
    compiled,
    source,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_dataset(n=1)

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("worker.ml.io.os.replace", boom)
    with pytest.raises(OSError):
        _run(teacher, root, tmp_path / "out", compiled, source)
    assert not [p for p in (tmp_path / "out").rglob("*.png")]
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_corrupt_inputs_are_reported_not_fatal(
    teacher, make_dataset, tmp_path: Path, compiled, source
) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=3)
    (root / "images/train/img000.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "labels/train/img001_labelids.png")
    summary = _run(teacher, root, tmp_path / "out", compiled, source)
    assert (summary.written, summary.failed) == (1, 2)
    messages = " ".join(e["error"] for e in summary.errors)
    assert "unreadable image" in messages and "label size" in messages
    assert sorted(e["error_type"] for e in summary.errors) == ["size mismatch", "unreadable image"]
    assert all(e["shard"] is None for e in summary.errors)  # an unsharded run
    records = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["error", "error", "ok"]
    assert sorted(r.get("error_type", "") for r in records) == ["", "size mismatch", "unreadable image"]


def test_rgb_labels_with_unknown_colours(teacher, tmp_path: Path, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "rgb"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    palette = [bytes.fromhex(c[1:]) for c in source.colors.values()] + [b"\x01\x02\x03"]
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(root / "images/train/a.png")
    Image.fromarray(
        np.array([list(p) for p in palette], np.uint8)[rng.integers(0, len(palette), (24, 32))]
    ).save(root / "labels/train/a_labelids.png")
    summary = _run(
        teacher, root, tmp_path / "out", compiled, source, data=DataConfig(root=root, label_encoding="rgb")
    )  # type: ignore[arg-type]
    assert summary.written == 1
    record = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    assert record["unknown_color_pixels"] > 0 and "unknown colours" in record["warnings"][0]


def test_no_prior_mode_mirrors_image_paths(teacher, make_dataset, tmp_path: Path, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=2)
    summary = _run(teacher, root, tmp_path / "out", None, source, use_priors=False)
    assert summary.written == 2 and summary.correction_rate == 0.0
    out = _read(tmp_path / "out" / "labels/images/train/img000.png")
    assert out.max() < teacher.num_classes


def test_threshold_voids_low_confidence(teacher, make_dataset, tmp_path: Path, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=1)
    low = _run(teacher, root, tmp_path / "a", compiled, source)
    high = _run(teacher, root, tmp_path / "b", compiled, source, threshold=0.99)
    assert high.void_fraction > low.void_fraction


def test_batching_and_decode_workers_do_not_change_results(
    teacher,
    make_dataset,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    compiled,
    source,
) -> None:
    root = make_dataset(n=4)
    _run(teacher, root, tmp_path / "one", compiled, source, inference=InferenceConfig(batch_size=1))
    _run(
        teacher,
        root,
        tmp_path / "many",
        compiled,
        source,
        inference=InferenceConfig(batch_size=3),
        data=DataConfig(root=root, num_workers=1),
    )
    for f in (tmp_path / "one" / "labels").rglob("*.png"):
        a, b = _read(f), _read(tmp_path / "many" / f.relative_to(tmp_path / "one"))
        assert (a == b).mean() > 0.999


def test_should_stop_and_shards(teacher, make_dataset, tmp_path: Path, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=4)
    pairs = _pairs(root)
    stopped = _run(teacher, root, tmp_path / "out", compiled, source, should_stop=lambda: True)
    assert stopped.stopped and stopped.written == 0
    a = _run(teacher, root, tmp_path / "out", compiled, source, pairs=pairs[:2], shard="shard-0")
    b = _run(teacher, root, tmp_path / "out", compiled, source, pairs=pairs[2:], shard="shard-1")
    assert (tmp_path / "out/manifest.shard-0.jsonl").is_file() and (
        tmp_path / "out/summary.shard-1.json"
    ).is_file()
    merged = merge_summaries(
        json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("summary.shard-*.json"))
    )
    assert merged["written"] == a.written + b.written == 4
    assert merged["pixels"] == a.pixels + b.pixels


def test_merged_summary_lists_the_errors_of_every_shard(
    teacher, make_dataset, tmp_path: Path, compiled, source
) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=4)
    pairs = _pairs(root)
    for bad in (pairs[0], pairs[3]):  # one failure in each shard
        (root / bad.image).write_bytes(b"not an image")
    for index, part in enumerate((pairs[:2], pairs[2:])):
        _run(teacher, root, tmp_path / "out", compiled, source, pairs=part, shard=f"{index:05d}")
    merged = merge_summaries(
        json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("summary.0*.json"))
    )
    assert merged["failed"] == 2
    assert [(e["image"], e["shard"], e["error_type"]) for e in merged["errors"]] == [
        (pairs[0].image, 0, "unreadable image"),
        (pairs[3].image, 1, "unreadable image"),
    ]


def test_tta_views_recorded(teacher, make_dataset, tmp_path: Path, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=1)
    summary = _run(
        teacher, root, tmp_path / "out", compiled, source, inference=InferenceConfig(tta=True, scales=(0.75,))
    )
    assert summary.views == ("orig@1", "flip@1", "orig@0.75")


def test_teacher_maps_are_the_unconstrained_argmax(
    teacher, make_dataset, tmp_path: Path, compiled, source
) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=2)
    _run(teacher, root, tmp_path / "pri", compiled, source, write_teacher=True)
    _run(teacher, root, tmp_path / "free", None, source, use_priors=False)
    for pair in _pairs(root):
        rel = Path(pair.label).with_suffix(".png")  # type: ignore[arg-type]
        teacher_map = _read(tmp_path / "pri" / "teacher" / rel)
        # the no-prior run's output is the plain argmax over the N real classes
        assert np.array_equal(
            teacher_map, _read(tmp_path / "free" / "labels" / Path(pair.image).with_suffix(".png"))
        )
        labels = _read(tmp_path / "pri" / "labels" / rel)
        single = compiled.lut[compiled.index_of(_read(root / pair.label))] != 255  # type: ignore[operator]
        # where the prior pins one class the label is that class, whatever the teacher said
        assert np.array_equal(
            labels[single], compiled.lut[compiled.index_of(_read(root / pair.label))][single]
        )  # type: ignore[operator]
    records = [json.loads(x) for x in (tmp_path / "pri" / "manifest.jsonl").read_text().splitlines()]
    assert all(f"teacher/{r['output']}" in r["files"] for r in records)


def test_batches_hold_at_most_the_pixel_budget(tmp_path: Path) -> None:
    from worker.ml.data import size_batches

    sizes = {"small": (8, 10), "big": (40, 50)}  # 80 and 2,000 pixels
    pairs = []
    for kind, (h, w) in sizes.items():
        for i in range(5):
            rel = f"{kind}_{i}.png"
            Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / rel)
            pairs.append(Pair(image=rel, label=None))
    batches, errors = size_batches(tmp_path, pairs, 4, max_pixels=1_000)
    assert not errors
    assert [len(b) for b in batches] == [4, 1, 1, 1, 1, 1, 1]  # small: 4 (batch size); big: 1 each
    unlimited, _ = size_batches(tmp_path, pairs, 4)
    assert [len(b) for b in unlimited] == [4, 1, 4, 1]


def test_the_default_batching_gives_the_labels_of_one_by_one_tta(  # type: ignore[no-untyped-def]
    teacher, make_dataset, tmp_path: Path, compiled, source
) -> None:
    root = make_dataset(n=4)
    one = InferenceConfig(batch_size=1, tta=True, scales=(0.5, 1.5))
    default = InferenceConfig(batch_size=8, tta=True, scales=(0.5, 1.5))
    _run(teacher, root, tmp_path / "one", compiled, source, inference=one)
    summary = _run(teacher, root, tmp_path / "many", compiled, source, inference=default)
    assert summary.written == 4 and summary.failed == 0
    for f in (tmp_path / "one" / "labels").rglob("*.png"):
        a, b = _read(f), _read(tmp_path / "many" / f.relative_to(tmp_path / "one"))
        assert (a == b).mean() > 0.999
