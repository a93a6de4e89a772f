"""The paper preset's per-dataset and start-model defaults of a ``train`` submission (services layer).

Called by ``services.training.check_train`` once the sets are checked:

* ``apply_dataset_crops``: with the ``paper`` preset, a training set of TAS500 or Freiburg Forest
  gets the reference's own crop fraction (``PAPER_DATASET_CROP_FRACTIONS``); an explicit
  ``crop_fraction`` on the set wins. Each set's ``crop_fraction_source`` says which applied (it is
  filled here, never trusted from the input).
* ``apply_paper_start``: the paper started from ``PAPER_START_MODEL``. With the ``paper`` preset and
  no ``start_model_id``, a registered model of that Hugging Face id is chosen; when none is
  registered the job trains a fresh model, and ``start_model`` is listed among the recipe's
  overrides, so the departure is recorded and shown, never silent.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import repositories as taxonomy_repo
from app.db import repositories_registry as repo
from app.db.models_registry import Model
from app.domain.training_presets import PAPER_START_MODEL, dataset_crop_fraction
from app.schemas.jobs import TrainParams
from app.schemas.training import TrainSetRef

START_MODEL_OVERRIDE = "start_model"


def _names(session: Session, ref: TrainSetRef) -> tuple[str | None, ...]:
    """What identifies a set's dataset: its name, its taxonomy's name, its dataset preset's."""
    dataset_id = ref.dataset_id
    if ref.kind == "pseudo_labels":
        job = repo.get_job(session, int(ref.job_id or 0))
        dataset_id = job.dataset_id if job is not None else None
    dataset = repo.get_dataset(session, int(dataset_id)) if dataset_id is not None else None
    if dataset is None:
        return ()
    taxonomy = taxonomy_repo.get_taxonomy(session, dataset.taxonomy_id)
    return (dataset.name, taxonomy.name if taxonomy is not None else None, getattr(dataset, "preset", None))


def apply_dataset_crops(session: Session, params: TrainParams) -> None:
    """Fill each training set's crop fraction (and where it comes from) under the paper preset."""
    for ref in params.train_sets:
        if ref.crop_fraction is not None:
            ref.crop_fraction_source = "set explicitly"
            continue
        found = dataset_crop_fraction(params.recipe.preset, _names(session, ref))
        ref.crop_fraction, ref.crop_fraction_source = found if found else (None, None)


def paper_start_model(session: Session) -> Model | None:
    """The registered model of the paper's start checkpoint (its Hugging Face id), if any."""
    return session.scalars(
        select(Model).where(Model.source == "hf_id", Model.spec == PAPER_START_MODEL).order_by(Model.id)
    ).first()


def apply_paper_start(session: Session, params: TrainParams) -> None:
    """Choose the paper's start model under the paper preset, or record that it is not used."""
    if params.recipe.preset != "paper" or params.start_model_id is not None:
        return
    start = paper_start_model(session)
    if start is not None:
        params.start_model_id = start.id
    elif START_MODEL_OVERRIDE not in params.recipe.overrides:
        params.recipe.overrides.append(START_MODEL_OVERRIDE)
