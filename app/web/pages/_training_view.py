"""View model of the training panel (web layer): metrics -> charts, IoU table, confusion heatmap."""

from __future__ import annotations

from typing import Any

from app.web.pages._charts import PALETTE, Chart, Series, line_chart, shade

VOID_COLOR = "#596273"


def _loss_chart(train: list[dict[str, Any]], total: int | None) -> Chart:
    points = [(float(r["step"]), float(r["train/loss"])) for r in train if r.get("train/loss") is not None]
    return line_chart([Series("training loss", points, PALETTE[0], dots=len(points) <= 12)], x_max=total)


def _miou_chart(val: list[dict[str, Any]], set_names: list[str], total: int | None) -> Chart:
    series = [
        Series(
            "pooled" if len(set_names) > 1 else (set_names[0] if set_names else "pooled"),
            [(float(r["step"]), float(r["val/miou"])) for r in val if r.get("val/miou") is not None],
            PALETTE[0],
            dots=True,
        )
    ]
    if len(set_names) > 1:
        for i, name in enumerate(set_names):
            key = f"val/{name}/miou"
            points = [(float(r["step"]), float(r[key])) for r in val if r.get(key) is not None]
            series.append(Series(name, points, PALETTE[(i + 1) % len(PALETTE)], dots=True))
    return line_chart(series, y_range=(0.0, 1.0), x_max=total)


def _confusion(best: dict[str, Any], set_name: str = "pooled") -> dict[str, Any] | None:
    """Rows of shaded cells: share of each truth class's pixels predicted as each class (or void)."""
    matrix = best.get("confusion", {}).get(set_name)
    if not matrix:
        return None
    colors = {c["name"]: c.get("color") for c in best.get("per_class_iou", [])}
    names = list(best.get("class_names", []))
    columns = [(n, colors.get(n)) for n in names] + [("void", VOID_COLOR)]
    rows = []
    for i, counts in enumerate(matrix):
        total = sum(counts)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total else 0.0
            background, text = shade(share)
            cells.append({"count": count, "share": share, "bg": background, "fg": text, "diag": i == j})
        name = names[i] if i < len(names) else str(i)
        rows.append({"name": name, "color": colors.get(name), "pixels": total, "cells": cells})
    return {"set": set_name, "columns": columns, "rows": rows}


def panel_context(job: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """Everything ``training/_job_panel.html`` renders for ``job`` (a ``JobRead`` payload)."""
    params = job.get("params", {})
    set_names = [str(v.get("name")) for v in params.get("val_sets", [])]
    train, val, best = metrics["train"], metrics["val"], metrics["best"]
    total = job.get("progress_total") or params.get("recipe", {}).get("max_iterations")
    last_train = train[-1] if train else {}
    best_val = max((r.get("val/miou") or 0.0 for r in val), default=None)
    return {
        "loss_chart": _loss_chart(train, total),
        "miou_chart": _miou_chart(val, set_names, total),
        "last_train": last_train,
        "lrs": {
            k.removeprefix("lr/"): v
            for k, v in last_train.items()
            if k.startswith("lr/") and not k.endswith("_no_decay")
        },
        "validations": len(val),
        "best_val_miou": best_val,
        "best": best,
        "per_class": best.get("per_class_iou", []) if best else [],
        "confusion": _confusion(best) if best else None,
        "model_id": metrics.get("model_id"),
        "result": job.get("result") or {},
        "val_sets": set_names,
    }
