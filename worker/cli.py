"""ML commands of the ``unilabel`` CLI: pseudo-label, evaluate, model info/convert/init-tiny (worker layer).

``register(app)`` is found through the ``unilabel.cli`` entry-point group. torch and transformers
are imported inside the commands only, so ``unilabel --help`` stays fast and torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.domain.errors import DomainError

if TYPE_CHECKING:
    from app.domain.pairing import Pair
    from app.domain.priors import CompiledPriors
    from app.domain.taxonomy import Taxonomy
    from worker.ml.modeling import Normalization

model_app = typer.Typer(help="Inspect, convert and create teacher models.", no_args_is_help=True)

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="unilabel/HF folder, cached HF id, or paper .pth")
]
RootOpt = Annotated[Path, typer.Option("--root", help="dataset root; paths below are relative to it")]
ImagesOpt = Annotated[
    str | None, typer.Option("--images", help="image pattern, e.g. 'images/{split}/{stem}.jpg'")
]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="label template, e.g. 'labels/{split}/{stem}_labelids.png'")
]
ListOpt = Annotated[Path | None, typer.Option("--list", help="list file of 'image label' lines")]
EncodingOpt = Annotated[str, typer.Option("--label-encoding", help="ids8 | ids16 | panoptic16 | rgb")]
SourceOpt = Annotated[Path | None, typer.Option("--source-taxonomy", help="source labels.csv")]
MappingOpt = Annotated[Path | None, typer.Option("--mapping", help="master_labels_<target>.csv")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")]
TtaOpt = Annotated[bool, typer.Option("--tta/--no-tta", help="flip + 6 scales, averaged")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1)]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, help="decode worker processes")]
TrustOpt = Annotated[bool, typer.Option("--trust-pickle", help="allow arbitrary unpickling of .pth files")]
MeanOpt = Annotated[str | None, typer.Option("--mean", help="override normalisation mean, 0-255: 'r,g,b'")]
StdOpt = Annotated[str | None, typer.Option("--std", help="override normalisation std, 0-255: 'r,g,b'")]


def register(app: typer.Typer) -> None:
    """Add the ML commands to the main ``unilabel`` app."""
    app.command("pseudo-label")(pseudo_label_command)
    app.command("evaluate")(evaluate_command)
    app.add_typer(model_app, name="model")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _normalization(mean: str | None, std: str | None) -> Normalization | None:
    from worker.ml.modeling import Normalization

    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise _fail("--mean and --std go together")
    try:
        return Normalization.from_json(
            {"mean": [float(v) for v in mean.split(",")], "std": [float(v) for v in std.split(",")]}
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class _Taxonomies:
    source: Taxonomy | None
    target: Taxonomy | None
    priors: CompiledPriors | None
    mapping_hash: str | None


def _load_taxonomies(source_csv: Path | None, mapping_csv: Path | None) -> _Taxonomies:
    from app.domain.priors import compile_priors
    from app.domain.reference_csv import (
        parse_labels_csv,
        parse_master_labels_csv,
        target_taxonomy_from_master,
    )

    source = (
        parse_labels_csv(source_csv.read_text(), source_csv.parent.name or "source") if source_csv else None
    )
    if mapping_csv is None:
        return _Taxonomies(source, None, None, None)
    master = parse_master_labels_csv(mapping_csv.read_text())
    target = target_taxonomy_from_master(master, mapping_csv.stem.removeprefix("master_labels_") or "target")
    if source is None:
        raise _fail("--mapping needs --source-taxonomy")
    mapping = master.mapping
    return _Taxonomies(source, target, compile_priors(mapping, source, target), mapping.content_hash())


def _pairs(root: Path, list_file: Path | None, images: str | None, labels: str | None) -> list[Pair]:
    from worker.ml.data import resolve_pairs

    if list_file is None and images is None:
        raise _fail("give --list FILE or --images PATTERN (with --labels TEMPLATE)")
    result = resolve_pairs(root, list_file=list_file, image_pattern=images, label_template=labels)
    for p in result.problems[:20]:
        typer.secho(
            f"skipped: {p.image or ''} {p.label or ''} line {p.line or '-'}: {p.message}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if len(result.problems) > 20:
        typer.secho(
            f"... and {len(result.problems) - 20} more pairing problems", fg=typer.colors.YELLOW, err=True
        )
    if not result.pairs:
        raise _fail(f"no image/label pairs found under {root}")
    return list(result.pairs)


def _check_classes(teacher_names: tuple[str, ...], target: Taxonomy | None) -> None:
    if target is None:
        return
    if len(teacher_names) != target.num_classes:
        raise _fail(f"the model has {len(teacher_names)} classes, the mapping's target {target.num_classes}")
    differ = [(i, a, b) for i, (a, b) in enumerate(zip(teacher_names, target.names, strict=True)) if a != b]
    if differ:
        typer.secho(
            f"warning: model class names differ from the mapping's target, e.g. {differ[:3]}",
            fg=typer.colors.YELLOW,
            err=True,
        )


class _Bar:
    """tqdm progress bar fed by :class:`app.domain.jobs.Progress` callbacks."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc=desc, unit="img", dynamic_ncols=True)

    def __call__(self, progress: Any) -> None:
        self._bar.total = progress.total
        self._bar.n = progress.current
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def pseudo_label_command(
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")],
    root: RootOpt = Path("."),
    images: ImagesOpt = None,
    labels: LabelsOpt = None,
    list_file: ListOpt = None,
    label_encoding: EncodingOpt = "ids8",
    source_taxonomy: SourceOpt = None,
    mapping: MappingOpt = None,
    no_priors: Annotated[
        bool, typer.Option("--no-priors", help="plain argmax, no ground truth used")
    ] = False,
    tta: TtaOpt = False,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = 1,
    workers: WorkersOpt = 2,
    confidence: Annotated[bool, typer.Option("--confidence", help="also write confidence PNGs")] = False,
    teacher_maps: Annotated[
        bool, typer.Option("--teacher-maps", help="also write the unconstrained teacher argmax PNGs")
    ] = False,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="rewrite existing outputs")] = False,
    trust_pickle: TrustOpt = False,
    mean: MeanOpt = None,
    std: StdOpt = None,
) -> None:
    """Pseudo-label a dataset with a teacher, constrained by the mapping's dataset priors."""
    from worker.ml.checkpoints import load_model
    from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig
    from worker.ml.pseudo_label import run_pseudo_labeling

    try:
        tax = _load_taxonomies(source_taxonomy, None if no_priors else mapping)
        if not no_priors and tax.priors is None:
            raise _fail("priors need --source-taxonomy and --mapping (or pass --no-priors)")
        pairs = _pairs(root, list_file, images, None if no_priors else labels)
        teacher = load_model(
            model, trust_pickle=trust_pickle, device=_device(device), normalization=_normalization(mean, std)
        )
        _check_classes(teacher.class_names, tax.target)
        config = PseudoLabelConfig(
            out_dir=out,
            inference=InferenceConfig(device=_device(device), batch_size=batch_size, tta=tta),
            use_priors=not no_priors,
            write_confidence=confidence,
            write_teacher=teacher_maps,
            threshold=threshold,
            overwrite=overwrite,
        )
        bar = _Bar("pseudo-label")
        try:
            summary = run_pseudo_labeling(
                config,
                teacher,
                pairs,
                DataConfig(root=root, label_encoding=label_encoding, num_workers=workers),  # type: ignore[arg-type]
                priors=tax.priors,
                source=tax.source,
                mapping_hash=tax.mapping_hash,
                on_progress=bar,
            )
        finally:
            bar.close()
    except DomainError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        f"written {summary.written}, skipped (existing) {summary.skipped_existing}, failed {summary.failed} "
        f"of {summary.total}; void {summary.void_fraction:.1%}, corrected {summary.correction_rate:.1%}; "
        f"views {', '.join(summary.views)}; {summary.seconds:.1f}s -> {out}"
    )
    for err in summary.errors[:10]:
        typer.secho(f"failed: {err['error']}", fg=typer.colors.YELLOW, err=True)


def evaluate_command(
    model: ModelOpt,
    root: RootOpt = Path("."),
    images: ImagesOpt = None,
    labels: LabelsOpt = None,
    list_file: ListOpt = None,
    label_encoding: EncodingOpt = "ids8",
    source_taxonomy: SourceOpt = None,
    mapping: MappingOpt = None,
    tta: TtaOpt = False,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = 1,
    workers: WorkersOpt = 2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the metrics as JSON")] = None,
    trust_pickle: TrustOpt = False,
    mean: MeanOpt = None,
    std: StdOpt = None,
) -> None:
    """Evaluate a model (mIoU, per-class IoU, pixel accuracy) on a dataset, GT mapped to its classes."""
    from worker.ml.checkpoints import load_model
    from worker.ml.config import DataConfig, EvaluateConfig, InferenceConfig
    from worker.ml.evaluate import evaluate_dataset

    try:
        tax = _load_taxonomies(source_taxonomy, mapping)
        if labels is None and list_file is None:
            raise _fail("evaluation needs ground truth: --labels TEMPLATE or --list FILE")
        pairs = _pairs(root, list_file, images, labels)
        teacher = load_model(
            model, trust_pickle=trust_pickle, device=_device(device), normalization=_normalization(mean, std)
        )
        _check_classes(teacher.class_names, tax.target)
        bar = _Bar("evaluate")
        try:
            result = evaluate_dataset(
                EvaluateConfig(
                    inference=InferenceConfig(device=_device(device), batch_size=batch_size, tta=tta)
                ),
                teacher,
                pairs,
                DataConfig(root=root, label_encoding=label_encoding, num_workers=workers),  # type: ignore[arg-type]
                priors=tax.priors,
                source=tax.source,
                mapping_hash=tax.mapping_hash,
                on_progress=bar,
            )
        finally:
            bar.close()
    except DomainError as exc:
        raise _fail(str(exc)) from exc
    m = result.metrics
    for c in m["per_class"]:
        iou = "  n/a" if c["iou"] is None else f"{100 * c['iou']:5.1f}"
        typer.echo(f"{c['id']:>4} {c['name']:<28} IoU {iou}")
    typer.echo(
        f"mIoU {100 * m['miou']:.2f} (present classes: {m['present_classes']}/{m['num_classes']}), "
        f"mIoU over all classes {100 * m['miou_all']:.2f}, pixel accuracy {100 * m['pixel_accuracy']:.2f}; "
        f"{result.evaluated} images evaluated, {result.failed} failed"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.to_json(), indent=2))


@model_app.command("info")
def model_info_command(
    model: Annotated[str, typer.Argument(help="model folder, HF id or .pth")], trust_pickle: TrustOpt = False
) -> None:
    """Print a model's source, checksum, classes, normalisation and size as JSON."""
    from worker.ml.checkpoints import load_model

    try:
        loaded = load_model(model, trust_pickle=trust_pickle)
    except DomainError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(loaded.describe(), indent=2))


@model_app.command("convert")
def model_convert_command(
    model: Annotated[str, typer.Argument(help="model folder, HF id or .pth")],
    out: Annotated[Path, typer.Argument(help="unilabel checkpoint folder to write")],
    trust_pickle: TrustOpt = False,
    mean: MeanOpt = None,
    std: StdOpt = None,
) -> None:
    """Convert any supported model into a unilabel checkpoint folder (safetensors + metadata)."""
    from worker.ml.checkpoints import load_model, save_checkpoint

    try:
        loaded = load_model(model, trust_pickle=trust_pickle, normalization=_normalization(mean, std))
        save_checkpoint(
            loaded.model,
            out,
            class_names=loaded.class_names,
            normalization=loaded.normalization,
            provenance={
                "converted_from": loaded.spec,
                "source": loaded.source,
                "source_checksum": loaded.checksum,
            },
        )
    except DomainError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"wrote {out} ({loaded.source} {loaded.spec}, {loaded.num_classes} classes)")


@model_app.command("init-tiny")
def model_init_tiny_command(
    out: Annotated[Path, typer.Argument(help="unilabel checkpoint folder to write")],
    mapping: Annotated[Path, typer.Option("--mapping", help="master_labels_<target>.csv giving the classes")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Create a tiny random Mask2Former (~1.4 M parameters) over a mapping's target classes (tests, demos)."""
    import torch

    from app.domain.reference_csv import parse_master_labels_csv, target_taxonomy_from_master
    from worker.ml.checkpoints import save_checkpoint
    from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config

    try:
        target = target_taxonomy_from_master(parse_master_labels_csv(mapping.read_text()), "target")
    except DomainError as exc:
        raise _fail(str(exc)) from exc
    torch.manual_seed(seed)
    model = build_mask2former(tiny_config(target.id2label()))
    save_checkpoint(
        model,
        out,
        class_names=target.names,
        normalization=IMAGENET_NORMALIZATION,
        provenance={"kind": "tiny-random", "seed": seed},
    )
    typer.echo(f"wrote tiny random model with {target.num_classes} classes to {out}")
