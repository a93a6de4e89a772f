"""``unilabel model add-paper-start``: register the paper's start checkpoint from the local HF cache.

The paper trained every model from ``facebook/mask2former-swin-base-mapillary-vistas-semantic``
(``config.yaml`` ``pretrained``); the ``paper`` training preset starts from it when it is registered
(``app.services.training_defaults``). unilabel never downloads: the checkpoint must already be in
the local Hugging Face cache (``HF_HUB_CACHE``). Its classes (the checkpoint's ``id2label``) become
a class-list taxonomy, reused when an identical one exists. Needs no torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from app.domain.errors import DomainError
from app.domain.training_presets import PAPER_START_MODEL
from worker.cli_inputs import fail

DEFAULT_NAME = "paper-start-swin-b"
TAXONOMY_NAME = "mapillary-vistas (paper start model)"


def cached_snapshot(model_id: str, cache_dir: Path | None) -> Path:
    """The cached snapshot folder of ``model_id`` with its config and safetensors weights."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(str(snapshot_download(model_id, cache_dir=cache_dir, local_files_only=True)))
    except Exception as exc:  # LocalEntryNotFoundError, OfflineModeIsEnabled, ...
        raise fail(
            f"{model_id} is not in the local Hugging Face cache ({cache_dir or 'the default cache'}); "
            f"unilabel never downloads: on a connected machine run `hf download {model_id}` and copy "
            "the cache here (HF_HUB_CACHE), then run this again"
        ) from exc
    if not (folder / "config.json").is_file():
        raise fail(f"the cached {model_id} has no config.json ({folder})")
    if not any(folder.glob("*.safetensors")):
        raise fail(
            f"the cached {model_id} has no safetensors weights ({folder}); jobs never unpickle a "
            "downloaded .bin: fetch model.safetensors too"
        )
    return folder


def checkpoint_classes(config: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    """``(id, name)`` of the checkpoint's classes from its ``id2label`` (ids 0..N-1)."""
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        raise fail("the checkpoint's config.json has no id2label: its classes are unknown")
    try:
        classes = tuple(sorted((int(k), str(v)) for k, v in raw.items()))
    except ValueError as exc:
        raise fail(f"the checkpoint's id2label has a non-integer id: {exc}") from exc
    if [i for i, _ in classes] != list(range(len(classes))):
        raise fail("the checkpoint's id2label ids are not 0..N-1")
    return classes


def add_paper_start_command(
    name: Annotated[str, typer.Option("--name", help="name of the registered model")] = DEFAULT_NAME,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Hugging Face cache (default: HF_HUB_CACHE)")
    ] = None,
) -> None:
    """Register the paper's start checkpoint (Swin-B, Mapillary Vistas) from the local HF cache."""
    from app.config import SettingsError, load_settings
    from app.db.session import make_engine, make_sessionmaker, unit_of_work
    from app.schemas.models import ModelCreate
    from app.services import models as model_service
    from app.services import taxonomies as taxonomy_service
    from app.services.training_defaults import paper_start_model

    cache = cache_dir or (Path(os.environ["HF_HUB_CACHE"]) if os.environ.get("HF_HUB_CACHE") else None)
    folder = cached_snapshot(PAPER_START_MODEL, cache)
    classes = checkpoint_classes(json.loads((folder / "config.json").read_text()))
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from exc
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            existing = paper_start_model(session)
            if existing is not None:
                typer.echo(f"already registered: model {existing.id} ({existing.name}) = {PAPER_START_MODEL}")
                return
            taxonomy, created = taxonomy_service.find_or_create_class_list(
                session,
                classes=classes,
                name=TAXONOMY_NAME,
                description=f"The classes of {PAPER_START_MODEL} (its id2label)",
            )
            body = ModelCreate(
                name=name,
                source="hf_id",
                spec=PAPER_START_MODEL,
                taxonomy_id=taxonomy.id,
                description="The paper's start checkpoint (UniBwTAS/data-priors config.yaml `pretrained`)",
            )
            row = model_service.register_model(session, body=body, settings=settings)
            model_id, taxonomy_name = row.id, taxonomy.name
    except DomainError as exc:
        raise fail(str(exc)) from exc
    finally:
        engine.dispose()
    kind = "new" if created else "existing"
    typer.echo(
        f"registered model {model_id} ({name}) = {PAPER_START_MODEL}, {len(classes)} classes "
        f"({kind} taxonomy {taxonomy_name!r}); the paper preset now starts from it"
    )
