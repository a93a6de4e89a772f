"""Load and save Mask2Former teachers from every supported source (worker.ml layer).

Sources, recognised by :func:`load_model` from one string:

* a unilabel checkpoint folder (``unilabel.json`` + ``config.json`` + ``model.safetensors``);
* a Hugging Face model folder (``config.json`` + weights, optional ``preprocessor_config.json``);
* a ``.pth``/``.pt`` file in the paper's format ``{"model_config": <pickled Mask2FormerConfig>,
  "model_state_dict": {...}}`` -- unpickled with ``weights_only=True`` and an allow-list of the
  transformers config classes; anything else is refused unless ``trust_pickle=True``;
* a Hugging Face model id that is already in the local cache (never downloaded).

Jobs load with ``safe_only=True``: safetensors weights only, never a pickle. A paper ``.pth`` reaches
a job only through :func:`convert_trusted_pth`, run once after an admin has trusted the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig
from transformers.utils import logging as hf_logging

from app.domain.errors import InvalidInput, NotFound
from app.domain.hashing import sha256_of_file, sha256_of_files
from worker.ml.modeling import IMAGENET_NORMALIZATION, PAPER_NORMALIZATION, Normalization

METADATA_FILE = "unilabel.json"
FORMAT_VERSION = 1
# Classes a paper checkpoint may pickle; nothing else is unpickled without trust_pickle.
SAFE_CONFIG_CLASSES: tuple[type, ...] = (Mask2FormerConfig, SwinConfig)


@contextmanager
def _quiet_hf() -> Iterator[None]:
    """No transformers progress bars while loading/saving (they would garble CLI and job output)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class UnsafeCheckpoint(InvalidInput):
    """A pickle checkpoint needs globals outside the allow-list (or pickles are not allowed at all)."""


class ChecksumMismatch(InvalidInput):
    """The file's bytes are not the ones that were trusted."""


@dataclass(slots=True)
class LoadedModel:
    """A teacher ready for inference plus what the outputs must record about it."""

    model: Mask2FormerForUniversalSegmentation
    class_names: tuple[str, ...]
    normalization: Normalization
    source: str  # "unilabel" | "hf-folder" | "hf-id" | "paper-pth"
    spec: str
    checksum: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for manifests and ``model info``."""
        return {
            "source": self.source,
            "spec": self.spec,
            "checksum": self.checksum,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "normalization": self.normalization.to_json(),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "provenance": self.provenance,
        }


def load_model(
    spec: str | Path,
    *,
    trust_pickle: bool = False,
    device: str | torch.device = "cpu",
    normalization: Normalization | None = None,
    safe_only: bool = False,
) -> LoadedModel:
    """Load a teacher from a folder, a paper ``.pth`` or a cached HF id, in eval mode on ``device``.

    Args:
        spec: path or HF model id.
        trust_pickle: allow arbitrary unpickling of ``.pth`` files (only for trusted files).
        device: where to put the model.
        normalization: override of the model's own pixel normalisation.
        safe_only: load safetensors weights only (jobs): a ``.pth`` or a folder with only
            ``pytorch_model.bin`` is refused, whatever ``trust_pickle`` says.

    Raises:
        NotFound: the path does not exist and the id is not in the local HF cache.
        UnsafeCheckpoint: the ``.pth`` needs non-allow-listed globals and ``trust_pickle`` is False.
        InvalidInput: the files are not a loadable Mask2Former checkpoint.
    """
    path = Path(spec).expanduser()
    if path.is_dir() and (path / METADATA_FILE).is_file():
        loaded = _load_unilabel_folder(path, safe_only=safe_only)
    elif path.is_dir():
        loaded = _load_hf_folder(path, source="hf-folder", spec=str(spec), safe_only=safe_only)
    elif path.is_file() and safe_only:
        raise UnsafeCheckpoint(
            f"{path} is a pickle; jobs load only safetensors weights (an admin trusts a .pth, "
            "then a worker converts it once)",
            field="model",
        )
    elif path.is_file():
        loaded = _load_paper_pth(path, trust_pickle=trust_pickle)
    elif _looks_like_hf_id(str(spec)):
        loaded = _load_hf_id(str(spec), safe_only=safe_only)
    else:
        raise NotFound(
            f"model {str(spec)!r} is neither an existing path nor a Hugging Face id", field="model"
        )
    if normalization is not None:
        loaded.normalization = normalization
    loaded.model.to(device).eval()  # type: ignore[arg-type]  # transformers types .to() as a decorator
    return loaded


def save_checkpoint(
    model: Mask2FormerForUniversalSegmentation,
    out_dir: str | Path,
    *,
    class_names: tuple[str, ...] | list[str],
    normalization: Normalization,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write a unilabel checkpoint folder atomically (built in a temp folder, then renamed).

    An existing folder at ``out_dir`` is replaced.
    """
    from worker.ml.provenance import package_version  # lazy: that module imports this one

    out = Path(out_dir)
    if len(class_names) != model.config.num_labels:
        raise InvalidInput(
            f"{len(class_names)} class names for a model with {model.config.num_labels} classes",
            field="class_names",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with _quiet_hf():
            model.save_pretrained(tmp, safe_serialization=True)
        meta = {
            "format": "unilabel-checkpoint",
            "format_version": FORMAT_VERSION,
            "class_names": list(class_names),
            "normalization": normalization.to_json(),
            "provenance": {
                "saved_at": datetime.now(UTC).isoformat(),
                "unilabel_version": package_version(),
                "transformers_version": transformers.__version__,
                "torch_version": torch.__version__,
                **dict(provenance or {}),
            },
        }
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _weight_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"} and p.is_file()]
    if not files:
        raise InvalidInput(f"no weight files (*.safetensors, *.bin) in {folder}", field="model")
    return files


def _class_names_from_config(config: Mask2FormerConfig) -> tuple[str, ...]:
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    return tuple(id2label.get(i, f"class_{i}") for i in range(config.num_labels or 0))


def _hf_normalization(folder: Path) -> Normalization:
    """Normalisation from ``preprocessor_config.json`` (0-1 scale), ImageNet's when absent."""
    pre = folder / "preprocessor_config.json"
    if not pre.is_file():
        return IMAGENET_NORMALIZATION
    data = json.loads(pre.read_text())
    mean, std = data.get("image_mean"), data.get("image_std")
    if mean is None or std is None:
        return IMAGENET_NORMALIZATION
    if data.get("do_rescale", True) is False or max(mean) > 1.0:
        return Normalization.from_json({"mean": mean, "std": std})
    return Normalization.from_unit_scale(mean, std)


def _from_pretrained(folder: Path, *, safe_only: bool = False) -> Mask2FormerForUniversalSegmentation:
    try:
        with _quiet_hf():
            # use_safetensors=True: transformers refuses a folder that has only pytorch_model.bin.
            return Mask2FormerForUniversalSegmentation.from_pretrained(
                folder, local_files_only=True, use_safetensors=True if safe_only else None
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{folder} is not a loadable Mask2Former folder: {exc}", field="model") from exc


def _load_hf_folder(folder: Path, *, source: str, spec: str, safe_only: bool = False) -> LoadedModel:
    model = _from_pretrained(folder, safe_only=safe_only)
    return LoadedModel(
        model=model,
        class_names=_class_names_from_config(model.config),
        normalization=_hf_normalization(folder),
        source=source,
        spec=spec,
        checksum=sha256_of_files(_weight_files(folder)),
        provenance={"path": str(folder)},
    )


def _load_unilabel_folder(folder: Path, *, safe_only: bool = False) -> LoadedModel:
    meta = json.loads((folder / METADATA_FILE).read_text())
    model = _from_pretrained(folder, safe_only=safe_only)
    class_names = tuple(str(n) for n in meta["class_names"])
    if len(class_names) != model.config.num_labels:
        raise InvalidInput(
            f"{folder / METADATA_FILE} lists {len(class_names)} classes, the model has "
            f"{model.config.num_labels}",
            field="model",
        )
    return LoadedModel(
        model=model,
        class_names=class_names,
        normalization=Normalization.from_json(meta["normalization"]),
        source="unilabel",
        spec=str(folder),
        checksum=sha256_of_files(_weight_files(folder)),
        provenance=dict(meta.get("provenance", {})),
    )


def _looks_like_hf_id(spec: str) -> bool:
    parts = spec.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not spec.startswith((".", "~"))


def _load_hf_id(model_id: str, *, safe_only: bool = False) -> LoadedModel:
    """Resolve a model id in the local HF cache only (``HF_HUB_CACHE`` read at call time)."""
    from huggingface_hub import snapshot_download

    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    try:
        folder = snapshot_download(model_id, cache_dir=cache_dir, local_files_only=True)
    except Exception as exc:  # LocalEntryNotFoundError, OfflineModeIsEnabled, bad id, ...
        raise NotFound(
            f"Hugging Face model {model_id!r} is not in the local cache and unilabel never downloads; "
            f"fetch it yourself (e.g. `hf download {model_id}`) or pass a folder",
            field="model",
        ) from exc
    return _load_hf_folder(Path(str(folder)), source="hf-id", spec=model_id, safe_only=safe_only)


def _torch_load_pth(path: Path, *, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals(list(SAFE_CONFIG_CLASSES)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if trust_pickle:  # the restricted unpickler first, even for a trusted file
            return torch.load(path, map_location="cpu", weights_only=False)
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:
            unsafe = []
        allowed = {f"{c.__module__}.{c.__qualname__}" for c in SAFE_CONFIG_CLASSES}
        extra = [g for g in unsafe if g not in allowed]
        raise UnsafeCheckpoint(
            f"{path} needs unpickling beyond the allowed transformers config classes"
            f"{' (' + ', '.join(extra[:5]) + ')' if extra else ''}: {str(exc).splitlines()[0][:200]}. "
            "Pass trust_pickle=True (CLI: --trust-pickle) only if you trust this file.",
            field="model",
            details={"unsafe_globals": extra},
        ) from exc


def _config_from_pickled(obj: Any) -> Mask2FormerConfig:
    """Rebuild a clean config (the pickle may come from an older transformers)."""
    if isinstance(obj, Mapping):
        return Mask2FormerConfig.from_dict(dict(obj))
    if isinstance(obj, Mask2FormerConfig):
        try:
            return Mask2FormerConfig.from_dict(obj.to_dict())
        except Exception:
            data = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
            backbone = data.get("backbone_config")
            if backbone is not None and not isinstance(backbone, Mapping):
                data["backbone_config"] = {k: v for k, v in vars(backbone).items() if k != "_commit_hash"}
            return Mask2FormerConfig.from_dict(data)
    raise InvalidInput(f"model_config is a {type(obj).__name__}, expected a Mask2FormerConfig", field="model")


def _load_paper_pth(path: Path, *, trust_pickle: bool, checksum: str | None = None) -> LoadedModel:
    """``checksum``: the file's sha256 when the caller already has it (else it is hashed here)."""
    payload = _torch_load_pth(path, trust_pickle=trust_pickle)
    if not isinstance(payload, Mapping) or not {"model_config", "model_state_dict"} <= set(payload):
        raise InvalidInput(
            f"{path} is not a paper checkpoint: expected a dict with model_config and model_state_dict",
            field="model",
        )
    config = _config_from_pickled(payload["model_config"])
    model = Mask2FormerForUniversalSegmentation(config)
    result = model.load_state_dict(payload["model_state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InvalidInput(
            f"{path}: weights do not match the config (missing {list(result.missing_keys)[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]})",
            field="model",
        )
    return LoadedModel(
        model=model,
        class_names=_class_names_from_config(config),
        normalization=PAPER_NORMALIZATION,
        source="paper-pth",
        spec=str(path),
        checksum=checksum or sha256_of_file(path),
        provenance={"path": str(path), "trusted_pickle": trust_pickle},
    )


def _copy_hashing(src: Path, dst: Path) -> str:
    digest = hashlib.sha256()
    with src.open("rb") as fin, dst.open("wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def convert_trusted_pth(path: Path, out_dir: Path, *, expected_sha256: str) -> LoadedModel:
    """Unpickle an admin-trusted paper ``.pth`` once and write it as a unilabel folder (safetensors).

    The file is copied while it is hashed and the copy is what gets unpickled, so the bytes that
    run are the bytes whose hash matched ``expected_sha256``.

    Raises:
        ChecksumMismatch: the file is not the one that was trusted (nothing is unpickled).
        InvalidInput: not a paper checkpoint, or weights that do not fit its config.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".trusted-", dir=out_dir.parent) as tmp:
        copy = Path(tmp) / path.name
        found = _copy_hashing(path, copy)
        if found != expected_sha256:
            raise ChecksumMismatch(
                f"{path} changed since it was trusted (sha256 {found[:12]}… != trusted "
                f"{expected_sha256[:12]}…)",
                field="model",
            )
        loaded = _load_paper_pth(copy, trust_pickle=True, checksum=found)  # hashed while copied
    save_checkpoint(
        loaded.model,
        out_dir,
        class_names=loaded.class_names,
        normalization=loaded.normalization,
        provenance={"converted_from": str(path), "source": "paper-pth", "source_sha256": found},
    )
    loaded.spec, loaded.provenance = str(out_dir), {"path": str(path), "trusted_pickle": True}
    return loaded
