"""The provenance card of a model page (web layer): readable rows built from the model's recorded
provenance and its checkpoint's metadata, never a Python repr of either.

Each row is a label and a list of parts (text, optional link, optional code value); keys the card
does not know are passed on as ``extra`` and rendered by ``macros/values.html`` (readable values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KNOWN = {
    "classes_checked", "train_job_id", "start_model_id", "architecture", "training_sets",
    "validation_sets", "recipe", "preset", "overrides", "nonfinite_steps", "best_step",
    "best_metrics", "stop_reason",
}  # fmt: skip
RECIPE_KEYS = (
    ("max_iterations", "iterations"), ("epochs", "epochs"), ("batch_size", "batch"), ("lr", "lr"),
    ("encoder_lr", "encoder lr"), ("schedule", "schedule"), ("seed", "seed"),
)  # fmt: skip
CHECKPOINT_ORIGIN = ("note", "kind", "seed", "converted_from", "source")


@dataclass(slots=True)
class Part:
    text: str
    href: str | None = None
    code: str | None = None  # shown in <code> after the text (hashes, paths); title = the full value


@dataclass(slots=True)
class Row:
    label: str
    lines: list[list[Part]] = field(default_factory=list)  # each line a list of parts


def _line(label: str, text: str, href: str | None = None) -> Row:
    return Row(label, [[Part(text, href)]])


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _set_parts(s: dict[str, Any], names: dict[str, dict[int, Any]], role: str) -> list[Part]:
    did = s.get("dataset_id")
    dataset = names["datasets"].get(int(did or 0)) or s.get("dataset") or (f"dataset #{did}" if did else "?")
    parts = [
        Part(f"{role} set {s.get('name', '')}: "),
        Part(str(dataset), f"/datasets/{did}" if did else None),
    ]
    details = []
    if s.get("split"):
        details.append(f"split {s['split']}")
    if s.get("kind") == "pseudo_labels":
        details.append(f"pseudo-labels of job #{s.get('pseudo_label_job_id')}")
    else:
        details.append("ground truth")
    if s.get("images") is not None:
        details.append(f"{s['images']} images")
    if s.get("weight") is not None and role == "training":
        details.append(f"weight {_num(s['weight'])}")
    parts.append(Part(" · " + " · ".join(details)))
    return parts


def _teacher(p: dict[str, Any], names: dict[str, dict[int, Any]]) -> Row:
    row = Row("Teacher")
    start = p.get("start_model_id")
    if start:
        label = names["models"].get(start, f"model #{start}")
        row.lines.append([Part("fine-tuned from "), Part(label, f"/models/{start}")])
    else:
        row.lines.append([Part(f"trained from a fresh {p.get('architecture') or 'model'} (no start model)")])
    for s in p.get("training_sets") or []:
        tid = s.get("teacher_model_id") if isinstance(s, dict) else None
        if tid:
            label = names["models"].get(tid, f"model #{tid}")
            job = s.get("pseudo_label_job_id")
            row.lines.append(
                [Part("pseudo-labels by "), Part(label, f"/models/{tid}"), Part(f" (job #{job})")]
            )
    return row


def _mappings(p: dict[str, Any], names: dict[str, dict[int, Any]]) -> Row:
    row = Row("Mapping")
    seen: set[tuple[Any, Any]] = set()
    for s in [*(p.get("training_sets") or []), *(p.get("validation_sets") or [])]:
        key = (s.get("mapping_version_id"), s.get("mapping_hash"))
        if key in seen or key == (None, None):
            continue
        seen.add(key)
        vid, content_hash = key
        info = names["mappings"].get(vid) if vid else None
        if info:
            href = f"/mappings/{info['mapping_id']}/versions"
            row.lines.append([Part(f"{info['name']} v{info['number']}", href, content_hash)])
        else:
            row.lines.append([Part(f"version #{vid}" if vid else "version not recorded", None, content_hash)])
    if not row.lines:
        row.lines.append([Part("not recorded")])
    return row


def _recipe(p: dict[str, Any]) -> Row:
    recipe = p.get("recipe") or {}
    preset = p.get("preset") or recipe.get("preset")
    values = [f"{label} {_num(recipe[k])}" for k, label in RECIPE_KEYS if recipe.get(k) is not None]
    if recipe.get("crop_size"):
        values.append("crop " + "×".join(str(v) for v in recipe["crop_size"]))
    overrides = p.get("overrides") or recipe.get("overrides") or []
    text = f"preset {preset}" if preset else "no preset"
    text += f" (changed: {', '.join(map(str, overrides))})" if overrides else " (unchanged)"
    return _line("Recipe", text + (" · " + " · ".join(values) if values else ""))


def _result(p: dict[str, Any]) -> Row | None:
    best = p.get("best_metrics") or {}
    bits = []
    if p.get("best_step") is not None:
        bits.append(f"best checkpoint at iteration {p['best_step']}")
    for key, label in (("miou", "mIoU"), ("pixel_accuracy", "pixel accuracy")):
        if isinstance(best.get(key), int | float):
            bits.append(f"{label} {best[key]:.3f}")
    if p.get("stop_reason"):
        bits.append(f"stopped: {str(p['stop_reason']).replace('_', ' ')}")
    if p.get("nonfinite_steps"):
        bits.append(f"{p['nonfinite_steps']} non-finite steps skipped")
    return _line("Result", " · ".join(bits)) if bits else None


def _code(checkpoint: dict[str, Any]) -> Row:
    keys = [("unilabel_version", "unilabel"), ("torch_version", "torch")]
    keys.append(("transformers_version", "transformers"))
    bits = [f"{label} {checkpoint[k]}" for k, label in keys if checkpoint.get(k)]
    if checkpoint.get("saved_at"):
        bits.append(f"written {str(checkpoint['saved_at'])[:19].replace('T', ' ')} UTC")
    return _line("Code version", " · ".join(bits) if bits else "not recorded")


def provenance_card(
    provenance: dict[str, Any], checkpoint: dict[str, Any], names: dict[str, dict[int, Any]]
) -> dict[str, Any]:
    """``rows`` (label + parts), ``trained`` (a job of this app trained it) and ``extra`` (unknown keys)."""
    p = provenance
    trained = p.get("train_job_id") is not None
    rows: list[Row] = []
    if trained:
        job = p["train_job_id"]
        rows += [
            Row("Origin", [[Part("trained by "), Part(f"job #{job}", f"/jobs/{job}")]]),
            _teacher(p, names),
        ]
        sets = Row("Datasets")
        sets.lines += [_set_parts(s, names, "training") for s in p.get("training_sets") or []]
        sets.lines += [_set_parts(s, names, "validation") for s in p.get("validation_sets") or []]
        rows += [sets, _mappings(p, names), _recipe(p)]
        result = _result(p)
        if result is not None:
            rows.append(result)
    else:
        named = ("kind", "seed", "source")
        origin = [
            f"{k.replace('_', ' ')} {checkpoint[k]}" if k in named else str(checkpoint[k])
            for k in CHECKPOINT_ORIGIN
            if checkpoint.get(k) not in (None, "")
        ]
        text = "registered checkpoint, not trained here (no teacher, dataset, mapping or recipe recorded)"
        rows.append(_line("Origin", " · ".join([text, *origin])))
    checked = p.get("classes_checked")
    classes = (
        "checked against the taxonomy at registration"
        if checked
        else "checked by a worker when a job loads it"
    )
    rows.append(_line("Classes", classes))
    rows.append(_code(checkpoint))
    extra = {k: v for k, v in p.items() if k not in KNOWN}
    return {"rows": rows, "trained": trained, "extra": extra}
