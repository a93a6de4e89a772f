"""ML commands of the ``unilabel`` CLI: pseudo-label, evaluate, model info/convert/init-tiny/trust (worker).

``register(app)`` is found through the ``unilabel.cli`` entry-point group. torch and transformers
are imported inside the commands only, so ``unilabel --help`` stays fast and torch-free.
``pseudo-label``/``evaluate`` take files or database ids; how each is told apart and resolved is in
:mod:`worker.cli_inputs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.domain.errors import DomainError
from worker.cli_inputs import (
    FileData,
    MeanOpt,
    RunRequest,
    StdOpt,
    TrustOpt,
    check_classes,
    fail,
    normalization_option,
    resolve_run,
)
from worker.cli_models import model_app
from worker.cli_waymo import unpack_waymo_command

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="registered model id (digits only), or a unilabel/HF folder, cached HF id or paper .pth",
    ),
]
DatasetOpt = Annotated[
    int | None,
    typer.Option(
        "--dataset",
        min=1,
        help="registered dataset id: supplies root, pairing, label encoding and source taxonomy "
        "(not with --root/--images/--labels/--list/--label-encoding/--source-taxonomy)",
    ),
]
SplitOpt = Annotated[str | None, typer.Option("--split", help="only the pairs of this split")]
RootOpt = Annotated[
    Path | None, typer.Option("--root", help="dataset root; paths below are relative to it (default: .)")
]
ImagesOpt = Annotated[
    str | None, typer.Option("--images", help="image pattern, e.g. 'images/{split}/{stem}.jpg'")
]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="label template, e.g. 'labels/{split}/{stem}_labelids.png'")
]
ListOpt = Annotated[Path | None, typer.Option("--list", help="list file of 'image label' lines")]
EncodingOpt = Annotated[
    str | None, typer.Option("--label-encoding", help="ids8 | ids16 | panoptic16 | rgb (default: ids8)")
]
SourceOpt = Annotated[Path | None, typer.Option("--source-taxonomy", help="source labels.csv")]
MappingOpt = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        help="registered mapping id (its newest approved version), ID@N (its version number N), "
        "or a master_labels_<target>.csv file",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")]
TtaOpt = Annotated[bool, typer.Option("--tta/--no-tta", help="flip + 6 scales, averaged")]
TtaWindowsOpt = Annotated[
    bool,
    typer.Option(
        "--tta-windows",
        help="run up-scaled TTA views as sliding windows of the image's size (less memory; differs "
        "from the paper). Default: whole views, each falling back to windows only on out-of-memory "
        "or over --tta-memory-budget-mb (recorded per image in the manifest)",
    ),
]
TtaBudgetOpt = Annotated[
    int | None,
    typer.Option(
        "--tta-memory-budget-mb",
        min=1,
        help="an up-scaled whole view whose estimated memory exceeds this runs as windows",
    ),
]
TtaWholeOpt = Annotated[
    bool,
    typer.Option("--tta-whole", hidden=True, help="deprecated, no effect: whole views are the default"),
]
BatchOpt = Annotated[
    int,
    typer.Option(
        "--batch-size", min=1, help="images of equal size per forward pass (at most 512 x 512 px worth)"
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, help="decode worker processes")]


def register(app: typer.Typer) -> None:
    """Add the ML commands to the main ``unilabel`` app."""
    app.command("pseudo-label")(pseudo_label_command)
    app.command("evaluate")(evaluate_command)
    app.add_typer(model_app, name="model")
    app.command("unpack-waymo")(unpack_waymo_command)


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _tta_windows(windows: bool, budget_mb: int | None, whole: bool) -> Any:
    """The ``Windows`` of the TTA options; ``--tta-whole`` (deprecated) only says it does nothing."""
    from worker.ml.tta import Windows

    if whole:
        typer.secho(
            "--tta-whole is deprecated and has no effect: up-scaled TTA views run whole by default "
            "(--tta-windows runs them as sliding windows)",
            fg=typer.colors.YELLOW,
            err=True,
        )
        if windows:
            raise fail("--tta-whole and --tta-windows contradict each other: pass --tta-windows only")
    return Windows(slide=windows, budget_bytes=budget_mb << 20 if budget_mb else None)


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
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    root: RootOpt = None,
    images: ImagesOpt = None,
    labels: LabelsOpt = None,
    list_file: ListOpt = None,
    label_encoding: EncodingOpt = None,
    source_taxonomy: SourceOpt = None,
    mapping: MappingOpt = None,
    no_priors: Annotated[
        bool, typer.Option("--no-priors", help="plain argmax, no ground truth used")
    ] = False,
    tta: TtaOpt = False,
    tta_windows: TtaWindowsOpt = False,
    tta_memory_budget_mb: TtaBudgetOpt = None,
    tta_whole: TtaWholeOpt = False,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = 8,
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
    """Pseudo-label a dataset with a teacher, constrained by the mapping's dataset priors.

    Model, dataset and mapping are files or database ids of registered rows: a value of digits only
    is an id (a file named 7 is ./7), looked up in the database of UNILABEL_DATABASE_URL.
    --mapping ID uses the mapping's newest approved version, --mapping ID@N its version number N.
    """
    from worker.ml.checkpoints import load_model
    from worker.ml.config import DataConfig, InferenceConfig, PseudoLabelConfig
    from worker.ml.pseudo_label import run_pseudo_labeling

    windows = _tta_windows(tta_windows, tta_memory_budget_mb, tta_whole)
    files = FileData(root, images, labels, list_file, label_encoding, source_taxonomy)
    try:
        run = resolve_run(
            RunRequest(
                model,
                files,
                dataset=dataset,
                split=split,
                mapping=None if no_priors else mapping,
                want_labels=not no_priors,
                trust_pickle=trust_pickle,
                normalization=normalization_option(mean, std),
            )
        )
        if not no_priors and run.priors is None:
            raise fail("priors need --mapping and a source taxonomy (or pass --no-priors)")
        teacher = load_model(
            run.model_spec,
            trust_pickle=run.trust_pickle,
            device=_device(device),
            normalization=run.normalization,
        )
        check_classes(teacher.class_names, run.target)
        config = PseudoLabelConfig(
            out_dir=out,
            inference=InferenceConfig(
                device=_device(device), batch_size=batch_size, tta=tta, windows=windows
            ),
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
                run.pairs,
                DataConfig(root=run.root, label_encoding=run.label_encoding, num_workers=workers),  # type: ignore[arg-type]
                priors=run.priors,
                source=run.source,
                mapping_hash=run.mapping_hash,
                on_progress=bar,
            )
        finally:
            bar.close()
    except DomainError as exc:
        raise fail(str(exc)) from exc
    typer.echo(
        f"written {summary.written}, skipped (existing) {summary.skipped_existing}, failed {summary.failed} "
        f"of {summary.total}; void {summary.void_fraction:.1%}, corrected {summary.correction_rate:.1%}; "
        f"views {', '.join(summary.views)}; {summary.seconds:.1f}s -> {out}"
    )
    for err in summary.errors[:10]:
        typer.secho(f"failed: {err['error']}", fg=typer.colors.YELLOW, err=True)
    for view, ways in sorted(summary.view_runs.items()):
        for how, count in sorted(ways.items()):
            if "(" in how:  # not what was asked: a fallback, or whole because windows were impossible
                typer.secho(f"TTA view {view}: {how} on {count} image(s)", fg=typer.colors.YELLOW, err=True)


def evaluate_command(
    model: ModelOpt,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    root: RootOpt = None,
    images: ImagesOpt = None,
    labels: LabelsOpt = None,
    list_file: ListOpt = None,
    label_encoding: EncodingOpt = None,
    source_taxonomy: SourceOpt = None,
    mapping: MappingOpt = None,
    tta: TtaOpt = False,
    tta_windows: TtaWindowsOpt = False,
    tta_memory_budget_mb: TtaBudgetOpt = None,
    tta_whole: TtaWholeOpt = False,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = 8,
    workers: WorkersOpt = 2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the metrics as JSON")] = None,
    trust_pickle: TrustOpt = False,
    mean: MeanOpt = None,
    std: StdOpt = None,
) -> None:
    """Evaluate a model (mIoU, per-class IoU, pixel accuracy) on a dataset, GT mapped to its classes.

    Model, dataset and mapping are files or database ids of registered rows: a value of digits only
    is an id (a file named 7 is ./7), looked up in the database of UNILABEL_DATABASE_URL.
    --mapping ID uses the mapping's newest approved version, --mapping ID@N its version number N.
    """
    from worker.ml.checkpoints import load_model
    from worker.ml.config import DataConfig, EvaluateConfig, InferenceConfig
    from worker.ml.evaluate import evaluate_dataset

    windows = _tta_windows(tta_windows, tta_memory_budget_mb, tta_whole)
    if dataset is None and labels is None and list_file is None:
        raise fail("evaluation needs ground truth: --dataset ID, --labels TEMPLATE or --list FILE")
    files = FileData(root, images, labels, list_file, label_encoding, source_taxonomy)
    try:
        run = resolve_run(
            RunRequest(
                model,
                files,
                dataset=dataset,
                split=split,
                mapping=mapping,
                trust_pickle=trust_pickle,
                normalization=normalization_option(mean, std),
            )
        )
        teacher = load_model(
            run.model_spec,
            trust_pickle=run.trust_pickle,
            device=_device(device),
            normalization=run.normalization,
        )
        check_classes(teacher.class_names, run.target)
        bar = _Bar("evaluate")
        try:
            result = evaluate_dataset(
                EvaluateConfig(
                    inference=InferenceConfig(
                        device=_device(device),
                        batch_size=batch_size,
                        tta=tta,
                        windows=windows,
                    )
                ),
                teacher,
                run.pairs,
                DataConfig(root=run.root, label_encoding=run.label_encoding, num_workers=workers),  # type: ignore[arg-type]
                priors=run.priors,
                source=run.source,
                mapping_hash=run.mapping_hash,
                on_progress=bar,
            )
        finally:
            bar.close()
    except DomainError as exc:
        raise fail(str(exc)) from exc
    _print_metrics(result.metrics, result.evaluated, result.failed)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.to_json(), indent=2))


def _print_metrics(m: dict[str, Any], evaluated: int, failed: int) -> None:
    for c in m["per_class"]:
        iou = "  n/a" if c["iou"] is None else f"{100 * c['iou']:5.1f}"
        typer.echo(f"{c['id']:>4} {c['name']:<28} IoU {iou}")
    typer.echo(
        f"mIoU {100 * m['miou']:.2f} (present classes: {m['present_classes']}/{m['num_classes']}), "
        f"mIoU over all classes {100 * m['miou_all']:.2f}, pixel accuracy {100 * m['pixel_accuracy']:.2f}; "
        f"{evaluated} images evaluated, {failed} failed"
    )
