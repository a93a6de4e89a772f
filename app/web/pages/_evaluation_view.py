"""View models of the evaluation pages (web layer): confusion heat-map rows, comparison cells and
groups of comparable evaluations, all as plain values the templates print (no Python reprs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.domain.evaluation import VOID_NAME, row_shares
from app.web.pages._charts import shade
from app.web.pages._training_view import VOID_COLOR

DELTA_NOTABLE = 0.005  # a difference below half a point of IoU is shown but not coloured


def confusion_view(report: dict[str, Any]) -> dict[str, Any] | None:
    """Rows of shaded cells: share of each true class's pixels predicted as each class (or void)."""
    matrix = report.get("confusion") or []
    if not matrix:
        return None
    colors = {c["name"]: c.get("color") for c in report["per_class"]}
    names = list(report["class_names"])
    rows = []
    for i, (counts, shares) in enumerate(zip(matrix, row_shares(matrix), strict=True)):
        cells = []
        for j, (count, share) in enumerate(zip(counts, shares, strict=True)):
            background, text = shade(share)
            cells.append({"count": count, "share": share, "bg": background, "fg": text, "diag": i == j})
        name = names[i] if i < len(names) else str(i)
        rows.append({"name": name, "color": colors.get(name), "pixels": sum(counts), "cells": cells})
    columns = [(n, colors.get(n)) for n in names] + [(VOID_NAME, VOID_COLOR)]
    return {"columns": columns, "rows": rows}


def delta_class(delta: float | None) -> str:
    """CSS class of a difference cell: ``delta-up`` / ``delta-down`` past the notable threshold."""
    if delta is None or abs(delta) < DELTA_NOTABLE:
        return "delta-flat"
    return "delta-up" if delta > 0 else "delta-down"


def comparison_view(comparison: dict[str, Any]) -> dict[str, Any]:
    """Header rows (one per evaluation, mIoU difference to the first) and per-class cells."""
    runs = comparison["evaluations"]
    base = runs[0].get("miou")
    heads = []
    for k, r in enumerate(runs):
        delta = None if k == 0 or base is None or r.get("miou") is None else r["miou"] - base
        heads.append(r | {"delta": delta, "delta_class": delta_class(delta), "baseline": k == 0})
    rows = []
    for c in comparison["classes"]:
        cells = [
            {
                "iou": iou,
                "delta": delta,
                "delta_class": delta_class(delta),
                "best": c["best"] == k,
            }
            for k, (iou, delta) in enumerate(zip(c["ious"], c["deltas"], strict=True))
        ]
        spread = [v for v in c["ious"] if v is not None]
        gap = max(spread) - min(spread) if len(spread) > 1 else 0.0
        rows.append(c | {"cells": cells, "differs": gap >= DELTA_NOTABLE})
    return {"runs": heads, "rows": rows, "differing": sum(1 for r in rows if r["differs"])}


def comparable_key(summary: dict[str, Any]) -> tuple[Any, ...]:
    """Evaluations with the same key can be compared (the service checks classes and limits too)."""
    return summary["dataset_id"], summary["split"], summary["mapping_hash"]


def groups(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluations grouped by dataset, split and mapping content, newest group first."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for s in summaries:
        group = out.setdefault(comparable_key(s), {"first": s, "items": []})
        group["items"].append(s)
    return list(out.values())


def compare_url(job_ids: Iterable[int]) -> str:
    return "/evaluations/compare?" + "&".join(f"job_id={i}" for i in job_ids)
