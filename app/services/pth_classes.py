"""Read the class names of a paper ``.pth`` checkpoint without torch and without executing it.

The paper's checkpoints are ``torch.save`` zip archives whose ``data.pkl`` holds
``{"model_config": Mask2FormerConfig, "model_state_dict": {...}, ...}``. The web process may not
import torch, and must not unpickle arbitrary objects, so this reads the pickle with an
:class:`pickle.Unpickler` whose ``find_class`` knows only a short allow-list:

* the transformers config classes become plain attribute holders (their state is a dict);
* tensors are never materialised: storages are persistent ids, which load as None, and the tensor
  rebuild functions return None;
* ``collections.OrderedDict`` and torch dtypes are harmless.

Any other global ends the read, and the classes stay unknown (None). The worker's loader checks them
later (``worker.ml.checkpoints``), with ``weights_only`` and its own allow-list.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

_CONFIG_CLASSES = {
    ("transformers.models.mask2former.configuration_mask2former", "Mask2FormerConfig"),
    ("transformers.models.swin.configuration_swin", "SwinConfig"),
}
_TENSOR_REBUILDERS = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter"}
_TORCH_DTYPES = {"float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"}


class _Config:
    """Stands in for a transformers config: keeps its pickled attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _Harmless:
    """Stands in for a torch dtype or storage type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _none(*args: Any, **kwargs: Any) -> None:
    return None


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CONFIG_CLASSES:
            return _Config
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in _TENSOR_REBUILDERS:
            return _none
        if module == "torch" and (name.endswith("Storage") or name in _TORCH_DTYPES):
            return _Harmless
        raise pickle.UnpicklingError(f"{module}.{name} is not allow-listed")

    def persistent_load(self, pid: Any) -> None:
        return None


def pth_class_names(path: Path) -> tuple[str, ...] | None:
    """The ``model_config.id2label`` names of a paper checkpoint, in id order; None when the file is
    not a zip ``torch.save`` archive, needs globals outside the allow-list, or has no such config."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            if member is None:
                return None
            payload = _Reader(archive.open(member)).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return None
    config = payload.get("model_config") if isinstance(payload, dict) else None
    id2label = getattr(config, "id2label", None) if isinstance(config, _Config) else None
    if not isinstance(id2label, dict) or not id2label:
        return None
    try:
        return tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    except (TypeError, ValueError):
        return None
