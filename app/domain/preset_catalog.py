"""The presets of the paper's 21 datasets, by key. Pure domain layer.

The entries live in :mod:`app.domain.presets_road` and :mod:`app.domain.presets_offroad`; each is
documented, with the source of every layout fact, in ``docs/datasets.md``. ``labels_csv`` names the
file of the authors' reference lists (UniBwTAS/data-priors, ``<dataset>/lists/labels.csv``; not
shipped with unilabel) and ``taxonomy_name`` the name that ``unilabel taxonomy import
.../<dataset>/labels.csv`` gives it.
"""

from __future__ import annotations

from app.domain.dataset_presets import DatasetPreset
from app.domain.errors import InvalidInput
from app.domain.presets_offroad import OFFROAD_PRESETS
from app.domain.presets_road import ROAD_PRESETS

PRESETS: dict[str, DatasetPreset] = {
    p.key: p for p in sorted((*ROAD_PRESETS, *OFFROAD_PRESETS), key=lambda p: p.key)
}


def get_preset(key: str) -> DatasetPreset:
    """The preset named ``key`` (case-insensitive).

    Raises:
        InvalidInput: unknown preset (the message lists the known ones).
    """
    preset = PRESETS.get(key.strip().lower())
    if preset is None:
        raise InvalidInput(f"unknown preset {key!r}; known presets: {', '.join(PRESETS)}", field="preset")
    return preset
