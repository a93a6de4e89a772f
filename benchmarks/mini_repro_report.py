"""The mini reproduction's results (used by ``mini_reproduction.py``): the experiment services'
tables, the pseudo-labels scored against the hidden fine truth, medians over seeds, as Markdown
(``<out>/results.md``) and JSON (``<out>/results.json``)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import mini_repro_specs as mr
import numpy as np

Row = dict[str, float | None]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def score_pseudo_labels(session: Any, experiment_id: int) -> dict[str, Any]:
    """mIoU of each extra's pseudo-labels (and of all together) against the hidden fine truth.

    Void (255) counts as a miss; ``void_fraction`` is the share of void pixels.
    """
    from app.db import repositories_experiments as repo
    from app.db import repositories_registry as registry
    from app.services import datasets, experiments
    from worker.demo_scenes import FINE_CLASSES
    from worker.ml.evaluate import metrics_from_confusion
    from worker.ml.io import read_png
    from worker.ml.train.datasets import pseudo_label_path

    run = experiments.latest_run(session, experiment_id)
    assert run is not None
    jobs = {stage.key: job for stage, job in repo.stage_jobs(session, run.id)}
    n = len(FINE_CLASSES)
    total = np.zeros((n, n + 1), dtype=np.int64)
    out: dict[str, Any] = {}
    for i, extra in enumerate(mr.EXTRAS):
        job = jobs.get(f"pl:r1:{i}")
        if job is None or job.status != "succeeded":
            continue
        row = registry.get_dataset_by_name(session, extra)
        assert row is not None and job.output_dir is not None
        hidden = Path(row.root).parent / "hidden-fine" / extra
        matrix = np.zeros((n, n + 1), dtype=np.int64)
        for pair in datasets.pair_dataset(row, split="train").pairs:
            predicted = read_png(pseudo_label_path(Path(job.output_dir), pair)).astype(np.int64)
            truth = read_png(hidden / Path(pair.image).relative_to("images")).astype(np.int64)
            predicted = np.where(predicted == 255, n, predicted)
            matrix += np.bincount((truth * (n + 1) + predicted).ravel(), minlength=n * (n + 1)).reshape(
                n, n + 1
            )
        total += matrix
        out[extra.removeprefix("mini-")] = _pl_metrics(matrix, metrics_from_confusion(matrix, FINE_CLASSES))
    if out:
        out["all extras"] = _pl_metrics(total, metrics_from_confusion(total, FINE_CLASSES))
    return out


def _pl_metrics(matrix: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"miou": metrics["miou"], "void_fraction": float(matrix[:, -1].sum() / max(matrix.sum(), 1)),
            "per_class": metrics.get("per_class")}  # fmt: skip


def _timings(session: Any, experiment_id: int) -> dict[str, float]:
    from app.db import repositories_experiments as repo
    from app.services import experiments

    run = experiments.latest_run(session, experiment_id)
    assert run is not None
    out = {}
    for stage, job in repo.stage_jobs(session, run.id):
        if job is not None and job.started_at and job.finished_at and not stage.key.startswith("eval:"):
            out[stage.key] = round((job.finished_at - job.started_at).total_seconds(), 1)
    return out


def _rows(table: Any) -> dict[str, Row]:
    return {row.name: {"teacher": row.teacher, "student": row.student} for row in table.rows}


def collect(factory: Any, run: dict[str, Any]) -> dict[str, Any]:
    """One seed's tables (rendered) and numbers."""
    from app.domain.experiment_results import to_markdown
    from app.services import experiment_results

    result: dict[str, Any] = {"seed": run["seed"], "note": run["note"]}
    with factory() as s:
        for tag, key in (("method", "method_id"), ("ablation", "ablation_id")):
            if run[key] is None:
                continue
            found = experiment_results.run_results(s, run[key])
            result[tag] = {
                "experiment": found.experiment_name,
                "run_status": found.run_status,
                "scored": f"{found.scored}/{found.expected}",
                "rows": _rows(found.table),
                "markdown": to_markdown(found.table, per_class=True),
                "pseudo_labels": score_pseudo_labels(s, run[key]),
                "timings_s": _timings(s, run[key]),
            }
        if run["ablation_id"] is not None:
            table = experiment_results.compare(s, run["method_id"], run["ablation_id"]).table
            result["comparison_markdown"] = to_markdown(table)
    return result


def _median(values: list[float | None]) -> tuple[float | None, list[float | None]]:
    present = [v for v in values if v is not None]
    return (statistics.median(present) if present else None), values


def _cell(values: list[float | None]) -> str:
    middle, each = _median(values)
    if len(each) == 1:
        return _pct(middle)
    return f"{_pct(middle)} ({', '.join(_pct(v) for v in each)})"


def medians(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per evaluation set and per extra: teacher, students, pseudo-labels over seeds (median, values)."""

    def pick(seed: dict[str, Any], tag: str, name: str, who: str) -> float | None:
        value = seed.get(tag, {}).get("rows", {}).get(name, {}).get(who)
        return None if value is None else float(value)

    def pl(seed: dict[str, Any], tag: str, extra: str) -> float | None:
        value = seed.get(tag, {}).get("pseudo_labels", {}).get(extra, {}).get("miou")
        return None if value is None else float(value)

    names = [s["name"] for s in mr.evaluation_sets()]
    sets = {
        name: {
            "teacher": [pick(s, "method", name, "teacher") for s in per_seed],
            "student_priors": [pick(s, "method", name, "student") for s in per_seed],
            "student_no_priors": [pick(s, "ablation", name, "student") for s in per_seed],
        }
        for name in names
    }
    extras = [e.removeprefix("mini-") for e in mr.EXTRAS] + ["all extras"]
    labels = {
        extra: {
            "priors": [pl(s, "method", extra) for s in per_seed],
            "no_priors": [pl(s, "ablation", extra) for s in per_seed],
        }  # fmt: skip
        for extra in extras
    }
    return {"evaluation": sets, "pseudo_labels": labels}


def summary_markdown(table: dict[str, Any], seeds: list[int]) -> str:
    how = "median (per seed)" if len(seeds) > 1 else "one seed"
    lines = [
        f"mIoU × 100, {how}; seeds {', '.join(map(str, seeds))}.",
        "",
        "| evaluation set | teacher | student (priors) | student (no priors) |",
        "|---|---|---|---|",
    ]
    for name, row in table["evaluation"].items():
        cells = [_cell(row[k]) for k in ("teacher", "student_priors", "student_no_priors")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| pseudo-labels vs hidden fine truth | with priors | without priors |", "|---|---|---|"]
    for extra, row in table["pseudo_labels"].items():
        lines.append(f"| {extra} | {_cell(row['priors'])} | {_cell(row['no_priors'])} |")
    return "\n".join(lines) + "\n"


def write_report(factory: Any, runs: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> str:
    """Write ``results.md`` and ``results.json`` under ``out``; return the summary Markdown."""
    per_seed = [collect(factory, r) for r in runs]
    table = medians(per_seed)
    summary = summary_markdown(table, [r["seed"] for r in runs])
    parts = ["# Mini reproduction through the experiments", "", f"`{meta['command']}`", "",
             f"Sizes: {json.dumps(meta['sizes'])}; {meta['workers']} worker(s) × "
             f"{meta['torch_threads_per_worker']} torch thread(s); wall {meta['wall_seconds']:.0f} s.", "",
             "## Summary", "", summary]  # fmt: skip
    for seed in per_seed:
        parts += [f"## Seed {seed['seed']}", ""] + ([seed["note"], ""] if seed["note"] else [])
        for tag in ("method", "ablation"):
            if tag in seed:
                found = seed[tag]
                parts += [f"### {tag}: {found['experiment']} ({found['run_status']}, "
                          f"{found['scored']} evaluations scored)", "", found["markdown"],
                          f"Stage times (s): {json.dumps(found['timings_s'])}", ""]  # fmt: skip
        if "comparison_markdown" in seed:
            parts += ["### students: with priors (a) vs without (b)", "", seed["comparison_markdown"]]
    (out / "results.md").write_text("\n".join(parts), encoding="utf-8")
    record = {"meta": meta, "medians": table, "per_seed": per_seed}
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return summary
