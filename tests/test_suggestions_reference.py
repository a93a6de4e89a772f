"""Suggestions over the authors' real files (``../shared/reference-lists``; skipped visibly when absent).

1. Every mapping file, given as the only approved evidence, is recovered: each label with exactly
   one target gets that target as its best suggestion (the files parse into evidence, and a same-
   named label in an agreeing mapping outranks every name-only suggestion).
2. ``benchmarks/suggestions_names.py --json`` (leave one dataset out) keeps its contract: every
   dataset of a shared target is scored, figures are fractions, recall never exceeds its bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.domain.mapping import VOID
from app.domain.names import default_synonyms
from app.domain.reference_csv import parse_labels_csv, parse_master_labels_csv
from app.domain.suggestions import ApprovedMapping, SuggestionContext, suggest_mapping

REPO_ROOT = Path(__file__).resolve().parents[1]


def _pairs(reference_dir: Path) -> list[tuple[Path, Path]]:
    out = []
    for master in sorted(reference_dir.glob("*/master_labels*.csv")):
        labels = master.parent / ("labels_old.csv" if master.stem.endswith("_old") else "labels.csv")
        if labels.is_file():
            out.append((labels, master))
    return out


def test_each_mapping_file_is_recovered_from_itself(reference_dir: Path) -> None:
    pairs = _pairs(reference_dir)
    assert pairs, f"no master_labels*.csv with a labels.csv under {reference_dir}"
    table = default_synonyms()
    checked = 0
    for labels_file, master_file in pairs:
        taxonomy = parse_labels_csv(labels_file.read_text(encoding="utf-8"), labels_file.parent.name)
        master = parse_master_labels_csv(master_file.read_text(encoding="utf-8"))
        names = tuple(dict.fromkeys(taxonomy.names))
        itself = ApprovedMapping(master_file.name, names, master.mapping)
        ctx = SuggestionContext(master.target_classes, (itself,), table, master.void_name)
        suggestions = suggest_mapping(names, ctx)
        for name in names:
            targets = master.mapping.targets_of(name) or (VOID,)
            if len(targets) == 1:
                best = suggestions[name][0]
                assert best.target == targets[0], (master_file, name, best)
                checked += 1
    assert checked > 500  # 49 files, most labels have one target


@pytest.mark.timeout(300)
def test_leave_one_dataset_out_benchmark_contract(reference_dir: Path) -> None:
    cmd = [sys.executable, "benchmarks/suggestions_names.py", "--json", "--reference", str(reference_dir)]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    datasets = {d.name for d in reference_dir.iterdir() if d.is_dir() and any(d.glob("master_labels*.csv"))}
    scored = {name for target in report["targets"].values() for name in target["datasets"]}
    assert scored == datasets - {
        d for d in datasets if _only_unshared_targets(reference_dir / d, reference_dir)
    }
    figures = [report["overall"], *(t["overall"] for t in report["targets"].values())]
    for f in figures:
        for k in (1, 3):
            assert 0 <= f[f"recall@{k}"] <= f[f"max_recall@{k}"] <= 1
            assert 0 <= f[f"precision@{k}"] <= 1
        assert f["recall@1"] <= f["recall@3"]
    assert report["overall"]["edges"] > 1000


def _only_unshared_targets(folder: Path, reference_dir: Path) -> bool:
    """True when no other dataset maps to any target class list this dataset maps to."""

    def classes(path: Path) -> tuple[tuple[int, str], ...]:
        return parse_master_labels_csv(path.read_text(encoding="utf-8")).target_classes

    mine = {classes(p) for p in folder.glob("master_labels*.csv")}
    others = {classes(p) for p in reference_dir.glob("*/master_labels*.csv") if p.parent != folder}
    return not (mine & others)


def test_embedding_evidence_is_weak_name_evidence_above_the_cosine_floor() -> None:
    """The benchmark's optional sentence-embedding signal (no model needed: vectors given)."""
    import numpy as np

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import suggestions_names as bench

    vectors = {
        "meadow": np.array([1.0, 0.0]),
        "grass": np.array([0.8, 0.6]),  # cosine 0.8 with meadow
        "sky": np.array([0.0, 1.0]),  # cosine 0.0
        "terrain": np.array([0.5, np.sqrt(0.75)]),  # cosine exactly 0.5: not above the floor
    }
    out = bench.embedding_evidence(("meadow",), ((0, "grass"), (1, "sky"), (2, "terrain")), vectors)
    assert set(out["meadow"]) == {0}
    (evidence,) = out["meadow"][0]
    assert evidence.kind == "name" and evidence.strength == pytest.approx(0.3 * 0.3 / 0.5, abs=1e-4)
    assert "cosine 0.80 with `grass`" in evidence.message and evidence.strength < 0.4  # below a synonym
