"""``unilabel model ...`` (worker CLI layer): inspect, convert, create, trust and register teacher models.

torch and transformers are imported inside the commands only, so ``unilabel --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.domain.errors import DomainError
from worker.cli_inputs import MeanOpt, StdOpt, TrustOpt, fail, normalization_option
from worker.cli_paper_start import add_paper_start_command
from worker.cli_trust import model_trust_command

model_app = typer.Typer(help="Inspect, convert and create teacher models.", no_args_is_help=True)
model_app.command("trust")(model_trust_command)
model_app.command("add-paper-start")(add_paper_start_command)


@model_app.command("info")
def model_info_command(
    model: Annotated[str, typer.Argument(help="model folder, HF id or .pth")], trust_pickle: TrustOpt = False
) -> None:
    """Print a model's source, checksum, classes, normalisation and size as JSON."""
    from worker.ml.checkpoints import load_model

    try:
        loaded = load_model(model, trust_pickle=trust_pickle)
    except DomainError as exc:
        raise fail(str(exc)) from exc
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
        loaded = load_model(model, trust_pickle=trust_pickle, normalization=normalization_option(mean, std))
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
        raise fail(str(exc)) from exc
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
        raise fail(str(exc)) from exc
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
