"""The experiment form's model (web layer): form fields -> spec dict, refusals -> the field they name.

Form keys are the spec's own paths (``target_taxonomy``, ``teacher.model``, ``extras.3.mapping``,
``student.training.preset``, ``pseudo_label.tta``), so that a pydantic ``loc`` or a service's
``field`` (``extras.1.mapping``) finds its input directly. Set rows keep the number they were given
when added (HTMX add/remove leaves gaps); the spec lists them in order, so ``extras.1`` of the spec
is translated back to the form row it came from. Spec files (YAML or JSON) are parsed here too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.domain.errors import DomainError
from app.schemas.experiments import ExperimentSpec
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service

GROUPS = ("sources", "extras", "evaluation")
SET_FIELDS = ("dataset", "mapping", "version", "split", "weight")
PRESETS = (
    ("quick", "quick — minutes on a CPU (the demo)"),
    ("paper", "paper — the paper's recipe (hours on a GPU)"),
)
MAX_SPEC_BYTES = 256 * 1024
MAX_ROW = 999
_ROW_KEY = re.compile(r"^(sources|extras|evaluation)\.(\d{1,3})\.(dataset|mapping|version|split|weight)$")

# The demo experiment (``unilabel demo ml``, worker/demo_experiment.py): pre-filled when its objects exist.
DEMO = {
    "name": "demo-scenes",
    "description": "Synthetic fine source + two coarse extras (the paper's method in miniature)",
    "target_taxonomy": "demo-scenes-fine",
    "sources": [("demo-scenes-source", "demo-scenes-fine-identity", "train")],
    "extras": [
        ("demo-scenes-extra-a", "demo-scenes-coarse-to-fine", "train"),
        ("demo-scenes-extra-b", "demo-scenes-coarse-to-fine", "train"),
    ],
    "evaluation": [
        ("demo-scenes-source", "demo-scenes-fine-identity", "val"),
        ("demo-scenes-extra-a", "demo-scenes-coarse-to-fine", "val"),
    ],
}

Form = dict[str, str]
FieldErrors = dict[str, str]


@dataclass(slots=True)
class Built:
    """What a form or spec file became: the spec, or the messages per form key."""

    spec: ExperimentSpec | None
    errors: FieldErrors = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)  # group -> form row numbers, spec order


def row_numbers(form: Form) -> dict[str, list[int]]:
    """Each group's row numbers present in the form (sorted), filled in or not."""
    found: dict[str, set[int]] = {g: set() for g in GROUPS}
    for key in form:
        match = _ROW_KEY.match(key)
        if match:
            found[match.group(1)].add(int(match.group(2)))
    return {g: sorted(found[g]) for g in GROUPS}


def _set_rows(form: Form, group: str, numbers: list[int]) -> tuple[list[dict[str, Any]], list[int]]:
    rows, used = [], []
    for i in numbers:
        values = {f: form.get(f"{group}.{i}.{f}", "").strip() for f in SET_FIELDS}
        if not values["dataset"] and not values["mapping"]:
            continue  # an empty row is no set
        row: dict[str, Any] = {k: v for k, v in values.items() if v}
        rows.append(row)
        used.append(i)
    return rows, used


def _teacher(form: Form, errors: FieldErrors) -> dict[str, Any]:
    if form.get("teacher.mode", "train") == "model":
        model = form.get("teacher.model", "").strip()
        if not model:
            errors["teacher.model"] = "choose a registered model, or train the teacher on the sources"
        return {"model": model or None}
    return {"train": {"preset": form.get("teacher.train.preset") or "quick"}}


def spec_data(form: Form, errors: FieldErrors) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The spec as data (not validated yet) and the form rows each set list came from."""
    numbers = row_numbers(form)
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip(),
        "target_taxonomy": form.get("target_taxonomy", "").strip(),
        "teacher": _teacher(form, errors),
        "student": {"training": {"preset": form.get("student.training.preset") or "quick"}},
        "pseudo_label": {"tta": bool(form.get("pseudo_label.tta"))},
        "rounds": form.get("rounds", "").strip() or 1,
    }
    start = form.get("student.start_model", "").strip()
    if start:
        data["student"]["start_model"] = start
    rows: dict[str, list[int]] = {}
    for group in GROUPS:
        data[group], rows[group] = _set_rows(form, group, numbers[group])
    return data, rows


def form_key(path: list[str], rows: dict[str, list[int]], known: set[str]) -> str:
    """A spec path (``["extras", "1", "mapping"]``) -> the form key its message goes under ("": top)."""
    if path and path[0] in GROUPS:
        group = path[0]
        if len(path) >= 3 and path[1].isdigit():
            numbers = rows.get(group, [])
            index = int(path[1])
            if index < len(numbers):
                key = f"{group}.{numbers[index]}.{path[2]}"
                return key if path[2] in SET_FIELDS else f"{group}.{numbers[index]}.dataset"
        return group  # the group's own message (e.g. "at least 1 item")
    joined = ".".join(path)
    if joined in known:
        return joined
    if path[:1] == ["teacher"]:
        return "teacher.model" if "teacher.model" in known else "teacher.mode"
    if path[:2] == ["student", "training"]:
        return "student.training.preset"
    return ""


def _add(errors: FieldErrors, key: str, path: list[str], message: str) -> None:
    text = message if key or not path else f"{'.'.join(path)}: {message}"
    errors[key] = f"{errors[key]}; {text}" if key in errors else text


def add_errors(
    exc: DomainError | ValidationError, errors: FieldErrors, rows: dict[str, list[int]], known: set[str]
) -> None:
    """Every message of a refusal, each under the form key it names."""
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            path = [str(p) for p in err.get("loc", ())]
            message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            _add(errors, form_key(path, rows, known), path, message)
        return
    listed = (exc.details or {}).get("errors") or [exc.to_dict()]
    for item in listed:
        path = str(item.get("field") or "").split(".") if item.get("field") else []
        _add(errors, form_key(path, rows, known), path, str(item.get("message", exc.message)))


def known_keys(form: Form) -> set[str]:
    keys = {"name", "description", "target_taxonomy", "teacher.mode", "teacher.model", "rounds"}
    keys |= {"teacher.train.preset", "student.training.preset", "student.start_model", "pseudo_label.tta"}
    keys |= set(GROUPS)
    for group, numbers in row_numbers(form).items():
        keys |= {f"{group}.{i}.{f}" for i in numbers for f in SET_FIELDS}
    return keys


def build_from_form(form: Form) -> Built:
    errors: FieldErrors = {}
    data, rows = spec_data(form, errors)
    if errors:
        return Built(None, errors, rows)
    try:
        return Built(ExperimentSpec.model_validate(data), errors, rows)
    except ValidationError as exc:
        add_errors(exc, errors, rows, known_keys(form))
        return Built(None, errors, rows)


def build_from_text(text: str) -> Built:
    """A spec file's text (YAML, or JSON: a subset of YAML) -> the spec, or messages under ``spec_text``."""
    if not text.strip():
        return Built(None, {"spec_text": "paste a spec or choose a file (YAML or JSON)"})
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return Built(None, {"spec_text": f"not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}"})
    if not isinstance(data, dict):
        return Built(None, {"spec_text": "a spec is a mapping (name, teacher, sources, extras, ...)"})
    try:
        return Built(ExperimentSpec.model_validate(data))
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            messages.append(f"{loc}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return Built(None, {"spec_text": "; ".join(messages)})


def spec_text_errors(exc: DomainError) -> FieldErrors:
    """A service refusal of a pasted spec: each message with the spec path it names."""
    listed = (exc.details or {}).get("errors") or [exc.to_dict()]
    parts = [
        f"{item['field']}: {item['message']}" if item.get("field") else str(item["message"])
        for item in listed
    ]
    return {"spec_text": "; ".join(parts)}


def options(session: Session) -> dict[str, Any]:
    """The registered objects the form offers (by name: a spec names them so)."""
    taxonomies, _ = taxonomy_service.list_taxonomies(session, limit=500)
    datasets, _ = dataset_service.list_datasets(session, limit=500)
    mappings, _ = mapping_service.list_mappings(session, limit=500)
    models, _ = model_service.list_models(session, limit=500)
    return {
        "taxonomies": [t.name for t in taxonomies],
        "datasets": [d.name for d in datasets],
        "mappings": [m.name for m in mappings],
        "models": [(m.name, f"{m.name} ({m.role})") for m in models],
        "splits": sorted({s for d in datasets for s in json.loads(d.splits_json or "[]")}),
        "presets": PRESETS,
    }


def initial_form(opts: dict[str, Any]) -> Form:
    """The form's starting values: the demo experiment when its objects are registered."""
    form: Form = {"teacher.mode": "train", "teacher.train.preset": "quick", "rounds": "1"}
    form |= {"student.training.preset": "quick"}
    have = (
        set(opts["datasets"]) | {f"m:{m}" for m in opts["mappings"]} | {f"t:{t}" for t in opts["taxonomies"]}
    )
    demo_ok = f"t:{DEMO['target_taxonomy']}" in have and all(
        d in have and f"m:{m}" in have for g in GROUPS for d, m, _ in DEMO[g]
    )
    if not demo_ok:
        for group in GROUPS:
            form |= {f"{group}.0.dataset": "", f"{group}.0.weight": "1"}
        return form
    form |= {"name": str(DEMO["name"]), "description": str(DEMO["description"])}
    form["target_taxonomy"] = str(DEMO["target_taxonomy"])
    for group in GROUPS:
        for i, (dataset, mapping, split) in enumerate(DEMO[group]):
            form |= {f"{group}.{i}.dataset": dataset, f"{group}.{i}.mapping": mapping}
            form |= {f"{group}.{i}.split": split, f"{group}.{i}.weight": "1"}
    return form
