"""Image/label file reading and atomic writing (worker.ml layer)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from app.domain.label_codec import DecodedLabel, LabelEncoding, Palette, decode_label


class DataFileError(Exception):
    """A per-file data problem (unreadable, wrong size, ...): reported, never fatal for a run."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def read_image(path: Path, rel: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB, or :class:`DataFileError`."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataFileError(rel, f"unreadable image ({type(exc).__name__}: {exc})") from exc


def image_size(path: Path, rel: str) -> tuple[int, int]:
    """``(H, W)`` from the file header only (cheap), or :class:`DataFileError`."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            return h, w
    except Exception as exc:
        raise DataFileError(rel, f"unreadable image ({type(exc).__name__}: {exc})") from exc


def read_label(
    path: Path,
    rel: str,
    encoding: LabelEncoding,
    colors: dict[int, str] | None = None,
    palette: Palette | None = None,
) -> DecodedLabel:
    """Decode a label file, or :class:`DataFileError`.

    Single-channel 8- or 16-bit ids as stored; ``rgb`` labels with ``palette`` (the dataset's own)
    when given, else with ``colors`` (the taxonomy's).
    """
    try:
        with Image.open(path) as im:
            if encoding is LabelEncoding.RGB:
                array = np.asarray(im.convert("RGB"))
            elif im.mode in ("I;16", "I;16B", "I;16L", "I", "L", "P"):
                array = np.asarray(im)
            else:
                raise DataFileError(rel, f"label image mode {im.mode} is not single-channel ids")
    except DataFileError:
        raise
    except Exception as exc:
        raise DataFileError(rel, f"unreadable label ({type(exc).__name__}: {exc})") from exc
    try:
        return decode_label(array, encoding, colors=colors, palette=palette)
    except Exception as exc:
        raise DataFileError(rel, str(exc)) from exc


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of a ``(H, W)`` uint8 or uint16 array."""
    buf = io.BytesIO()
    if array.dtype == np.uint16:
        Image.fromarray(array.astype(np.uint16), mode=None).save(buf, format="PNG")
    else:
        Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to a temp file in the same folder, then ``os.replace`` it into place.

    A crashed process never leaves a partial file under ``path``; ``fsync`` also guards against
    power loss at the cost of throughput.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)
