"""``unilabel train``: student training from a JSON spec, without any server (worker layer).

``register_train(app)`` adds the command to the main ``unilabel`` app. torch is imported inside the
command only, so ``unilabel --help`` stays fast.

The spec (paths relative to the spec file's folder)::

    {
      "target": "master_labels_unified.csv",          # or a class-list labels.csv
      "train_sets": [
        {"name": "cityscapes", "kind": "ground_truth", "weight": 1.0,
         "root": "data/cityscapes", "images": "leftImg8bit/train/*/{stem}_leftImg8bit.png",
         "labels": "gtFine/train/{dir}/{stem}_gtFine_labelIds.png", "label_encoding": "ids8",
         "source_taxonomy": "cityscapes/labels.csv", "mapping": "master_labels_unified.csv"},
        {"name": "mapillary-pl", "kind": "pseudo_labels", "weight": 1.0,
         "root": "data/mapillary", "list": "train.txt", "run_dir": "runs/pl-mapillary"}
      ],
      "val_sets": [ ... same fields as a ground-truth set ... ],
      "recipe": {"preset": "paper", "max_iterations": 90000, "augment": {"crop_size": [512, 1024]}}
    }

``recipe`` names a preset (``paper``, the default; ``quick``; ``custom``: see
``app.domain.training_presets``) and holds any :class:`worker.ml.train.config.TrainConfig` field
over it; ``--preset`` and the other command-line options win.
Several GPUs: ``accelerate launch --multi_gpu --num_processes 4 "$(which unilabel)" train ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.domain.errors import DomainError
from worker.cli_inputs import fail

if TYPE_CHECKING:
    from app.domain.taxonomy import Taxonomy
    from worker.ml.train.datasets import LabeledSet

TRAIN_HELP = (
    "Train a student Mask2Former on ground-truth and pseudo-label sets. The recipe starts from a "
    "preset (--preset or recipe.preset: paper, the default, is the paper's recipe; quick is the demo's; "
    "custom). The JSON spec names the target (a master_labels "
    "CSV or a class-list labels.csv), train_sets (kind ground_truth: root, images/labels or list, "
    "label_encoding, source_taxonomy, mapping; kind pseudo_labels: root, images/labels or list, "
    "run_dir; both: name, weight), val_sets, and an optional recipe of TrainConfig fields; paths "
    "are relative to the spec file. Resumes from --out's last checkpoint. See docs/training.md."
)
SpecOpt = Annotated[Path, typer.Option("--spec", help="training spec (JSON), see docs/training.md")]
OutOpt = Annotated[Path, typer.Option("--out", help="run folder: checkpoints, metrics.jsonl, tensorboard/")]


def register_train(app: typer.Typer) -> None:
    """Add ``unilabel train`` to the main app."""
    app.command("train", help=TRAIN_HELP)(train_command)


def train_command(
    spec: SpecOpt,
    out: OutOpt,
    start_model: Annotated[
        str | None, typer.Option("--start-model", help="checkpoint/HF folder or cached id")
    ] = None,
    iterations: Annotated[int | None, typer.Option("--iterations", min=1, help="optimizer steps")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="per device")] = None,
    val_every: Annotated[
        int | None, typer.Option("--val-every", min=1, help="iterations (default: each epoch)")
    ] = None,
    patience: Annotated[int | None, typer.Option("--patience", min=1, help="early stopping")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="paper (default) | quick | custom; see docs/training.md")
    ] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="train on CPU even when a GPU is present")] = False,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="continue from --out's last checkpoint")
    ] = True,
) -> None:
    """Train a student Mask2Former on ground-truth and pseudo-label sets (weighted sampling)."""
    from worker.ml.train import TrainConfig, train

    try:
        data = json.loads(spec.read_text())
        base = spec.resolve().parent
        target = _target_taxonomy(base / data["target"])
        train_sets = [_labeled_set(base, s, target) for s in data["train_sets"]]
        val_sets = [
            _labeled_set(base, {"kind": "ground_truth", **s}, target) for s in data.get("val_sets", [])
        ]
        options = {
            "start_model": start_model,
            "max_iterations": iterations,
            "epochs": epochs,
            "batch_size": batch_size,
            "val_every": val_every,
            "early_stopping_patience": patience,
            "seed": seed,
        }
        given = dict(data.get("recipe", {}))
        name = preset or given.pop("preset", "paper")
        given.pop("preset", None)
        recipe = _merge(preset_config(name), given)
        recipe.update({k: v for k, v in options.items() if v is not None})
        recipe.update(output_dir=str(out), class_names=list(target.names), resume=resume, cpu=cpu)
        config = TrainConfig.from_json(recipe)
    except (OSError, KeyError, TypeError, ValueError, DomainError) as exc:
        raise fail(f"{spec}: {exc}") from exc
    bar = _Bar()
    try:
        result = train(config, train_sets, val_sets, on_progress=bar)
    finally:
        bar.close()
    typer.echo(json.dumps(json.loads((out / "result.json").read_text()), indent=2))
    typer.echo(f"stopped: {result.stop_reason} at iteration {result.final_step}/{result.total_iterations}")


def preset_config(name: str) -> dict[str, Any]:
    """``TrainConfig`` values of preset ``name`` (its recipe with nothing overridden)."""
    from app.schemas.training import TrainRecipe

    if name not in ("paper", "quick", "custom"):
        raise ValueError(f"unknown preset {name!r}: use paper, quick or custom")
    return TrainRecipe.model_validate({"preset": name}).config_values()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``; the nested ``augment`` dict is merged key by key."""
    merged = {**base, **over}
    if isinstance(over.get("augment"), dict):
        merged["augment"] = {**base.get("augment", {}), **over["augment"]}
    return merged


def _target_taxonomy(path: Path) -> Taxonomy:
    """Target classes from a ``master_labels_*.csv`` or a class-list ``labels.csv``."""
    from app.domain.reference_csv import (
        parse_labels_csv,
        parse_master_labels_csv,
        target_taxonomy_from_master,
    )

    text = path.read_text()
    if path.name.startswith("master_labels"):
        return target_taxonomy_from_master(
            parse_master_labels_csv(text), path.stem.removeprefix("master_labels_")
        )
    taxonomy = parse_labels_csv(text, path.stem)
    if not taxonomy.is_class_list():
        raise ValueError(f"{path} is not a class list 0..N-1 and cannot be a target taxonomy")
    return taxonomy


def _labeled_set(base: Path, entry: dict[str, Any], target: Taxonomy) -> LabeledSet:
    """One spec entry -> a :class:`LabeledSet` (ground truth mapped with its mapping's lookup table)."""
    from app.domain.label_codec import LabelEncoding
    from worker.ml.data import PairDataset, resolve_pairs
    from worker.ml.train.datasets import DatasetPairs, LabeledSet, PseudoLabelPairs

    root = base / entry["root"]
    pairing = resolve_pairs(
        root,
        list_file=base / entry["list"] if "list" in entry else None,
        image_pattern=entry.get("images"),
        label_template=entry.get("labels"),
    )
    if not pairing.pairs:
        raise ValueError(f"set {entry.get('name')!r}: no image/label pairs under {root}")
    name, weight = str(entry.get("name", root.name)), float(entry.get("weight", 1.0))
    if entry["kind"] == "pseudo_labels":
        source = PseudoLabelPairs(root, base / entry["run_dir"], pairing.pairs)
        return LabeledSet(
            name, source, kind="pseudo_labels", weight=weight, provenance={"run_dir": entry["run_dir"]}
        )
    if entry["kind"] != "ground_truth":
        raise ValueError(f"set {name!r}: kind must be ground_truth or pseudo_labels, got {entry['kind']!r}")
    source_taxonomy, priors, mapping_hash = _mapping(base, entry, target)
    encoding = LabelEncoding(entry.get("label_encoding", "ids8"))
    dataset = PairDataset(root, pairing.pairs, encoding=encoding, colors=source_taxonomy.colors)
    provenance = {"root": str(root), "mapping_hash": mapping_hash, "source_taxonomy": source_taxonomy.name}
    return LabeledSet(name, DatasetPairs(dataset), weight=weight, lut=priors.lut, provenance=provenance)


def _mapping(base: Path, entry: dict[str, Any], target: Taxonomy) -> tuple[Taxonomy, Any, str]:
    from app.domain.priors import compile_priors
    from app.domain.reference_csv import (
        parse_labels_csv,
        parse_master_labels_csv,
        target_taxonomy_from_master,
    )

    source_csv = base / entry["source_taxonomy"]
    source = parse_labels_csv(source_csv.read_text(), source_csv.parent.name or source_csv.stem)
    master = parse_master_labels_csv((base / entry["mapping"]).read_text())
    mapped_target = target_taxonomy_from_master(master, target.name)
    if mapped_target.names != target.names:
        raise ValueError(
            f"set {entry.get('name')!r}: its mapping's target classes differ from the spec's target"
        )
    return source, compile_priors(master.mapping, source, target), master.mapping.content_hash()


class _Bar:
    """tqdm bar over iterations, fed by :class:`app.domain.jobs.Progress`."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc="train", unit="it", dynamic_ncols=True)

    def __call__(self, progress: Any) -> None:
        self._bar.total = progress.total
        self._bar.n = progress.current
        self._bar.set_postfix_str(progress.message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
